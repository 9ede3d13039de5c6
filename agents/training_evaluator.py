"""Evaluator agent by real training: a short, seeded CPU training of the cell's network on a real dataset.

Same interface as :class:`agents.evaluator.LookupEvaluator`: ``evaluate(EvaluationRequest) -> EvaluationResult``.
Archs of the ``mcu`` space (``C16-N2-S1:|...|``) are trained at their own macro (``C``/``N`` here apply to
NB201 strings only). The search sees accuracy on a seeded validation split held out of the training
images; test accuracy is only reported. ``train_seconds`` is the measured wall time of the training (not simulated).

A request with ``rung`` set (a multi-fidelity job's rung) is trained for the request's ``epochs`` on a seeded
``data_fraction`` of the training split: the first ``round(fraction * n)`` images of one seeded permutation, so
a bigger fraction holds every image of a smaller one. Each rung trains from scratch; validation and test splits
stay whole. A request without ``rung`` trains exactly as before (the evaluator's ``epochs``, all the images).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from agents.messages import EvaluationRequest, EvaluationResult
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import parse_arch


class TrainingEvaluator:
    name = "training"

    def __init__(
        self,
        dataset: str | None = None,
        data_path: str | None = None,
        epochs: int = 2,
        C: int = 8,
        N: int = 1,
        batch_size: int = 128,
        lr: float = 0.05,
        train_limit: int | None = None,
        test_limit: int | None = None,
        val_fraction: float = 0.1,
        threads: int = 1,
        progress: bool = False,
    ) -> None:
        """``dataset`` fixes the real dataset (default: the request's); ``epochs`` overrides the request's
        (the lookup's 12/200 would be far too long for a search step)."""
        from automcu.train.config import TrainConfig

        TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr)  # validate early, one clear error
        self.dataset, self.data_path = dataset, data_path
        self.epochs, self.C, self.N = epochs, C, N
        self.batch_size, self.lr, self.threads = batch_size, lr, threads
        self.train_limit, self.test_limit, self.val_fraction = train_limit, test_limit, val_fraction
        self.progress = progress
        self._data: dict[str, Any] = {}
        self.source = f"training:{dataset or 'request'}:{epochs}ep"

    def _prepared(self, name: str, seed: int) -> dict[str, Any]:
        key = f"{name}:{seed}"
        if key not in self._data:
            from automcu.data import load_dataset

            ds = load_dataset(name, self.data_path, seed=0)
            if self.train_limit or self.test_limit:
                ds = ds.subset(self.train_limit, self.test_limit, seed=0)
            _, val = ds.split_validation(self.val_fraction, seed=seed)
            norm = val.normalization()
            self._data[key] = {"ds": ds, "x_train": norm.apply(val.x_train), "y_train": val.y_train,
                               "x_val": norm.apply(val.x_test), "y_val": val.y_test,
                               "x_test": norm.apply(ds.x_test), "y_test": ds.y_test}
        return self._data[key]

    @staticmethod
    def _fraction(x: Any, y: Any, fraction: float, seed: int) -> tuple[Any, Any]:
        """A seeded share of the training split (nested: one permutation per seed, cut at the fraction)."""
        if fraction >= 1.0:
            return x, y
        n = len(x)
        keep = np.sort(np.random.default_rng([seed, 0xA5A]).permutation(n)[:max(1, round(fraction * n))])
        return x[keep], y[keep]

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        import torch

        from automcu.hardware.estimator import Macro, nb201_counts
        from automcu.train.config import TrainConfig
        from automcu.train.loop import train_model
        from automcu.train.metrics import evaluate
        from search_spaces.nb201.torch_model import build_model

        d = self._prepared(self.dataset or request.dataset, request.seed)
        c, h, _ = d["ds"].input_shape
        classes = d["ds"].n_classes
        torch.manual_seed(request.seed)
        text: str
        if request.arch[:1] == "C":  # an mcu-space arch: its own macro (C, N, stem stride), dw-sep edges
            from automcu.hardware.mcu import mcu_counts
            from search_spaces.mcu.space import parse_mcu_arch
            from search_spaces.mcu.torch_model import build_mcu_model

            march = parse_mcu_arch(request.arch)
            model: torch.nn.Module = build_mcu_model(march, in_ch=c, classes=classes)
            text, index = march.to_string(), march.code
            params, macs = mcu_counts(march, c, h, classes)
        else:
            arch = parse_arch(request.arch)
            model = build_model(arch, C=self.C, N=self.N, in_ch=c, classes=classes)
            text, index = arch.to_string(), index_of(arch)
            params, macs = nb201_counts(arch, Macro(C=self.C, N=self.N, in_ch=c, hw=h, classes=classes))
        rung = request.rung is not None
        epochs = request.epochs if rung else self.epochs
        x_train, y_train = self._fraction(d["x_train"], d["y_train"], request.data_fraction if rung else 1.0,
                                          request.seed)
        cfg = TrainConfig(epochs=epochs, batch_size=self.batch_size, lr=self.lr, seed=request.seed,
                          shift=2 if h >= 16 else 0, threads=self.threads)
        t0 = time.perf_counter()
        label = f"eval {index}" + (f" rung {request.rung}" if rung else "")
        train_model(model, x_train, y_train, cfg, label=label, progress=self.progress)
        seconds = time.perf_counter() - t0
        return EvaluationResult(
            arch=text, index=index, val_acc=evaluate(model, d["x_val"], d["y_val"]),
            test_acc=evaluate(model, d["x_test"], d["y_test"]), train_seconds=seconds, params=params / 1e6,
            flops=macs / 1e6, source=self.source if not rung else f"training:{d['ds'].name}:{epochs}ep",
            **({"rung": request.rung, "epochs": epochs, "train_images": len(x_train)} if rung else {}),
        )

"""The training loop: seeded mini-batch SGD on CPU with a rich progress bar (epoch, loss, accuracy, ETA)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from automcu.train.augment import random_hflip, random_shift
from automcu.train.config import TrainConfig
from automcu.train.distill import Distiller
from automcu.train.metrics import evaluate


@dataclass
class EpochStats:
    epoch: int
    loss: float
    train_acc: float
    test_acc: float | None
    seconds: float
    val_acc: float | None = None  # on the validation arrays, when given


@dataclass
class TrainResult:
    history: list[EpochStats] = field(default_factory=list)
    seconds: float = 0.0
    best_epoch: int | None = None  # the epoch whose weights the model holds at the end (validation given)

    @property
    def final_test_acc(self) -> float | None:
        return self.history[-1].test_acc if self.history else None

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 2),
                "history": [{"epoch": h.epoch, "loss": round(h.loss, 4), "train_acc": round(h.train_acc, 2),
                             "test_acc": None if h.test_acc is None else round(h.test_acc, 2),
                             "val_acc": None if h.val_acc is None else round(h.val_acc, 2),
                             "seconds": round(h.seconds, 2)} for h in self.history],
                "best_epoch": self.best_epoch}


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    return torch.Generator().manual_seed(seed)


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    warm = max(1, int(total * cfg.warmup_fraction))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _freeze_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def _progress(label: str, enabled: bool) -> Any:
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn(f"[bold]{label}[/] {{task.fields[epoch]}}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]} · acc {task.fields[acc]}"), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True), transient=False)


def _optimizer(model: nn.Module, distiller: Distiller | None, cfg: TrainConfig) -> torch.optim.SGD:
    """Nesterov SGD over the model's (and the distiller's projection's) trainable parameters, with weight
    decay on weights only (not on biases and BatchNorm)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if distiller is not None:  # its projections (the frozen teachers have no trainable parameters)
        params += [p for p in distiller.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)


@dataclass
class _Run:
    """One training run: what its epochs share, and the optimizer steps taken so far."""

    model: nn.Module
    cfg: TrainConfig
    opt: torch.optim.Optimizer
    distiller: Distiller | None
    gen: torch.Generator
    x: torch.Tensor
    y: torch.Tensor
    total: int  # optimizer steps in the whole run (for the lr schedule)
    step: int = 0

    def sgd_step(self, xb: torch.Tensor, yb: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch at the scheduled lr; returns (loss, logits)."""
        for group in self.opt.param_groups:
            group["lr"] = _lr_at(self.step, self.total, self.cfg)
        if self.distiller is not None:
            self.distiller.progress = self.step / max(1, self.total - 1)  # the label-mix schedule's clock
            loss, logits = self.distiller.loss(self.model, xb, yb)
        else:
            logits = self.model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=self.cfg.label_smoothing)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged at epoch {epoch} (loss {loss.item()}); lower the lr")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        return loss, logits

    def epoch(self, epoch: int, bar: Any, task: Any) -> tuple[float, float]:
        """One pass over the shuffled, augmented training set; returns (mean loss, training accuracy %)."""
        cfg = self.cfg
        self.model.train()
        if self.distiller is not None:
            self.distiller.train()
        if cfg.freeze_bn:
            _freeze_bn(self.model)
        n = len(self.x)
        perm = torch.randperm(n, generator=self.gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for start in range(0, n, cfg.batch_size):
            idx = perm[start:start + cfg.batch_size]
            xb, yb = self.x[idx], self.y[idx]
            xb = random_shift(xb, cfg.shift, self.gen)
            if cfg.hflip:
                xb = random_hflip(xb, self.gen)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            loss, logits = self.sgd_step(xb, yb, epoch)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(1) == yb).sum())
            seen += len(idx)
            if bar is not None:
                bar.update(task, advance=1, loss=f"{loss_sum / seen:.3f}", acc=f"{100.0 * correct / seen:.1f}%")
        return loss_sum / seen, 100.0 * correct / seen


def _set_layout(modules: tuple[nn.Module | None, ...], channels_last: bool) -> None:
    """Put the 4-D parameters and buffers of ``modules`` in NHWC (``channels_last``) or back in NCHW."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for m in modules:
        if m is not None:
            m.to(memory_format=fmt)


def train_model(
    model: nn.Module,
    x_train: np.ndarray,
    y_train: np.ndarray,
    cfg: TrainConfig,
    *,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    distiller: Distiller | None = None,
    label: str = "train",
    progress: bool = True,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place on normalized NCHW float arrays; evaluates on the test arrays after each epoch.

    With validation arrays, the model ends with the weights of the epoch that scored best on them (the first of
    equals; ``result.best_epoch``), not necessarily the last epoch's: the test arrays never choose."""
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise ValueError(f"need matching, non-empty training arrays (got {len(x_train)} images, {len(y_train)} labels)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    gen = seed_everything(cfg.seed)
    x_all = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    y_all = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    opt = _optimizer(model, distiller, cfg)
    steps_per_epoch = max(1, math.ceil(len(x_all) / cfg.batch_size))
    total = cfg.epochs * steps_per_epoch
    run = _Run(model=model, cfg=cfg, opt=opt, distiller=distiller, gen=gen, x=x_all, y=y_all, total=total)
    result = TrainResult()
    t_start = time.perf_counter()
    if cfg.channels_last:
        _set_layout((model, distiller), True)
    try:
        _epochs(run, result, label=label, progress=progress, x_test=x_test, y_test=y_test, x_val=x_val,
                y_val=y_val, on_epoch=on_epoch)
    finally:
        if cfg.channels_last:  # callers (export, state_dict, checkpoints) get the default layout back
            _set_layout((model, distiller), False)
    model.eval()
    result.seconds = time.perf_counter() - t_start
    return result


def _epochs(run: _Run, result: TrainResult, *, label: str, progress: bool, x_test: np.ndarray | None,
            y_test: np.ndarray | None, x_val: np.ndarray | None, y_val: np.ndarray | None,
            on_epoch: Callable[[EpochStats], None] | None) -> None:
    """The epochs of ``run`` with evaluation after each; leaves the best validation epoch's weights."""
    model, cfg, total = run.model, run.cfg, run.total
    validate = x_val is not None and y_val is not None and len(x_val) > 0
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    with _progress(label, progress) as bar:
        task = bar.add_task(label, total=total, epoch=f"1/{cfg.epochs}", loss="-", acc="-") if bar else None
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            loss, train_acc = run.epoch(epoch, bar, task)
            test_acc = evaluate(model, x_test, y_test) if x_test is not None and y_test is not None else None
            val_acc = evaluate(model, x_val, y_val) if validate else None
            if val_acc is not None and (best is None or val_acc > best[0]):
                best = (val_acc, copy.deepcopy(model.state_dict()))
                result.best_epoch = epoch
            stats = EpochStats(epoch, loss, train_acc, test_acc, time.perf_counter() - t0, val_acc)
            result.history.append(stats)
            if bar is not None:
                shown = f"{stats.train_acc:.1f}%" + (f" (test {test_acc:.1f}%)" if test_acc is not None else "")
                bar.update(task, epoch=f"{min(epoch + 1, cfg.epochs)}/{cfg.epochs}", acc=shown)
            if on_epoch is not None:
                on_epoch(stats)
    if best is not None and result.best_epoch != cfg.epochs:
        model.load_state_dict(best[1])

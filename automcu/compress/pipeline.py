"""build → train (optionally KD) → int8 PTQ (calibrated on training images) → QAT → ONNX + int8 ``.tflite``
→ accuracy and memory measured in TFLite Micro → firmware bundle + report.

Needs the ``train`` and ``tflite`` extras; torch is imported here, never by the CLI's import path.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from automcu.compress.bundle import io_spec, reference_pairs, write_bundle, write_json
from automcu.compress.report import report_markdown
from automcu.compress.request import CompressRequest
from automcu.compress.tflm_eval import tflm_accuracy
from automcu.data import ImageDataset, load_dataset


@dataclass
class Prepared:
    """The dataset, normalized, as the network sees it."""

    data: ImageDataset
    x_train: np.ndarray
    x_test: np.ndarray
    norm: Any
    x_val: np.ndarray | None = None  # with --soup: held out of the training images, for the greedy soup
    y_val: np.ndarray | None = None


@dataclass
class Timer:
    seconds: dict[str, float] = field(default_factory=dict)
    _t: float = field(default_factory=time.perf_counter)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + now - self._t, 2)
        self._t = now


def prepare_data(req: CompressRequest) -> Prepared:
    data = load_dataset(req.dataset, req.data_path, image_size=req.image_size, channels=req.channels, seed=req.seed)
    if req.train_limit or req.test_limit:
        data = data.subset(req.train_limit, req.test_limit, seed=req.seed)
    x_val = y_val = None
    if req.soup or req.best_checkpoint:
        data, x_val, y_val = _hold_out(data, req.val_fraction, req.seed)
    norm = data.normalization()
    return Prepared(data, norm.apply(data.x_train), norm.apply(data.x_test), norm,
                    None if x_val is None else norm.apply(x_val), y_val)


def _hold_out(data: ImageDataset, fraction: float, seed: int) -> tuple[ImageDataset, np.ndarray, np.ndarray]:
    """(the dataset without a seeded ``fraction`` of its training images, those images, their labels)."""
    import dataclasses

    rng = np.random.default_rng(seed + 3)
    n = len(data.x_train)
    n_val = max(1, round(n * fraction))
    if n - n_val < 1:
        raise ValueError(f"--soup: {n} training images are too few to hold out a validation split")
    perm = rng.permutation(n)
    val, keep = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    kept = dataclasses.replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep])
    return kept, data.x_train[val], data.y_train[val]


def calibration_set(x_train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` seeded training images (normalized NCHW): the representative set for int8 ranges."""
    rng = np.random.default_rng(seed + 1)
    idx = rng.choice(len(x_train), size=min(n, len(x_train)), replace=False)
    return x_train[np.sort(idx)]


def _macro(req: CompressRequest, data: ImageDataset) -> Any:
    from automcu.hardware.estimator import Macro

    c, h, w = data.input_shape
    if h != w:
        raise ValueError(f"{data.name}: NB201 nets take square images, got {h}×{w}")
    return Macro(C=req.C, N=req.N, in_ch=c, hw=h, classes=data.n_classes)


def _train_cfg(req: CompressRequest, data: ImageDataset, seed: int, epochs: int | None = None, **kw: Any) -> Any:
    from automcu.train.config import TrainConfig

    hw = data.input_shape[1]
    shift = 2 if hw >= 16 else 0
    hflip = data.name.startswith(("cifar", "fashion"))
    kw.setdefault("label_smoothing", req.label_smoothing)
    return TrainConfig(epochs=epochs or req.epochs, batch_size=req.batch_size, lr=req.lr, seed=seed, shift=shift,
                       hflip=hflip, threads=req.threads, **kw)


def _teachers(req: CompressRequest, prep: Prepared, macro: Any, timer: Timer) -> tuple[list[Any], list[dict]]:
    """Every ``--teacher``: a checkpoint loaded, or an arch trained first (seed ``seed + k`` for the k-th)."""
    from automcu.compress.teacher import is_checkpoint, load_teacher_checkpoint, train_teacher
    from automcu.train.metrics import evaluate

    models, metas = [], []
    for k, spec in enumerate(req.teachers):
        if is_checkpoint(spec):
            model, meta = load_teacher_checkpoint(spec, macro.in_ch, macro.hw, macro.classes)
            meta["test_acc"] = evaluate(model, prep.x_test, prep.data.y_test)
        else:
            model, meta = train_teacher(spec, req.teacher_C or 2 * req.C, req.teacher_N or req.N, macro.in_ch,
                                        macro.classes, prep.x_train, prep.data.y_train,
                                        _train_cfg(req, prep.data, req.seed + k), prep.x_test, prep.data.y_test,
                                        req.progress, label=f"teacher {k + 1}/{len(req.teachers)}")
        models.append(model)
        metas.append(meta)
    timer.lap("teacher")
    return models, metas


def make_distiller(req: CompressRequest, student: Any, teachers: list[Any], input_shape: tuple[int, int, int]) -> Any:
    """The :class:`~automcu.train.distill.Distiller` of the request's KD options (None without a teacher)."""
    if not teachers:
        return None
    from automcu.train.config import KDConfig
    from automcu.train.distill import Distiller, feature_width, tap_channels
    from automcu.train.label_mix import parse_label_mix

    kd = KDConfig(temperature=req.kd_temperature, alpha=req.kd_alpha, beta=req.kd_beta)
    channels = (tap_channels(student, input_shape), tap_channels(teachers[0], input_shape)) if req.feature_kd \
        else None
    mix = parse_label_mix(req.label_mix) if req.label_mix is not None else None
    return Distiller(teachers, kd, feature_width(student), feature_width(teachers[0]),
                     weighting=req.teacher_weighting, label_mix=mix, feature_channels=channels,
                     feature_weight=req.feature_kd_weight)


def fit(req: CompressRequest, prep: Prepared, model: Any, label: str, distiller: Any = None) -> int | None:
    """Train ``model`` in place by the request's recipe; with ``--best-checkpoint`` it ends with the weights of
    the epoch that scored best on the held-out validation split (returned; None without it)."""
    from automcu.train.loop import train_model

    val = {"x_val": prep.x_val, "y_val": prep.y_val} if req.best_checkpoint else {}
    result = train_model(model, prep.x_train, prep.data.y_train, _train_cfg(req, prep.data, req.seed),
                         x_test=prep.x_test, y_test=prep.data.y_test, distiller=distiller, label=label,
                         progress=req.progress, **val)
    model.eval()
    return result.best_epoch


def best_checkpoint_info(req: CompressRequest, prep: Prepared, epoch: int | None) -> dict[str, Any] | None:
    if not req.best_checkpoint or prep.x_val is None:
        return None
    return {"epoch": epoch, "epochs": req.epochs, "n_val": len(prep.x_val), "chosen_on": "validation split"}


def _train_student(req: CompressRequest, prep: Prepared, arch: str, macro: Any, teachers: list[Any],
                   label: str) -> tuple[Any, int | None]:
    import torch

    from automcu.compress.networks import build_network

    torch.manual_seed(req.seed)  # the initial weights are part of the seeded run
    model = build_network(arch, macro.C, macro.N, macro.in_ch, macro.classes)
    distiller = make_distiller(req, model, teachers, prep.data.input_shape)
    return model, fit(req, prep, model, label, distiller)


def qat_fit(req: CompressRequest, prep: Prepared, model: Any, distiller: Any, seed: int, label: str) -> None:
    """QAT's fine-tuning of a fake-quantized ``model`` in place: ``--qat-epochs`` at a tenth of the lr, no warm-up
    (the distillation loss when ``distiller`` is given)."""
    from automcu.train.loop import train_model

    cfg = _train_cfg(req, prep.data, seed, epochs=req.effective_qat_epochs)
    cfg = type(cfg)(**{**cfg.to_dict(), "lr": req.lr * 0.1, "warmup_fraction": 0.0})
    train_model(model, prep.x_train, prep.data.y_train, cfg, distiller=distiller, label=label, progress=req.progress)


def _qat(req: CompressRequest, prep: Prepared, float_model: Any,
         teachers: list[Any] | None = None) -> tuple[Any, float]:
    """QAT fine-tune of a copy at a tenth of the lr; returns (weights snapped to the int8 grid, fake-quant acc).
    With teachers, the loss is the distillation loss (quantization-aware distillation).

    BatchNorm keeps training (batch statistics): freezing it from the first QAT step made the
    fake-quantized network diverge within a few steps on Fashion-MNIST.
    """
    from automcu.train.metrics import evaluate
    from automcu.train.qat import finish_qat, prepare_qat

    model = copy.deepcopy(float_model)
    distiller = make_distiller(req, model, teachers or [], prep.data.input_shape)
    handle = prepare_qat(model)
    qat_fit(req, prep, model, distiller, req.seed + 7, "QAT (distilled)" if distiller is not None else "QAT")
    fq_acc = evaluate(model, prep.x_test, prep.data.y_test)
    return finish_qat(handle).eval(), fq_acc


def _progress(req: CompressRequest) -> Any:
    from contextlib import nullcontext

    if not req.progress:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True))


def _measure_int8(req: CompressRequest, prep: Prepared, model: Any, calib: np.ndarray, label: str) -> tuple[Any, float]:
    from automcu.deploy.exporter import export_int8

    ex = export_int8(model, prep.data.input_shape, calibration=[calib])
    with _progress(req) as bar:
        acc = tflm_accuracy(ex.tflite, prep.x_test, prep.data.y_test, bar, label=f"TFLM accuracy ({label})")
    return ex, acc


@dataclass
class Trained:
    """The float network to deploy, its test accuracy and, with a teacher, the KD figures."""

    model: Any
    float_acc: float
    kd: dict[str, Any] | None
    teachers: list[Any] = field(default_factory=list)
    soup: dict[str, Any] | None = None
    best_epoch: int | None = None  # --best-checkpoint: the epoch whose weights were kept


def _train(req: CompressRequest, prep: Prepared, arch: str, macro: Any, timer: Timer) -> Trained:
    """Train the student (distilled from the teachers when given; then, if asked, once more without
    KD to measure what KD gained); with ``--soup N``, N fine-tuned runs of it merged by a greedy soup."""
    from automcu.train.metrics import evaluate

    teachers: list[Any] = []
    metas: list[dict[str, Any]] = []
    if req.teachers:
        teachers, metas = _teachers(req, prep, macro, timer)
    student, best_epoch = _train_student(req, prep, arch, macro, teachers, "student (KD)" if teachers else "train")
    float_acc = evaluate(student, prep.x_test, prep.data.y_test)
    timer.lap("train")
    kd_info: dict[str, Any] | None = None
    if teachers:
        kd_info = {"teacher": metas[0], "teachers": metas, "weighting": req.teacher_weighting,
                   "label_mix": req.label_mix, "feature_kd": req.feature_kd,
                   "feature_kd_weight": req.feature_kd_weight if req.feature_kd else None,
                   "temperature": req.kd_temperature, "alpha": req.kd_alpha,
                   "beta": req.kd_beta, "student_kd_acc": float_acc, "student_no_kd_acc": None, "kd_gain": None}
        if req.compare_no_kd:
            plain, _ = _train_student(req, prep, arch, macro, [], "student (no KD)")
            kd_info["student_no_kd_acc"] = evaluate(plain, prep.x_test, prep.data.y_test)
            kd_info["kd_gain"] = float_acc - kd_info["student_no_kd_acc"]
            timer.lap("train_no_kd")
    trained = Trained(student, float_acc, kd_info, teachers, best_epoch=best_epoch)
    if req.soup:
        trained = run_soup(req, prep, trained, timer)
    return trained


#: ``--soup N``: each ingredient is a copy of the trained float network fine-tuned for ``soup_epochs`` with its
#: own seed and lr (cycling these factors of a fifth of ``--lr``), with the main run's loss (the distillation loss
#: when teachers are given); the greedy soup chooses on the ``val_fraction`` of the training images that
#: :func:`prepare_data` held out of every training run of the request (never on the test set).
LR_FACTORS = (0.5, 1.0, 2.0)


def run_soup(req: CompressRequest, prep: Prepared, trained: Trained, timer: Timer) -> Trained:
    from automcu.train.loop import train_model
    from automcu.train.metrics import evaluate
    from automcu.train.soup import greedy_soup

    if prep.x_val is None or prep.y_val is None:
        raise ValueError("--soup needs the validation split prepare_data holds out")
    t0 = time.perf_counter()
    ingredients: list[Any] = []
    for i in range(req.soup):
        model = copy.deepcopy(trained.model)
        distiller = make_distiller(req, model, trained.teachers, prep.data.input_shape)
        cfg = _train_cfg(req, prep.data, req.seed + 100 + i, epochs=req.effective_soup_epochs)
        cfg = type(cfg)(**{**cfg.to_dict(), "lr": req.lr * 0.2 * LR_FACTORS[i % len(LR_FACTORS)]})
        train_model(model, prep.x_train, prep.data.y_train, cfg, distiller=distiller,
                    label=f"soup ingredient {i + 1}/{req.soup}", progress=req.progress)
        ingredients.append(model.eval())
    res = greedy_soup(ingredients, prep.x_val, prep.y_val)
    test = [evaluate(m, prep.x_test, prep.data.y_test) for m in ingredients]
    soup_acc = evaluate(res.model, prep.x_test, prep.data.y_test)
    timer.lap("soup")
    info = {"n": req.soup, "epochs": req.effective_soup_epochs, "n_val": len(prep.x_val),
            "base_acc": trained.float_acc, "soup_acc": soup_acc, "gain_pp": soup_acc - trained.float_acc,
            "best_ingredient_test_acc": max(test), "ingredient_test_acc": test,
            "seconds": round(time.perf_counter() - t0, 2), **res.to_dict()}
    return Trained(res.model, soup_acc, trained.kd, trained.teachers, info, trained.best_epoch)


@dataclass
class Quantized:
    """The int8 network to deploy: the PTQ one, or the QAT one when QAT was asked for."""

    export: Any  # the deployed network's int8 export (``.tflite``, input/output quantization)
    model: Any  # the torch network it was exported from
    int8_acc: float  # its accuracy in TFLite Micro
    ptq_acc: float
    n_calibration: int
    qat: dict[str, Any] | None
    precision: dict[str, Any] | None = None  # --precision mixed: the per-layer choice and its frontier
    deployed: str | None = None  # set when not the plain "qat"/"ptq" (e.g. "mixed")
    latency_ms: float | None = None  # the deployed precision's estimate when it is not uniform int8


def _quantize(req: CompressRequest, prep: Prepared, trained: Trained, timer: Timer, graph: Any = None) -> Quantized:
    """int8 PTQ calibrated on training images, then (if asked) QAT; each measured in TFLite Micro. With
    ``--precision mixed``, the per-layer choice on top (``graph``: the estimator's op graph of the network,
    for the estimate of the chosen precision; None leaves it out)."""
    calib = calibration_set(prep.x_train, req.n_calibration, req.seed)
    ptq_export, ptq_acc = _measure_int8(req, prep, trained.model, calib, "PTQ")
    timer.lap("ptq")
    q = Quantized(export=ptq_export, model=trained.model, int8_acc=ptq_acc, ptq_acc=ptq_acc,
                  n_calibration=len(calib), qat=None)
    if req.qat:
        qat_model, fq_acc = _qat(req, prep, trained.model, trained.teachers)
        qat_export, qat_acc = _measure_int8(req, prep, qat_model, calib, "QAT")
        q.qat = {"int8_acc": qat_acc, "drop_pp": trained.float_acc - qat_acc, "fake_quant_torch_acc": fq_acc,
                 "epochs": req.effective_qat_epochs, "distilled": bool(trained.teachers),
                 "gain_over_ptq_pp": qat_acc - ptq_acc}
        q.export, q.model, q.int8_acc = qat_export, qat_model, qat_acc
        timer.lap("qat")
    if req.precision == "mixed":
        _mixed(req, prep, q, calib, graph, trained.teachers)
        timer.lap("precision")
    return q


def sensitivity_set(req: CompressRequest, prep: Prepared) -> tuple[np.ndarray, np.ndarray, str]:
    """Images for ``--precision mixed``'s per-layer sensitivity: the held-out validation split when the run has
    one, else ``n_sensitivity`` seeded training images (never the test set)."""
    if prep.x_val is not None and prep.y_val is not None:
        return prep.x_val[:req.n_sensitivity], prep.y_val[:req.n_sensitivity], "validation split"
    rng = np.random.default_rng(req.seed + 5)
    n = min(req.n_sensitivity, len(prep.x_train))
    idx = np.sort(rng.choice(len(prep.x_train), size=n, replace=False))
    return prep.x_train[idx], prep.data.y_train[idx], "training images"


def sensitivity_resolution(gap: tuple[float, float, float] | None, n: int,
                           tolerance_pp: float) -> dict[str, Any] | None:
    """When the paired interval of the deployed point's gap to int8 is wider than the tolerance (the images cannot
    tell a loss of ``tolerance_pp`` from noise): its half-width and about how many sensitivity images would bring
    it down to the tolerance (the width shrinks as 1/sqrt(n)). None when the tolerance is resolved."""
    if gap is None:
        return None
    half = (gap[2] - gap[1]) / 2.0
    if half <= tolerance_pp:
        return None
    return {"half_width_pp": round(half, 3), "undetectable_loss_pp": round(tolerance_pp + half, 3),
            "images_for_tolerance": None if tolerance_pp <= 0 else int(np.ceil(n * (half / tolerance_pp) ** 2))}


def _sens_logits(model: Any, x_sens: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x_sens, dtype=np.float32))).numpy()


def _refine_w4(req: CompressRequest, prep: Prepared, q: Quantized, first: Any, nhwc: list[np.ndarray],
               x_sens: np.ndarray, y_sens: np.ndarray, teachers: list[Any]) -> tuple[Any, dict[str, Any]]:
    """``--precision mixed --qat``: fine-tune with every 4-bit-capable layer at 4 bits, choose again
    (:mod:`automcu.compress.mixed_qat`); (the choice to deploy, what the fine-tune did)."""
    from automcu.compress.mixed import choose_mixed, paired_gap, refine_replaces, rounded_gap
    from automcu.compress.mixed_qat import executed_weight_modules, finetune_w4, match_layers
    from automcu.deploy.exporter import export_float_tflite
    from automcu.deploy.mixed_export import weight_arrays, weight_layers

    t0 = time.perf_counter()
    layers = weight_layers(q.export.float_tflite)
    w4 = [layer.position for layer in layers if "w4" in layer.modes and layer.position not in first.w4_left_out]
    info: dict[str, Any] = {"used": False, "epochs": req.effective_qat_epochs, "layers_trained_4bit": len(w4),
                            "layers_left_8bit": len(first.w4_left_out)}
    if not w4:
        why = ("no layer's 4-bit weights fit the board's SRAM (their unpack scratch)" if first.w4_left_out
               else "no layer of this network can take 4-bit weights")
        return first, {**info, "why": why}
    try:
        modules = match_layers(executed_weight_modules(q.model, prep.data.input_shape), layers,
                               weight_arrays(q.export.float_tflite, layers))
    except ValueError as exc:
        return first, {**info, "why": f"torch layers not matched to the .tflite's: {exc}"}

    def train(model: Any) -> None:
        distiller = make_distiller(req, model, teachers, prep.data.input_shape)
        qat_fit(req, prep, model, distiller, req.seed + 11, "QAT (4-bit layers)")

    tuned = finetune_w4(q.model, [modules[p] for p in w4], train)
    again = choose_mixed(export_float_tflite(tuned, prep.data.input_shape), nhwc, x_sens, y_sens,
                         _sens_logits(tuned, x_sens), req.hardware, tolerance_pp=req.mixed_tolerance)
    used, why = refine_replaces(first, again, req.mixed_tolerance)
    info.update(used=used, why=why, seconds=round(time.perf_counter() - t0, 2),
                first_choice={"flash_bytes": first.chosen.flash_bytes, "sens_acc": first.chosen.sens_acc,
                              "n_w4": sum(m == "w4" for m in first.chosen.modes.values()), "fits": first.fits},
                after={"flash_bytes": again.chosen.flash_bytes, "sens_acc": again.chosen.sens_acc,
                       "n_w4": sum(m == "w4" for m in again.chosen.modes.values()), "fits": again.fits,
                       "int8_sens_acc": again.int8.sens_acc, "reason": again.reason,
                       "vs_first_int8_pp": rounded_gap(paired_gap(again.chosen.correct, first.int8.correct))})
    if not used:
        return first, info
    q.model = tuned
    return again, info


def _mixed(req: CompressRequest, prep: Prepared, q: Quantized, calib: np.ndarray, graph: Any,
           teachers: list[Any] | None = None) -> None:
    """Choose the per-layer precision of ``q.model`` (:mod:`automcu.compress.mixed`), measure it on the test set
    in TFLM and make it the deployed network; the uniform int8 figures stay in ``q.precision``. With ``--qat``,
    a 4-bit-aware fine-tune may replace the choice (:func:`_refine_w4`)."""
    import dataclasses

    from automcu.compress.mixed import board_fit, choose_mixed, rounded_gap
    from automcu.deploy.exporter import io_quant, to_nhwc
    from automcu.deploy.tflm import smallest_arena

    x_sens, y_sens, source = sensitivity_set(req, prep)
    nhwc = [s[None] for s in to_nhwc(calib)]
    first = res = choose_mixed(q.export.float_tflite, nhwc, x_sens, y_sens, _sens_logits(q.model, x_sens),
                               req.hardware, tolerance_pp=req.mixed_tolerance)
    refine = None
    if req.qat:
        res, refine = _refine_w4(req, prep, q, first, nhwc, x_sens, y_sens, teachers or [])
    with _progress(req) as bar:
        acc = tflm_accuracy(res.tflite, prep.x_test, prep.data.y_test, bar, label="TFLM accuracy (mixed)")
        if refine is not None and refine["used"]:  # what the fine-tune bought, on the same test images
            refine["first_choice"]["acc"] = tflm_accuracy(first.tflite, prep.x_test, prep.data.y_test, bar,
                                                          label="TFLM accuracy (mixed, before the fine-tune)")
    int8_arena = first.int8.arena_bytes if first.int8.arena_bytes is not None else smallest_arena(q.export.tflite)
    est_int8 = est_mixed = None
    if graph is not None:
        from automcu.hardware.precision import estimate_with_precision

        est_int8 = estimate_with_precision(graph, "", req.hardware, {})
        est_mixed = estimate_with_precision(graph, "", req.hardware, res.chosen.modes)
    inp, out = io_quant(res.tflite)
    q.precision = {
        "mode": "mixed", "sensitivity_images": res.n_sensitivity, "sensitivity_source": source,
        "tolerance_pp": res.tolerance_pp, "seconds": res.seconds,
        "tolerance_rule": "a point is within the tolerance unless the paired 95 % interval of its accuracy minus "
                          "uniform int8's on the sensitivity images lies wholly below -tolerance_pp",
        "w4_finetune": refine,
        "int8": {"acc": q.int8_acc, "flash_bytes": len(q.export.tflite), "arena_bytes": int8_arena,
                 "sens_acc": first.int8.sens_acc,
                 "fits": None if req.hardware is None else all(board_fit(req.hardware, q.export.tflite, int8_arena)),
                 "latency_ms": None if est_int8 is None else est_int8.latency_ms},
        "chosen": {"acc": acc, "flash_bytes": len(res.tflite), "arena_bytes": res.chosen.arena_bytes,
                   "sens_acc": res.chosen.sens_acc, "modes": {str(k): v for k, v in sorted(res.chosen.modes.items())},
                   "n_w4": sum(m == "w4" for m in res.chosen.modes.values()),
                   "n_a16": sum(m == "a16" for m in res.chosen.modes.values()),
                   "vs_int8_pp": rounded_gap(res.chosen.vs_int8),
                   "within_tolerance": res.within, "reason": res.reason,
                   "resolution": sensitivity_resolution(res.chosen.vs_int8, res.n_sensitivity, res.tolerance_pp),
                   "fits": None if req.hardware is None or res.chosen.arena_bytes is None
                   else all(board_fit(req.hardware, res.tflite, res.chosen.arena_bytes)),
                   "latency_ms": None if est_mixed is None else est_mixed.latency_ms},
        "estimate": None if est_mixed is None else {
            "flash_model_bytes": est_mixed.flash["model_total"], "arena_bytes": est_mixed.arena_bytes,
            "latency_ms": est_mixed.latency_ms, "left_out": est_mixed.left_out[-1:]},
        "frontier": [p.to_dict() for p in res.frontier], "layers": res.layers, "a16_tried": res.a16_tried,
        "w4_left_out": res.w4_left_out,
    }
    q.export = dataclasses.replace(q.export, tflite=res.tflite, input=inp, output=out)
    q.int8_acc, q.deployed = acc, "mixed" + ("+qat" if req.qat else "")
    if est_mixed is not None:
        q.latency_ms = est_mixed.latency_ms


def _export_bundle(req: CompressRequest, prep: Prepared, q: Quantized) -> tuple[Any, dict[str, str]]:
    """ONNX + ``.tflite`` of the deployed network under ``req.out_dir``, its memory measured in TFLite Micro
    against the board, and the firmware bundle; returns (the measurement, the artifacts' paths)."""
    from automcu.deploy.exporter import export_onnx
    from automcu.deploy.verify import verify_tflite

    out = req.out_dir
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(q.model, prep.data.input_shape, out / "model.onnx")
    (out / "model.tflite").write_bytes(q.export.tflite)
    measured = verify_tflite(out / "model.tflite", req.hardware)
    io = io_spec(q.export.input, q.export.output, prep.norm, prep.data.class_names)
    n_ref = min(req.n_reference, len(prep.x_test))
    pairs = reference_pairs(q.export.tflite, prep.x_test[:n_ref], prep.data.y_test[:n_ref], q.export.input)
    return measured, write_bundle(out, q.export.tflite, onnx_path, measured.ops, io, pairs)


def _report(req: CompressRequest, arch: str, prep: Prepared, macro: Any, est: Any, trained: Trained,
            q: Quantized, measured: Any, seconds: dict[str, float]) -> dict[str, Any]:
    """The report dict (``report.json``), without its artifacts."""
    from automcu.compress.effects import method_effects
    from automcu.compress.networks import describe

    index, macro_dict = describe(arch, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    float_acc = trained.float_acc
    report = {
        "arch": arch, "index": index, "dataset": prep.data.name, "data_source": prep.data.source,
        "board": req.hardware.name if req.hardware is not None else None,
        "macro": macro_dict,
        "samples": {"train": len(prep.x_train), "test": len(prep.x_test),
                    "val": None if prep.x_val is None else len(prep.x_val)},
        "float_acc": float_acc, "int8_acc": q.int8_acc, "int8_acc_source": "tflite_micro",
        "deployed": q.deployed or ("qat" if req.qat else "ptq"), "drop_pp": float_acc - q.int8_acc,
        "ptq": {"int8_acc": q.ptq_acc, "drop_pp": float_acc - q.ptq_acc, "n_calibration": q.n_calibration},
        "qat": q.qat, "kd": trained.kd, "kd_gain": trained.kd["kd_gain"] if trained.kd else None,
        "soup": trained.soup, "precision": q.precision,
        "best_checkpoint": best_checkpoint_info(req, prep, trained.best_epoch),
        "flash_bytes": measured.flash_bytes, "arena_bytes": measured.arena_bytes, "fits": measured.fits,
        "latency_ms": q.latency_ms if q.latency_ms is not None else est.latency_ms, "latency_source": "estimate",
        "estimate": {"flash_bytes": est.flash_bytes, "flash_model_bytes": est.flash["model_total"],
                     "arena_bytes": est.arena_bytes,
                     "peak_sram_bytes": est.peak_sram_bytes, "latency_ms": est.latency_ms, "macs": est.macs},
        "regions": [r.model_dump() for r in measured.regions], "messages": measured.messages,
        "ops": measured.ops, "left_out": measured.left_out,
        "request": req.to_dict(), "seconds": seconds,
    }
    report["effects"] = method_effects(report)
    return report


def run_compress(req: CompressRequest) -> dict[str, Any]:
    """Run the whole pipeline; writes the bundle under ``req.out_dir`` and returns the report dict."""
    import torch

    from automcu.compress.networks import canonical_arch, estimate_network
    from automcu.compress.precision import check_precision_supported

    timer = Timer()
    torch.set_num_threads(req.threads)
    arch = canonical_arch(req.arch)
    check_precision_supported(req.precision)  # refused before any training when TFLite Micro cannot run it
    prep = prepare_data(req)
    macro = _macro(req, prep.data)
    est = estimate_network(arch, req.hardware, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    timer.lap("data")

    trained = _train(req, prep, arch, macro, timer)
    from automcu.compress.networks import network_graph

    q = _quantize(req, prep, trained, timer, network_graph(arch, macro.C, macro.N, macro.in_ch, macro.hw,
                                                           macro.classes))
    measured, artifacts = _export_bundle(req, prep, q)
    artifacts["model.pt"] = str(save_float_network(req, arch, prep, macro, trained))
    timer.lap("export_bundle")

    out = req.out_dir
    report = _report(req, arch, prep, macro, est, trained, q, measured, timer.seconds)
    return finish_report(out, report, artifacts, timer.seconds)


def save_float_network(req: CompressRequest, arch: str, prep: Prepared, macro: Any, trained: Trained) -> Path:
    """``model.pt``: the trained float network (before quantization; the soup when ``--soup``) as an automcu
    checkpoint, so that it can teach a later run (``--teacher bundle/model.pt``) without training again."""
    from automcu.compress.networks import describe
    from automcu.train.checkpoint import save_checkpoint

    _, macro_dict = describe(arch, macro.C, macro.N, macro.in_ch, macro.hw, macro.classes)
    return save_checkpoint(req.out_dir / "model.pt", trained.model, arch, macro_dict,
                           {"dataset": prep.data.name, "float_acc": trained.float_acc,
                            "test_images": len(prep.x_test), "normalization": prep.norm.to_dict()})


def contract_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The CLI contract's JSON: ``{float_acc, int8_acc, int8_acc_source, kd_gain, flash_bytes, arena_bytes, fits,
    artifacts: {tflite, onnx, report}}`` plus the remaining figures."""
    arts = report["artifacts"]
    return {
        "float_acc": round(report["float_acc"], 2), "int8_acc": round(report["int8_acc"], 2),
        "int8_acc_source": report["int8_acc_source"],
        "kd_gain": None if report["kd_gain"] is None else round(report["kd_gain"], 2),
        "flash_bytes": report["flash_bytes"], "arena_bytes": report["arena_bytes"], "fits": report["fits"],
        "artifacts": {"tflite": arts["model.tflite"], "onnx": arts["model.onnx"], "report": arts["report.json"],
                      "dir": str(report["request"]["out_dir"])},
        "arch": report["arch"], "index": report["index"], "dataset": report["dataset"], "board": report["board"],
        "ptq_int8_acc": round(report["ptq"]["int8_acc"], 2),
        "qat_int8_acc": round(report["qat"]["int8_acc"], 2) if report["qat"] else None,
        "deployed": report["deployed"], "latency_ms": round(report["latency_ms"], 3),
        "seconds": report["seconds"]["total"],
        **memory_split(report),
    }


def memory_split(report: dict[str, Any]) -> dict[str, Any]:
    """Flash and SRAM as model/arena + runtime = total, against the limit, from the measured regions (no
    board: runtime 0 and no limit). ``flash_bytes``/``arena_bytes`` of the contract stay the model/arena."""
    regions = {r["name"]: r for r in report.get("regions") or []}
    out: dict[str, Any] = {}
    for name, part, key in (("flash", "flash_model_bytes", "flash_bytes"), ("sram", "sram_arena_bytes", "arena_bytes")):
        reg = regions.get(name)
        runtime = reg["runtime_bytes"] if reg else 0
        extra = reg.get("kernel_scratch_bytes", 0) if reg else 0
        out[part] = report[key]
        if name == "sram":
            out["sram_kernel_scratch_bytes"] = extra
        out[f"{name}_runtime_bytes"] = runtime
        out[f"{name}_total_bytes"] = reg["total_bytes"] if reg else report[key] + extra + runtime
        out[f"{name}_limit_bytes"] = reg["limit_bytes"] if reg else None
    return out


def finish_report(out: Path, report: dict[str, Any], artifacts: dict[str, str],
                  seconds: dict[str, float]) -> dict[str, Any]:
    """Add the artifacts and the total time to ``report``, write report.json and report.md into ``out``."""
    artifacts["report.json"] = str(out / "report.json")
    artifacts["report.md"] = str(out / "report.md")
    report["artifacts"] = artifacts
    report["seconds"]["total"] = round(sum(v for k, v in seconds.items() if k != "total"), 2)
    write_json(out / "report.json", report)
    (out / "report.md").write_text(report_markdown(report))
    return report

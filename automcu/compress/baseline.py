"""The hand-designed baseline through the compression backend: DS-CNN scaled to the board → train → int8 → TFLM.

:func:`run_baseline` takes the same :class:`~automcu.compress.request.CompressRequest` as
:func:`automcu.compress.pipeline.run_compress` (its ``arch``, ``C``, ``N`` and teacher fields are not
used): the DS-CNN (:mod:`search_spaces.baselines.dscnn`) is scaled to ``req.hardware`` by the
estimator, trained by the same loop and schedule (``req.epochs``, lr, augmentation), quantized the same
way (PTQ calibrated on training images, QAT when asked), measured in TensorFlow Lite Micro and bundled.
Its report has the fields of the pipeline's report (``contract_summary`` applies) plus ``baseline``: the
spec it chose. Benchmarks call it next to ``run_compress`` to report searched models against it.
"""

from __future__ import annotations

from typing import Any

from automcu.compress.pipeline import (
    Prepared,
    Timer,
    Trained,
    _export_bundle,
    _quantize,
    best_checkpoint_info,
    finish_report,
    fit,
    prepare_data,
)
from automcu.compress.request import CompressRequest


def _train_baseline(req: CompressRequest, prep: Prepared, spec: Any) -> Trained:
    import torch

    from automcu.train.metrics import evaluate
    from search_spaces.baselines.dscnn_torch import DSCNN

    c = prep.data.input_shape[0]
    torch.manual_seed(req.seed)  # the initial weights are part of the seeded run
    model = DSCNN(spec, in_ch=c, classes=prep.data.n_classes)
    best_epoch = fit(req, prep, model, f"baseline {spec.name}")
    return Trained(model, evaluate(model, prep.x_test, prep.data.y_test), None, best_epoch=best_epoch)


def run_baseline(req: CompressRequest, margin: float = 0.05) -> dict[str, Any]:
    """Scale, train, quantize, export and measure the DS-CNN baseline; writes the bundle under ``req.out_dir``
    and returns the report dict. ValueError without hardware or when no DS-CNN fits it."""
    import torch

    from automcu.hardware.baseline import scale_dscnn

    if req.hardware is None:
        raise ValueError("the baseline is scaled to a board's limits: give a board or --sram-kb/--flash-kb")
    timer = Timer()
    torch.set_num_threads(req.threads)
    prep = prepare_data(req)
    c, h, w = prep.data.input_shape
    if h != w:
        raise ValueError(f"{prep.data.name}: the DS-CNN takes square images, got {h}×{w}")
    spec, est = scale_dscnn(req.hardware, in_ch=c, hw=h, classes=prep.data.n_classes, margin=margin)
    timer.lap("data")

    trained = _train_baseline(req, prep, spec)
    timer.lap("train")
    q = _quantize(req, prep, trained, timer)
    measured, artifacts = _export_bundle(req, prep, q)
    timer.lap("export_bundle")

    float_acc = trained.float_acc
    out = req.out_dir
    report: dict[str, Any] = {
        "arch": spec.name, "index": None, "baseline": spec.to_dict(), "dataset": prep.data.name,
        "data_source": prep.data.source, "board": req.hardware.name,
        "macro": {"width": spec.width, "stem_stride": spec.stem_stride, "blocks": len(spec.blocks), "in_ch": c,
                  "hw": h, "classes": prep.data.n_classes},
        "float_acc": float_acc, "int8_acc": q.int8_acc, "int8_acc_source": "tflite_micro",
        "deployed": "qat" if req.qat else "ptq", "drop_pp": float_acc - q.int8_acc,
        "ptq": {"int8_acc": q.ptq_acc, "drop_pp": float_acc - q.ptq_acc, "n_calibration": q.n_calibration},
        "qat": q.qat, "kd": None, "kd_gain": None,
        "best_checkpoint": best_checkpoint_info(req, prep, trained.best_epoch),
        "samples": {"train": len(prep.x_train), "test": len(prep.x_test),
                    "val": None if prep.x_val is None else len(prep.x_val)},
        "flash_bytes": measured.flash_bytes, "arena_bytes": measured.arena_bytes, "fits": measured.fits,
        "latency_ms": est.latency_ms, "latency_source": "estimate",
        "estimate": {"flash_bytes": est.flash_bytes, "flash_model_bytes": est.flash["model_total"],
                     "arena_bytes": est.arena_bytes, "peak_sram_bytes": est.peak_sram_bytes,
                     "latency_ms": est.latency_ms, "macs": est.macs},
        "regions": [r.model_dump() for r in measured.regions], "messages": measured.messages,
        "ops": measured.ops, "left_out": measured.left_out, "request": req.to_dict(), "seconds": timer.seconds,
    }
    return finish_report(out, report, artifacts, timer.seconds)


__all__ = ["run_baseline"]

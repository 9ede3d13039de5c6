"""What each compression option bought, against the run without it: accuracy (pp), Flash, arena, estimated
latency and training time. Built from the report's own figures (nothing re-measured here).

- distillation (``--teacher`` …): float accuracy with KD vs the same student without KD (same epochs,
  seed); same network, so the same Flash/arena/latency; cost: the teachers' and the KD run's time.
- ``--qat`` (with a teacher: quantization-aware distillation): int8 accuracy in TFLite Micro vs PTQ;
  same network; cost: the QAT epochs.
- ``--soup N``: float accuracy of the greedy soup vs the network it was fine-tuned from; zero inference
  cost; cost: N fine-tuning runs.
- ``--precision mixed``: int8 accuracy in TFLite Micro, measured Flash and arena vs uniform int8.
"""

from __future__ import annotations

from typing import Any


def method_effects(r: dict[str, Any]) -> list[dict[str, Any]]:
    sec = r.get("seconds", {})
    out: list[dict[str, Any]] = []
    kd = r.get("kd")
    if kd:
        parts = [f"{len(kd.get('teachers') or [kd['teacher']])} teacher(s), {kd.get('weighting', 'mean')}"]
        if kd.get("label_mix"):
            parts.append(f"label mix {kd['label_mix']}")
        if kd.get("feature_kd"):
            parts.append("feature KD")
        out.append({"option": "distillation", "detail": ", ".join(parts), "metric": "float_acc",
                    "accuracy_pp": kd.get("kd_gain"), "flash_bytes_delta": 0, "arena_bytes_delta": 0,
                    "latency_ms_delta": 0.0, "train_seconds": round(sec.get("teacher", 0.0) + sec.get("train", 0.0), 2),
                    "baseline": "same student without KD, same epochs and seed"})
    qat = r.get("qat")
    if qat:
        out.append({"option": "qad" if qat.get("distilled") else "qat", "detail": f"{qat['epochs']} epoch(s)",
                    "metric": "int8_acc (TFLite Micro)", "accuracy_pp": qat["int8_acc"] - r["ptq"]["int8_acc"],
                    "flash_bytes_delta": 0, "arena_bytes_delta": 0, "latency_ms_delta": 0.0,
                    "train_seconds": sec.get("qat", 0.0), "baseline": "int8 PTQ of the same float network"})
    soup = r.get("soup")
    if soup:
        out.append({"option": "soup", "detail": f"{soup['n']} runs × {soup['epochs']} epoch(s), kept "
                                                f"{len(soup['chosen'])}", "metric": "float_acc",
                    "accuracy_pp": soup["gain_pp"], "flash_bytes_delta": 0, "arena_bytes_delta": 0,
                    "latency_ms_delta": 0.0, "train_seconds": soup["seconds"],
                    "baseline": "the network the ingredients were fine-tuned from"})
    prec = r.get("precision")
    if prec and prec.get("int8"):
        base = prec["int8"]
        out.append({"option": "precision", "detail": prec.get("mode", "mixed"), "metric": "int8_acc (TFLite Micro)",
                    "accuracy_pp": prec["chosen"]["acc"] - base["acc"],
                    "flash_bytes_delta": prec["chosen"]["flash_bytes"] - base["flash_bytes"],
                    "arena_bytes_delta": prec["chosen"]["arena_bytes"] - base["arena_bytes"],
                    "latency_ms_delta": (prec["chosen"].get("latency_ms") or 0.0) - (base.get("latency_ms") or 0.0),
                    "train_seconds": sec.get("precision", 0.0), "baseline": "uniform int8 of the same network"})
    return out

"""The distillation teacher: a larger NB201 net trained here first, or a user's automcu checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from automcu.train.config import TrainConfig


class TeacherError(ValueError):
    """The teacher cannot be built or does not match the dataset."""


def is_checkpoint(teacher: str) -> bool:
    return teacher.endswith((".pt", ".pth")) or Path(teacher).expanduser().is_file()


def load_teacher_checkpoint(path: str, in_ch: int, hw: int, classes: int) -> tuple[nn.Module, dict[str, Any]]:
    from automcu.train.checkpoint import CheckpointError, load_checkpoint

    try:
        model, meta = load_checkpoint(path)
    except CheckpointError as exc:
        raise TeacherError(f"teacher: {exc}") from None
    macro = meta["macro"]
    if macro["in_ch"] != in_ch or macro["classes"] != classes:
        raise TeacherError(f"teacher checkpoint takes {macro['in_ch']} channels / {macro['classes']} classes; "
                           f"the dataset has {in_ch} / {classes}")
    if macro.get("hw") not in (None, hw):
        raise TeacherError(f"teacher checkpoint was trained on {macro['hw']}px images; the dataset has {hw}px")
    return model, {"kind": "checkpoint", "path": str(Path(path).expanduser()), **meta}


def train_teacher(arch: str, C: int, N: int, in_ch: int, classes: int, x: np.ndarray, y: np.ndarray,
                  cfg: TrainConfig, x_test: np.ndarray, y_test: np.ndarray, progress: bool,
                  label: str = "teacher") -> tuple[nn.Module, dict]:
    """Train an NB201 arch at ``C``/``N`` (or an mcu-space arch at its own macro) as a teacher."""
    from automcu.compress.networks import build_network, canonical_arch, is_mcu
    from automcu.train.loop import train_model

    try:
        name = canonical_arch(arch)
    except ValueError as exc:
        raise TeacherError(f"teacher {arch!r}: {exc}") from None
    torch.manual_seed(cfg.seed)
    model = build_network(name, C, N, in_ch, classes)
    res = train_model(model, x, y, cfg, x_test=x_test, y_test=y_test, label=label, progress=progress)
    macro = {"space": "mcu"} if is_mcu(name) else {"C": C, "N": N}
    return model.eval(), {"kind": "arch", "arch": name, "macro": macro,
                          "test_acc": res.final_test_acc, "train_seconds": round(res.seconds, 2)}

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
                  cfg: TrainConfig, x_test: np.ndarray, y_test: np.ndarray, progress: bool) -> tuple[nn.Module, dict]:
    from automcu.train.loop import train_model
    from search_spaces.nb201.space import parse_arch
    from search_spaces.nb201.torch_model import build_model

    parsed = parse_arch(arch)
    torch.manual_seed(cfg.seed)
    model = build_model(parsed, C=C, N=N, in_ch=in_ch, classes=classes)
    res = train_model(model, x, y, cfg, x_test=x_test, y_test=y_test, label="teacher", progress=progress)
    return model.eval(), {"kind": "arch", "arch": parsed.to_string(), "macro": {"C": C, "N": N},
                          "test_acc": res.final_test_acc, "train_seconds": round(res.seconds, 2)}

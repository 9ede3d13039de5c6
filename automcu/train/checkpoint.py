"""Checkpoints of trained NB201 networks: arch + macro + weights (+ the input normalization), one ``.pt`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "automcu-nb201-v1"


class CheckpointError(ValueError):
    """The file is missing or is not an automcu NB201 checkpoint."""


def save_checkpoint(path: str | Path, model: nn.Module, arch: str, macro: dict[str, int],
                    extra: dict[str, Any] | None = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "arch": arch, "macro": dict(macro), "state_dict": model.state_dict(),
                "extra": dict(extra or {})}, p)
    return p


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(the network in eval mode, the checkpoint's metadata: arch, macro, extra)."""
    from search_spaces.nb201.torch_model import build_model

    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"no such checkpoint file: {p}")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a non-checkpoint file
        raise CheckpointError(f"{p} is not a torch checkpoint ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not an automcu NB201 checkpoint (expected format {FORMAT!r})")
    macro = blob["macro"]
    model = build_model(blob["arch"], C=macro["C"], N=macro["N"], in_ch=macro["in_ch"], classes=macro["classes"])
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{p}: weights do not match its arch/macro ({str(exc).splitlines()[0]})") from None
    return model.eval(), {"arch": blob["arch"], "macro": macro, "extra": blob.get("extra", {})}

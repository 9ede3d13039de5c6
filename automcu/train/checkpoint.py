"""Checkpoints of trained networks (an NB201 cell at a macro, or an mcu-space arch): arch + macro + weights, one
``.pt`` file. ``automcu compress`` writes one (``model.pt``, the float network) into every bundle, so a network
trained once can teach others (``--teacher bundle/model.pt``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "automcu-net-v2"
#: formats this module reads: v1 held NB201 cells only
FORMATS = ("automcu-nb201-v1", FORMAT)


class CheckpointError(ValueError):
    """The file is missing or is not an automcu checkpoint."""


def save_checkpoint(path: str | Path, model: nn.Module, arch: str, macro: dict[str, int],
                    extra: dict[str, Any] | None = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "arch": arch, "macro": dict(macro), "state_dict": model.state_dict(),
                "extra": dict(extra or {})}, p)
    return p


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """(the network in eval mode, the checkpoint's metadata: arch, macro, extra)."""
    from search_spaces.spaces import build_network

    p = Path(path).expanduser()
    if not p.is_file():
        raise CheckpointError(f"no such checkpoint file: {p}")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a non-checkpoint file
        raise CheckpointError(f"{p} is not a torch checkpoint ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") not in FORMATS:
        raise CheckpointError(f"{p} is not an automcu checkpoint (expected format {FORMAT!r})")
    macro = blob["macro"]
    try:
        model = build_network(blob["arch"], macro.get("C", 0), macro.get("N", 0), macro["in_ch"], macro["classes"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{p}: its arch/macro cannot be built ({exc})") from None
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{p}: weights do not match its arch/macro ({str(exc).splitlines()[0]})") from None
    return model.eval(), {"arch": blob["arch"], "macro": macro, "extra": blob.get("extra", {})}

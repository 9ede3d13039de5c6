"""Batch augmentation on tensors: per-sample random translation (zero padding) and horizontal flips."""

from __future__ import annotations

import torch


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate every image by its own random offset in ``[-max_shift, max_shift]`` (zero fill)."""
    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    p = max_shift
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    oy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * p + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h)[None, :])[:, :, None]  # (B, H, 1)
    cols = (ox[:, None] + torch.arange(w)[None, :])[:, None, :]  # (B, 1, W)
    batch = torch.arange(b)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    if not bool(flip.any()):
        return x
    out = x.clone()
    out[flip] = out[flip].flip(-1)
    return out

"""Signals that cost no evaluation: computed from the cell alone, used to rank proposals.

``live_conv_cost``: FLOPs proxy of the cell counting only edges on an input→output path (ops
on dead edges never influence the output): 9 per 3×3 conv, 1 per 1×1 conv, a small bonus for
pooling/skip edges that are live (they add paths without weights).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from search_spaces.nb201.space import CONV1, CONV3, NONE, SPACE_SIZE, Arch

_COST = {CONV3: 9.0, CONV1: 1.0}


@lru_cache(maxsize=SPACE_SIZE)
def live_conv_cost(arch: Arch) -> float:
    live = arch.live_edges()
    cost = sum(_COST.get(op, 0.0) for op, on in zip(arch.ops, live, strict=True) if on)
    paths = sum(1 for op, on in zip(arch.ops, live, strict=True) if on and op != NONE)
    return cost + 0.1 * paths


def rank_by_signal(archs: list[Arch]) -> list[Arch]:
    """Archs sorted by the cheap signal, best first (stable)."""
    scores = np.array([live_conv_cost(a) for a in archs])
    return [archs[i] for i in np.argsort(-scores, kind="stable")]

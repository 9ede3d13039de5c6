"""Predicted limit violations for any arch, from whole-space estimator arrays (cached per target).

The proposers use it to steer mutations away from resources whose margin is used up; the
feasibility agent stays the authority that accepts or rejects a proposal.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import Arch


@lru_cache(maxsize=32)
def _usage(hardware_json: str, dataset: str) -> dict[str, np.ndarray]:
    from automcu.hardware.estimator import Macro, estimate_all

    hardware = HardwareSpec.model_validate_json(hardware_json)
    return estimate_all(hardware, Macro.for_dataset(dataset))


def violated_resources(arch: Arch, hardware: HardwareSpec | None, max_latency_ms: float | None,
                       dataset: str) -> list[str]:
    """Resources (``flash``, ``sram``, ``latency``) whose estimate exceeds the target's limit."""
    if hardware is None:
        return []
    usage = _usage(hardware.model_dump_json(), dataset)
    i = index_of(arch)
    out = []
    if usage["flash_bytes"][i] > hardware.flash_bytes:
        out.append("flash")
    if usage["peak_sram_bytes"][i] > hardware.sram_bytes:
        out.append("sram")
    if max_latency_ms is not None and usage["latency_ms"][i] > max_latency_ms:
        out.append("latency")
    return out

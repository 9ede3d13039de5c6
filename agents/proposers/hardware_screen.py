"""Predicted limit margins for any arch, from whole-space estimator arrays (cached per target).

The proposers use it to steer mutations away from resources whose margin is used up; the
feasibility agent stays the authority that accepts or rejects a proposal. Figures come from the
same estimator and the same macro choice (:func:`agents.feasibility.macro_for`) the agent uses.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import Arch


@lru_cache(maxsize=32)
def _margins(hardware_json: str | None, max_latency_ms: float | None, dataset: str) -> dict[str, np.ndarray]:
    """Resource → (limit − estimate) / limit over the whole space (negative = over the limit)."""
    from agents.feasibility import macro_for
    from automcu.hardware.estimator import estimate_all

    hardware = HardwareSpec.model_validate_json(hardware_json) if hardware_json else None
    usage = estimate_all(hardware, macro_for(dataset))
    out: dict[str, np.ndarray] = {}
    if hardware is not None:
        out["flash"] = (hardware.flash_bytes - usage["flash_bytes"]) / hardware.flash_bytes
        out["sram"] = (hardware.sram_bytes - usage["peak_sram_bytes"]) / hardware.sram_bytes
    if max_latency_ms is not None:
        out["latency"] = (max_latency_ms - usage["latency_ms"]) / max_latency_ms
    return out


class HardwareScreen:
    """Margins and predicted violations of one target (board and/or latency limit) for one dataset."""

    def __init__(self, hardware: HardwareSpec | None, max_latency_ms: float | None, dataset: str) -> None:
        self.active = hardware is not None or max_latency_ms is not None
        self._arrays = (_margins(hardware.model_dump_json() if hardware else None, max_latency_ms, dataset)
                        if self.active else {})

    def margins(self, arch: Arch) -> dict[str, float]:
        i = index_of(arch)
        return {resource: float(values[i]) for resource, values in self._arrays.items()}

    def violated(self, arch: Arch) -> list[str]:
        """Resources (``flash``, ``sram``, ``latency``) whose estimate exceeds the limit (empty = fits)."""
        if not self.active:
            return []
        i = index_of(arch)
        return [resource for resource, values in self._arrays.items() if values[i] < 0]


def violated_resources(arch: Arch, hardware: HardwareSpec | None, max_latency_ms: float | None,
                       dataset: str) -> list[str]:
    """Resources (``flash``, ``sram``, ``latency``) whose estimate exceeds the target's limit."""
    return HardwareScreen(hardware, max_latency_ms, dataset).violated(arch)

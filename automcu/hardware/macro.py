"""The macro-architecture around the NB201 cell (:class:`Macro`) and the torch network's counts.

Shared by the exact estimator (:mod:`automcu.hardware.estimator`) and the whole-space one
(:mod:`automcu.hardware.cellstats`); it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.nb201.space import CONV1, CONV3, Arch

DATASET_MACROS: dict[str, tuple[int, int, int]] = {  # name -> (in_ch, hw, classes)
    "cifar10": (3, 32, 10),
    "cifar100": (3, 32, 100),
    "ImageNet16-120": (3, 16, 120),
}


@dataclass(frozen=True)
class Macro:
    """The macro-architecture around the cell: C channels in stage 1, N cells per stage, input, classes."""

    C: int = 16
    N: int = 5
    in_ch: int = 3
    hw: int = 32
    classes: int = 10

    def __post_init__(self) -> None:
        for name in ("C", "N", "in_ch", "hw", "classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"Macro.{name} must be >= 1, got {getattr(self, name)}")
        if self.hw < 4:
            raise ValueError(f"input resolution {self.hw} is too small for two stride-2 reductions")

    @classmethod
    def for_dataset(cls, name: str, **overrides: int) -> Macro:
        """The benchmark's macro for ``cifar10``, ``cifar100`` or ``ImageNet16-120`` (C=16, N=5)."""
        key = {k.lower(): k for k in DATASET_MACROS}.get(name.lower())
        if key is None:
            raise ValueError(f"unknown dataset {name!r}; benchmark datasets: {', '.join(DATASET_MACROS)}")
        in_ch, hw, classes = DATASET_MACROS[key]
        return cls(**{"in_ch": in_ch, "hw": hw, "classes": classes, **overrides})


def nb201_counts(arch: Arch, macro: Macro) -> tuple[int, int]:
    """(params, MACs) of the NB201 torch network, as the benchmark counts them (all edges, BN affine)."""
    n3, n1 = arch.count(CONV3), arch.count(CONV1)
    C, hw, N = macro.C, macro.hw, macro.N
    params = macro.in_ch * C * 9 + 2 * C  # stem conv + BN
    macs = hw * hw * C * macro.in_ch * 9
    c, h = C, hw
    for stage in range(3):
        if stage > 0:
            co, ho = 2 * c, h // 2
            params += 9 * c * co + 2 * co + 9 * co * co + 2 * co + c * co
            macs += ho * ho * co * (9 * c + 9 * co + c)
            c, h = co, ho
        params += N * (n3 * (9 * c * c + 2 * c) + n1 * (c * c + 2 * c))
        macs += N * h * h * c * c * (9 * n3 + n1)
    params += 2 * c + c * macro.classes + macro.classes  # lastact BN + classifier
    macs += c * macro.classes
    return params, macs

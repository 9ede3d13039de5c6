"""The search spaces a job can search, by name: ``nb201`` (the NAS-Bench-201 lookup space, the default) and
``mcu`` (:mod:`search_spaces.mcu.space`, the NB201 cell plus a depthwise-separable op and the macro, for real
data). One function reads an arch of either space into what a stored candidate keys on, one builds its torch network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

SpaceName = Literal["nb201", "mcu"]
SPACES: tuple[str, ...] = ("nb201", "mcu")
DEFAULT_SPACE = "nb201"


@dataclass(frozen=True)
class SpaceArch:
    """An arch as its space writes it: the canonical string, its number in the space, its isomorphism key."""

    text: str
    index: int
    iso_key: str


class UnknownSpace(ValueError):
    """A space name that is not one of :data:`SPACES`."""


def check_space(name: str) -> str:
    if name not in SPACES:
        raise UnknownSpace(f"unknown search space {name!r}; choose {' or '.join(SPACES)}")
    return name


def space_size(name: str) -> int:
    """How many archs the space holds."""
    if check_space(name) == "mcu":
        from search_spaces.mcu.space import SPACE_SIZE as MCU_SIZE

        return MCU_SIZE
    from search_spaces.nb201.space import SPACE_SIZE

    return SPACE_SIZE


def parse_in_space(name: str, value: str) -> SpaceArch:
    """``value`` read in space ``name`` (an arch string, or its number: NB201's official index, the mcu code).

    Raises ``ValueError`` (the space's ``ArchError`` / ``MCUArchError``) for what the space does not hold."""
    if check_space(name) == "mcu":
        from search_spaces.mcu.space import parse_mcu_arch

        march = parse_mcu_arch(value)
        return SpaceArch(march.to_string(), march.code, march.canonical_key())
    from search_spaces.nb201.index import index_of
    from search_spaces.nb201.space import parse_arch

    arch = parse_arch(value)
    return SpaceArch(arch.to_string(), index_of(arch), arch.canonical_key())


__all__ = ["DEFAULT_SPACE", "SPACES", "SpaceArch", "SpaceName", "UnknownSpace", "check_space", "parse_in_space",
           "space_size"]


def build_network(arch: str, C: int, N: int, in_ch: int, classes: int) -> Any:
    """The torch network of an arch of either space (default init: seed torch first): an NB201 cell at the macro
    ``C``/``N``, or an mcu-space arch at its own macro (``C``/``N`` ignored). Needs torch."""
    from search_spaces.mcu.space import is_mcu_arch

    if is_mcu_arch(arch):
        from search_spaces.mcu.torch_model import build_mcu_model

        return build_mcu_model(arch, in_ch=in_ch, classes=classes)
    from search_spaces.nb201.torch_model import build_model

    return build_model(arch, C=C, N=N, in_ch=in_ch, classes=classes)

"""The network a compress run trains: an NB201 cell at the request's macro, or an ``mcu``-space arch
(its own C, N and stem stride, depthwise-separable edges); built, described and estimated alike."""

from __future__ import annotations

from typing import Any

from automcu.hardware.spec import HardwareSpec


def is_mcu(arch: str) -> bool:
    from search_spaces.mcu.space import is_mcu_arch

    return is_mcu_arch(arch)


def canonical_arch(arch: str | int) -> str:
    """The arch written canonically (NB201 string, or the mcu grammar); ValueError when malformed."""
    if isinstance(arch, str) and is_mcu(arch):
        from search_spaces.mcu.space import parse_mcu_arch

        return parse_mcu_arch(arch).to_string()
    from search_spaces.nb201.space import parse_arch

    return parse_arch(arch).to_string()


def build_network(arch: str, C: int, N: int, in_ch: int, classes: int) -> Any:
    """The torch network (default init: seed torch first). ``C``/``N`` are ignored for mcu archs."""
    from search_spaces.spaces import build_network as build

    return build(arch, C, N, in_ch, classes)


def describe(arch: str, C: int, N: int, in_ch: int, hw: int, classes: int) -> tuple[int | None, dict[str, Any]]:
    """(NB201 index or None, the macro dict of the report)."""
    if is_mcu(arch):
        from search_spaces.mcu.space import parse_mcu_arch

        a = parse_mcu_arch(arch)
        return None, {"space": "mcu", "C": a.C, "N": a.N, "stem_stride": a.stem_stride, "in_ch": in_ch, "hw": hw,
                      "classes": classes}
    from search_spaces.nb201.index import index_of
    from search_spaces.nb201.space import parse_arch

    return index_of(parse_arch(arch)), {"C": C, "N": N, "in_ch": in_ch, "hw": hw, "classes": classes}


def estimate_network(arch: str, hardware: HardwareSpec | None, C: int, N: int, in_ch: int, hw: int,
                     classes: int) -> Any:
    """The int8 estimate (Flash, arena, latency) of the network on ``hardware``."""
    if is_mcu(arch):
        from automcu.hardware.mcu import estimate_mcu

        return estimate_mcu(arch, hardware, in_ch=in_ch, hw=hw, classes=classes)
    from automcu.hardware.estimator import Macro, estimate
    from search_spaces.nb201.space import parse_arch

    return estimate(parse_arch(arch), hardware, Macro(C=C, N=N, in_ch=in_ch, hw=hw, classes=classes))


def network_graph(arch: str, C: int, N: int, in_ch: int, hw: int, classes: int) -> Any:
    """The estimator's deployed op graph of the network (what :mod:`automcu.hardware.precision` rewrites)."""
    from automcu.hardware.graph import build_graph, build_mcu_graph

    if is_mcu(arch):
        from search_spaces.mcu.space import parse_mcu_arch

        return build_mcu_graph(parse_mcu_arch(arch), in_ch, hw, classes)
    from search_spaces.nb201.space import parse_arch

    return build_graph(parse_arch(arch), C, N, in_ch, hw, classes)

"""The ``mcu`` search space (real data): NB201 cell + depthwise-separable op + searched macro (C, N, stem stride)."""

from search_spaces.mcu.space import OPS, SPACE_SIZE, MCUArch, MCUArchError, parse_mcu_arch

__all__ = ["OPS", "SPACE_SIZE", "MCUArch", "MCUArchError", "parse_mcu_arch"]

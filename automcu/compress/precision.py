"""``--precision``: which numeric formats the deployed network may use, checked before any training."""

from __future__ import annotations


class PrecisionError(ValueError):
    """A precision mode TFLite Micro cannot run (or this build cannot emit); refused before training."""


def check_precision_supported(mode: str) -> None:
    if mode == "int8":
        return
    if mode == "mixed":
        raise PrecisionError("--precision mixed is not available in this build: the per-layer int8/16x8/int4 "
                             "choice is not implemented yet, so nothing but uniform int8 is ever reported as "
                             "deployable")
    raise PrecisionError(f"--precision must be int8 or mixed, got {mode!r}")

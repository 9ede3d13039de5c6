"""``--precision``: which numeric formats the deployed network may use, checked before any training.

``int8``: uniform int8 (weights per-channel, activations and IO int8). ``mixed``: per weight layer, int8,
4-bit weights (``CONV_2D``) or 16x8 (int16 activations), chosen by measured sensitivity
(:mod:`automcu.compress.mixed`); the modes each op kind may take are
:data:`automcu.deploy.mixed_export.LAYER_MODES`, the ones TFLite Micro runs.
"""

from __future__ import annotations

PRECISIONS = ("int8", "mixed")


class PrecisionError(ValueError):
    """A precision mode TFLite Micro cannot run (or this build cannot emit); refused before training."""


def check_precision_supported(mode: str) -> None:
    if mode not in PRECISIONS:
        raise PrecisionError(f"--precision must be int8 or mixed, got {mode!r} (uniform 4-bit or 16-bit are not "
                             "offered: TFLite Micro has no 4-bit FULLY_CONNECTED or DEPTHWISE_CONV_2D; mixed "
                             "uses 4-bit weights where it runs them)")

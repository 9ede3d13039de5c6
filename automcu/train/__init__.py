"""Seeded CPU training of NB201 networks: plain, distilled from a teacher, or quantization-aware.

torch is imported by the submodules, so ``import automcu.train`` needs the ``train`` extra.
"""

from __future__ import annotations

from automcu.train.config import KDConfig, TrainConfig

__all__ = ["KDConfig", "TrainConfig"]

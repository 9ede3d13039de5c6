"""The hand-designed baseline's shape: a DS-CNN in the style of MLPerf Tiny's (plain data, no torch).

MLPerf Tiny's keyword-spotting DS-CNN is one strided full convolution, a stack of depthwise-separable
blocks (depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN → ReLU), a global average pool and a
classifier. For images the blocks follow MobileNet-V1's widening (×1, ×2 with stride 2, ×2, ×4 with
stride 2, ×4). The torch network is :mod:`search_spaces.baselines.dscnn_torch`; its deployed graph,
estimate and scaling to a board are in :mod:`automcu.hardware.baseline`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: (width multiplier, stride) of each depthwise-separable block
DSCNN_BLOCKS: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (2, 1), (4, 2), (4, 1))
#: stem widths :func:`scale_dscnn` tries, widest first
DSCNN_WIDTHS: tuple[int, ...] = (64, 48, 40, 32, 24, 16, 12, 8)


@dataclass(frozen=True)
class DSCNNSpec:
    """Stem width, stem stride and the (width multiplier, stride) of each depthwise-separable block."""

    width: int = 16
    stem_stride: int = 2
    blocks: tuple[tuple[int, int], ...] = DSCNN_BLOCKS

    def __post_init__(self) -> None:
        if self.width < 1 or self.stem_stride not in (1, 2) or not self.blocks:
            raise ValueError(f"invalid DS-CNN spec {self}")
        for mult, stride in self.blocks:
            if mult < 1 or stride not in (1, 2):
                raise ValueError(f"invalid DS-CNN block (multiplier {mult}, stride {stride})")

    @property
    def name(self) -> str:
        return f"dscnn-w{self.width}-s{self.stem_stride}-b{len(self.blocks)}"

    def channels(self) -> list[int]:
        return [self.width * m for m, _ in self.blocks]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, **asdict(self)}


__all__ = ["DSCNN_BLOCKS", "DSCNN_WIDTHS", "DSCNNSpec"]

"""PyTorch network of the DS-CNN baseline (:class:`search_spaces.baselines.dscnn.DSCNNSpec`).

It trains with :func:`automcu.train.loop.train_model` and exports with
:func:`automcu.deploy.exporter.export_int8` like any searched network. Importing this module imports torch.
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.baselines.dscnn import DSCNNSpec


class DSBlock(nn.Sequential):
    """Depthwise 3×3 (stride 1 or 2) → BN → ReLU → pointwise 1×1 → BN → ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


class DSCNN(nn.Module):
    """Stem conv 3×3 → BN → ReLU, the depthwise-separable blocks, global average pool, linear classifier."""

    def __init__(self, spec: DSCNNSpec, in_ch: int = 1, classes: int = 10) -> None:
        super().__init__()
        if in_ch < 1 or classes < 1:
            raise ValueError(f"invalid in_ch={in_ch} classes={classes}")
        self.spec, self.in_ch, self.classes = spec, in_ch, classes
        c = spec.width
        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, c, 3, stride=spec.stem_stride, padding=1, bias=False), nn.BatchNorm2d(c),
            nn.ReLU(inplace=False),
        )
        blocks = []
        for mult, stride in spec.blocks:
            blocks.append(DSBlock(c, spec.width * mult, stride))
            c = spec.width * mult
        self.blocks = nn.Sequential(*blocks)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector before the classifier (for feature distillation)."""
        return self.global_pooling(self.blocks(self.stem(x))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


__all__ = ["DSCNN", "DSBlock"]

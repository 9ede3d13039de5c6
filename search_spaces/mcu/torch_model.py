"""PyTorch network of an ``mcu``-space arch (:class:`search_spaces.mcu.space.MCUArch`).

The NB201 network (:mod:`search_spaces.nb201.torch_model`) with the arch's macro and one extra op:

- stem: 3×3 conv (no bias, stride ``stem_stride``, padding 1) + BN, ``C`` channels;
- three stages of ``N`` cells each, channels ``C, 2C, 4C``; between stages a reduction block
  ReLU-Conv3×3/s2-BN → ReLU-Conv3×3-BN with a strided 1×1 conv as the shortcut. (NB201's
  AvgPool2×2 + Conv1×1 shortcut floors odd sizes while the 3×3/s2 path rounds up, so it breaks on
  the 7×7 maps a stride-2 stem gives on 28 px; the strided 1×1 conv rounds up like the main path.)
- cell: the NB201 cell (``InferCell``) whose edges may also be ``dw_sep_conv_3x3`` = ReLU →
  depthwise 3×3 → BN → ReLU → pointwise 1×1 → BN (:class:`DWSepConv`); nodes that do not depend on
  the cell input are carried as per-channel constants, as in the NB201 cell;
- head: BN + ReLU, global average pool, linear classifier.

Importing this module imports torch.
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.mcu.space import CONV1, CONV3, DWSEP, EDGES, NONE, POOL, SKIP, MCUArch, parse_mcu_arch
from search_spaces.nb201.torch_model import (
    Cell,
    CellNetwork,
    ReLUConvBN,
    _bn_of_uniform,
    _reaches_output,
    count_params,
    make_op,
)


class DWSepConv(nn.Sequential):
    """ReLU → depthwise 3×3 (no bias) → BN → ReLU → pointwise 1×1 (no bias) → BN, channels preserved."""

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, 3, stride=1, padding=1, groups=channels, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )


def make_mcu_op(op: int, channels: int) -> nn.Module | None:
    """The module of one mcu-cell edge (``None`` for ``none``)."""
    if op == DWSEP:
        return DWSepConv(channels)
    if op in (NONE, SKIP, CONV1, CONV3, POOL):  # the NB201 ops, same indices
        return make_op(op, channels)
    raise ValueError(f"unknown mcu op index {op}")


class MCUCell(Cell):
    """The NB201 cell over the mcu ops (same forward: live edges only, constant nodes kept as vectors)."""

    def __init__(self, ops: tuple[int, ...], channels: int) -> None:
        nn.Module.__init__(self)
        self.arch = ops  # type: ignore[assignment]  # only shown by extra_repr
        self.edges = nn.ModuleDict()
        for e, op in enumerate(ops):
            module = make_mcu_op(op, channels)
            if module is not None:
                self.edges[str(e)] = module
        reach = _reaches_output(ops)
        self._plan = [
            [(str(e), src) for e, (to, src) in enumerate(EDGES) if to == j and reach[e]]
            for j in range(1, 4)
        ]

    def _edge(
        self, key: str, t: torch.Tensor | None, c: torch.Tensor | None, x: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        module = self.edges[key]
        if not isinstance(module, DWSepConv) or t is not None:
            return super()._edge(key, t, c, x)
        if c is None:  # dw of zeros is zero; its BN a per-channel constant, the 1×1 conv keeps it uniform
            v = torch.relu(_bn_of_uniform(module[2], x.new_zeros(module[1].out_channels)))
            return None, _bn_of_uniform(module[5], module[4].weight[:, :, 0, 0] @ v)
        # a 3×3 depthwise conv of a non-zero constant map is not uniform (zero padding): materialize it
        return module(x.new_zeros((1, *x.shape[1:])) + c.view(1, -1, 1, 1)), None


class MCUReduction(nn.Module):
    """Stage reduction: ReLU-Conv3×3/s2-BN → ReLU-Conv3×3-BN, plus a strided 1×1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=2, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class MCUNetwork(CellNetwork):
    """The network of one mcu arch on an ``in_ch``-channel input with ``classes`` outputs."""

    def __init__(self, arch: MCUArch | str, in_ch: int = 1, classes: int = 10) -> None:
        super().__init__()
        if in_ch < 1 or classes < 1:
            raise ValueError(f"invalid in_ch={in_ch} classes={classes}")
        self.arch = parse_mcu_arch(arch)
        C, N = self.arch.C, self.arch.N
        self.C, self.N, self.in_ch, self.classes = C, N, in_ch, classes
        self.stem = nn.Sequential(
            nn.Conv2d(in_ch, C, 3, stride=self.arch.stem_stride, padding=1, bias=False), nn.BatchNorm2d(C)
        )
        self._build_body(C, N, classes, lambda ch: MCUCell(self.arch.ops, ch), MCUReduction)


def build_mcu_model(arch: MCUArch | str, in_ch: int = 1, classes: int = 10) -> MCUNetwork:
    """An mcu-space network (training mode, default PyTorch init)."""
    return MCUNetwork(arch, in_ch=in_ch, classes=classes)


__all__ = ["DWSepConv", "MCUCell", "MCUNetwork", "MCUReduction", "build_mcu_model", "count_params", "make_mcu_op"]

"""PyTorch builder for any NAS-Bench-201 arch at any macro-architecture.

Matches the official cell network (``TinyNetwork`` + ``InferCell`` of NAS-Bench-201 / NATS-Bench):

- stem: 3×3 conv (no bias) + BN, ``C`` channels;
- three stages of ``N`` cells each, with channels ``C, 2C, 4C``; between stages a ResNet basic
  block (ReLU-Conv3×3/s2-BN → ReLU-Conv3×3-BN, shortcut AvgPool2×2 + Conv1×1) halves the
  resolution and doubles the channels;
- a cell: node 0 = cell input, node j = sum over its incoming edges i→j of ``op(node i)``, output
  = node 3; ops are ``none`` (zero), ``skip_connect`` (identity), ``nor_conv_1x1`` /
  ``nor_conv_3x3`` (ReLU-Conv-BN), ``avg_pool_3x3`` (stride 1, pad 1, ``count_include_pad=False``);
- head: BN + ReLU, global average pool, linear classifier.

Every op of the cell owns its parameters (so the parameter count equals the benchmark's), but
the forward pass only evaluates edges whose result reaches the cell output, and a node that does
not depend on the cell input (all its live inputs ``none``) is carried as a per-channel constant
instead of a feature map: a ReLU-Conv-BN of a zero map is the BN's constant, skip/avg-pool keep a
uniform map uniform, and the constant joins a node as one broadcast ``ADD``. Outputs and BN running
statistics equal the all-tensor evaluation (tested), while the exported graph holds no
convolutions over constant maps (which the converter would keep, with the constant padded map
stored in Flash). Only a 3×3 conv of a non-zero constant map (0.3 % of the space) is materialized.
Importing this module imports torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from search_spaces.nb201.space import CONV1, CONV3, EDGES, N_NODES, NONE, OPS, POOL, SKIP, Arch, parse_arch


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv (no bias) → BatchNorm, the official ``ReLUConvBN``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


def make_op(op: int, channels: int) -> nn.Module | None:
    """The module of one cell edge (``None`` for the ``none`` op, which has no parameters)."""
    if op == NONE:
        return None
    if op == SKIP:
        return nn.Identity()
    if op == CONV1:
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if op == CONV3:
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if op == POOL:
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown op index {op}")


def _reaches_output(ops: tuple[int, ...]) -> tuple[bool, ...]:
    """Per edge: a non-``none`` edge whose target node feeds the cell output."""
    to_output = {N_NODES - 1}
    for i in range(N_NODES - 2, 0, -1):
        if any(ops[e] != NONE and to in to_output for e, (to, src) in enumerate(EDGES) if src == i):
            to_output.add(i)
    return tuple(ops[e] != NONE and EDGES[e][0] in to_output for e in range(len(EDGES)))


class Cell(nn.Module):
    """One NAS-Bench-201 cell (the official ``InferCell``), channels preserved."""

    def __init__(self, arch: Arch, channels: int) -> None:
        super().__init__()
        self.arch = arch
        self.edges = nn.ModuleDict()
        for e, op in enumerate(arch.ops):
            module = make_op(op, channels)
            if module is not None:
                self.edges[str(e)] = module
        reach = _reaches_output(arch.ops)
        # per node 1..3: the edge keys and source nodes evaluated in forward
        self._plan: list[list[tuple[str, int]]] = [
            [(str(e), src) for e, (to, src) in enumerate(EDGES) if to == j and reach[e]]
            for j in range(1, N_NODES)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A node is a tensor, a spatially uniform per-channel constant (shape (C,)) or zero (None):
        # nodes that do not depend on the input are never materialized as feature maps, so the
        # exported graph carries no convolutions over constant maps (see ``_edge``).
        nodes: list[torch.Tensor | None] = [x]
        consts: list[torch.Tensor | None] = [None]
        for incoming in self._plan:
            acc: torch.Tensor | None = None
            const: torch.Tensor | None = None
            for key, src in incoming:
                t, c = self._edge(key, nodes[src], consts[src], x)
                if t is not None:
                    acc = t if acc is None else acc + t
                if c is not None:
                    const = c if const is None else const + c
            if acc is not None and const is not None:
                acc, const = acc + const.view(1, -1, 1, 1), None
            nodes.append(acc)
            consts.append(const)
        out, const = nodes[-1], consts[-1]
        if out is None:  # the output ignores the input: a zero or constant map
            out = torch.zeros_like(x) if const is None else torch.zeros_like(x) + const.view(1, -1, 1, 1)
        if out.shape[0] != x.shape[0]:  # only materialized constant maps (batch 1, see ``_edge``): one per sample
            out = out.expand(x.shape[0], *out.shape[1:])
        return out

    def _edge(
        self, key: str, t: torch.Tensor | None, c: torch.Tensor | None, x: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """One edge on a node given as tensor ``t``, uniform constant ``c`` or zero (both None)."""
        module = self.edges[key]
        if t is not None:
            return module(t), None
        if not isinstance(module, ReLUConvBN):  # skip, avg_pool: zero stays zero, uniform stays uniform
            return None, c
        conv, bn = module[1], module[2]
        if c is None:  # conv of zeros is zero; BN of a constant map is a per-channel constant
            return None, _bn_of_uniform(bn, x.new_zeros(conv.out_channels))
        if conv.kernel_size == (1, 1):
            return None, _bn_of_uniform(bn, conv.weight[:, :, 0, 0] @ torch.relu(c))
        # a 3x3 conv of a constant map is not uniform (zero padding at the border): materialize it
        return module(x.new_zeros((1, *x.shape[1:])) + c.view(1, -1, 1, 1)), None

    def extra_repr(self) -> str:
        return str(self.arch)


def _bn_of_uniform(bn: nn.BatchNorm2d, value: torch.Tensor) -> torch.Tensor:
    """BatchNorm of a feature map that equals ``value[c]`` everywhere, as a (C,) vector.

    Training mode: the batch mean is ``value`` and the variance 0, so the output is the BN bias; the
    running statistics move exactly as ``nn.BatchNorm2d`` would move them. Eval mode: the affine
    transform with the running statistics.
    """
    if bn.training and bn.track_running_stats and bn.running_mean is not None and bn.running_var is not None:
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)  # type: ignore[union-attr]
            momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
            bn.running_mean.mul_(1 - momentum).add_(momentum * value.detach())
            bn.running_var.mul_(1 - momentum)
        return bn.bias if bn.bias is not None else torch.zeros_like(value)
    if bn.training or bn.running_mean is None or bn.running_var is None:
        return bn.bias if bn.bias is not None else torch.zeros_like(value)
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    out = (value - bn.running_mean) * scale
    return out + bn.bias if bn.bias is not None else out


class ResNetBasicBlock(nn.Module):
    """The reduction block between stages (official ``ResNetBasicblock`` with stride 2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class CellNetwork(nn.Module):
    """What the NB201 and mcu networks share: three stages of ``N`` cells at ``C, 2C, 4C`` channels with a
    reduction block between stages, then BN + ReLU, global average pool and a linear classifier. A subclass makes
    ``self.stem`` first, then calls :meth:`_build_body` (modules are made in the same order, so a seed gives the
    same initial weights)."""

    stem: nn.Module

    def _build_body(self, C: int, N: int, classes: int, make_cell: Callable[[int], nn.Module],
                    make_reduction: Callable[[int, int], nn.Module]) -> None:
        blocks: list[nn.Module] = []
        channels = C
        for stage in range(3):
            if stage > 0:
                blocks.append(make_reduction(channels, 2 * channels))
                channels *= 2
            blocks.extend(make_cell(channels) for _ in range(N))
        self.cells = nn.Sequential(*blocks)
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector before the classifier (for feature distillation)."""
        return self.global_pooling(self.lastact(self.cells(self.stem(x)))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class NB201Network(CellNetwork):
    """The NAS-Bench-201 network of one cell arch at a given macro-architecture."""

    def __init__(self, arch: Arch | str | int, C: int = 16, N: int = 5, in_ch: int = 3, classes: int = 10) -> None:
        super().__init__()
        if C < 1 or N < 0 or in_ch < 1 or classes < 1:
            raise ValueError(f"invalid macro C={C} N={N} in_ch={in_ch} classes={classes}")
        self.arch = parse_arch(arch)
        self.C, self.N, self.in_ch, self.classes = C, N, in_ch, classes
        self.stem = nn.Sequential(nn.Conv2d(in_ch, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self._build_body(C, N, classes, lambda ch: Cell(self.arch, ch), ResNetBasicBlock)


def build_model(
    arch: Arch | str | int, C: int = 16, N: int = 5, in_ch: int = 3, classes: int = 10
) -> NB201Network:
    """An NB201 network (training mode, default PyTorch init)."""
    return NB201Network(arch, C=C, N=N, in_ch=in_ch, classes=classes)


def count_params(model: nn.Module) -> int:
    """All trainable parameters (conv, BN affine, linear)."""
    return sum(p.numel() for p in model.parameters())


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial affine parameters and running statistics.

    Freshly initialised BNs are near-identity in eval mode; random stats make an untrained
    network's activations realistic for export and int8 calibration checks.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return model


__all__ = [
    "OPS",
    "Cell",
    "CellNetwork",
    "NB201Network",
    "ReLUConvBN",
    "ResNetBasicBlock",
    "build_model",
    "count_params",
    "randomize_batchnorm",
]

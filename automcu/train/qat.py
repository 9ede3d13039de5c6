"""Quantization-aware training: int8 fake-quant of weights (per output channel, symmetric) and activations.

Mirrors what the int8 export does: weights per-channel int8 in [-127, 127]; every activation tensor
the converter materializes (conv/BN outputs, pools, cell sums, the classifier, the model input) as
per-tensor affine int8 with a range tracked by an exponential moving average of min/max (always
containing 0, as TFLite nudges it). BatchNorm is folded into the preceding conv on export; since
per-channel symmetric quantization is invariant to a per-channel scale, fake-quantizing the unfolded
conv weight gives the same integer grid as the folded one. :func:`finish_qat` snaps the weights to
their grid and removes the fake-quant, so the exported int8 weights are the ones QAT trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils import parametrize


class PerChannelWeightFakeQuant(nn.Module):
    """Symmetric per-output-channel fake quantization (straight-through gradient): int8 by default, or
    ``bits`` wide (4: the values ``k · absmax / 7``, k in -7..7, the grid TFLite's symmetric 4-bit weights use)."""

    def __init__(self, bits: int = 8) -> None:
        super().__init__()
        if not 2 <= bits <= 8:
            raise ValueError(f"weight fake-quant takes 2 to 8 bits, got {bits}")
        self.qmax = 2 ** (bits - 1) - 1

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        flat = w.detach().reshape(w.shape[0], -1).abs().amax(dim=1)
        scale = torch.clamp(flat / self.qmax, min=1e-8).to(torch.float32)
        zero = torch.zeros(w.shape[0], dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -self.qmax, self.qmax)


class ActivationFakeQuant(nn.Module):
    """Per-tensor affine int8 fake quantization with an EMA min/max range observed in training mode."""

    def __init__(self, momentum: float = 0.05) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            lo, hi = x.detach().min(), x.detach().max()
            if not bool(self.seen):
                self.lo.copy_(lo)
                self.hi.copy_(hi)
                self.seen.fill_(True)
            else:
                self.lo.lerp_(lo, self.momentum)
                self.hi.lerp_(hi, self.momentum)
        lo = float(torch.clamp(self.lo, max=0.0))
        hi = float(torch.clamp(self.hi, min=0.0))
        scale = max((hi - lo) / 255.0, 1e-8)
        zero_point = int(max(-128, min(127, round(-128 - lo / scale))))
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, -128, 127)


#: modules whose outputs are int8 tensors in the exported graph
def _activation_points(model: nn.Module) -> list[nn.Module]:
    from search_spaces.nb201.torch_model import Cell, ResNetBasicBlock

    kinds = (nn.BatchNorm2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Linear, Cell, ResNetBasicBlock)
    return [m for m in model.modules() if isinstance(m, kinds)]


@dataclass
class QATHandle:
    """What :func:`prepare_qat` attached, so :func:`finish_qat` can take it off again."""

    model: nn.Module
    hooks: list[torch.utils.hooks.RemovableHandle] = field(default_factory=list)
    weighted: list[nn.Module] = field(default_factory=list)
    observers: nn.ModuleList = field(default_factory=nn.ModuleList)


def prepare_qat(model: nn.Module, momentum: float = 0.05, weight_bits: Mapping[nn.Module, int] | None = None
                ) -> QATHandle:
    """Attach weight and activation fake-quant to ``model`` in place; ``weight_bits`` gives some of its conv /
    linear modules another weight width than 8 (``--precision mixed``'s 4-bit layers)."""
    handle = QATHandle(model)
    bits = dict(weight_bits or {})
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            parametrize.register_parametrization(m, "weight", PerChannelWeightFakeQuant(bits.pop(m, 8)))
            handle.weighted.append(m)
    if bits:
        raise ValueError(f"weight_bits names {len(bits)} module(s) that are not conv/linear layers of the model")

    def make_hook(fq: ActivationFakeQuant):  # type: ignore[no-untyped-def]
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
            return fq(output)

        return hook

    for m in _activation_points(model):
        fq = ActivationFakeQuant(momentum)
        handle.observers.append(fq)
        handle.hooks.append(m.register_forward_hook(make_hook(fq)))
    input_fq = ActivationFakeQuant(momentum)
    handle.observers.append(input_fq)
    handle.hooks.append(model.register_forward_pre_hook(lambda _m, args: (input_fq(args[0]), *args[1:])))
    # the observers follow the model's train/eval mode through a hook on train()
    model._qat_observers = handle.observers  # type: ignore[assignment]
    return handle


def finish_qat(handle: QATHandle) -> nn.Module:
    """Snap weights to their int8 grid (kept as float values) and remove every fake-quant; returns the model."""
    for h in handle.hooks:
        h.remove()
    for m in handle.weighted:
        parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    model = handle.model
    if hasattr(model, "_qat_observers"):
        del model._qat_observers
    return model

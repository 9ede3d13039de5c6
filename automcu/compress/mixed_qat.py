"""``--precision mixed --qat``: fine-tune the network with its 4-bit layers fake-quantized at 4 bits, so that the
per-layer choice (:mod:`automcu.compress.mixed`) meets weights already on the 4-bit grid.

Post-training 4-bit weights cost accuracy layer by layer, and the choice stops where the sum of those costs leaves
the tolerance. Here every layer that may take 4-bit weights (``CONV_2D``) is trained a few epochs with 4-bit
per-channel fake quantization (the rest int8, activations int8, as QAT does), its weights snapped to that grid;
then the choice runs again on the fine-tuned network. Its choice replaces the first one only when it fits where
the first did not or saves Flash, and its accuracy on the sensitivity images stays within the tolerance of the
*original* uniform int8 network's as well as its own (paired: :func:`automcu.compress.mixed.refine_replaces`), so
the fine-tune never trades more accuracy than the user allowed.

The torch modules are matched to the ``.tflite``'s weight layers by execution order, op kind and weight shape
(BatchNorm is folded on export, so each conv is one weight op); a network where they do not line up is left as
the first choice made it, with the reason in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from automcu.deploy.mixed_export import WeightLayer


def executed_weight_modules(model: nn.Module, input_shape: tuple[int, int, int]) -> list[nn.Module]:
    """The conv / linear modules of ``model`` in the order one forward pass runs them (each once)."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda mod, _i, _o: order.append(mod))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    seen: set[int] = set()
    return [m for m in order if not (id(m) in seen or seen.add(id(m)))]  # type: ignore[func-returns-value]


def _kind(m: nn.Module) -> str:
    if isinstance(m, nn.Linear):
        return "FULLY_CONNECTED"
    assert isinstance(m, nn.Conv2d)
    return "DEPTHWISE_CONV_2D" if m.groups > 1 and m.groups == m.in_channels else "CONV_2D"


def _tflite_shape(m: nn.Module) -> tuple[int, ...]:
    """The weight shape the converter gives module ``m``: OHWI conv, 1HWO depthwise, OI linear."""
    w = m.weight
    if isinstance(m, nn.Linear):
        return tuple(w.shape)
    o, i, kh, kw = w.shape
    return (1, kh, kw, o) if _kind(m) == "DEPTHWISE_CONV_2D" else (o, kh, kw, i)


def _single_input_conv_as_depthwise(m: nn.Module, layer: WeightLayer) -> bool:
    """A conv of one input channel (a grayscale stem) that the converter wrote as a depthwise conv (the same
    arithmetic: a channel multiplier of ``out``)."""
    if not isinstance(m, nn.Conv2d) or m.in_channels != 1 or m.groups != 1 or layer.kind != "DEPTHWISE_CONV_2D":
        return False
    o, _, kh, kw = m.weight.shape
    return layer.weight_shape == (1, kh, kw, o)


def _channel_rows(m: nn.Module) -> np.ndarray:
    """``m``'s weights, one row per output channel (OI linear; OIHW conv, O1HW depthwise -> (O, I*kh*kw))."""
    w = m.weight.detach().double()
    return w.reshape(w.shape[0], -1).numpy()


def _rows(layer: WeightLayer, weights: np.ndarray) -> np.ndarray:
    """The ``.tflite`` layer's weights, one row per output channel (depthwise: the last axis is the channel)."""
    w = weights.astype(np.float64)
    if layer.kind == "DEPTHWISE_CONV_2D":
        return np.moveaxis(w.reshape(-1, w.shape[-1]), -1, 0)  # (1, kh, kw, O) -> (O, kh*kw)
    if layer.kind == "CONV_2D":
        return np.moveaxis(w, -1, 1).reshape(w.shape[0], -1)  # OHWI -> (O, I*kh*kw), torch's OIHW order
    return w


def alignment(m: nn.Module, layer: WeightLayer, weights: np.ndarray) -> float:
    """The least |cosine| over output channels between ``m``'s weights and the layer's: 1 when the layer is ``m``
    exported (folding BatchNorm scales each output channel, which keeps its direction), lower otherwise."""
    a, b = _channel_rows(m), _rows(layer, weights)
    if a.shape != b.shape:
        return 0.0
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    live = (na > 1e-12) & (nb > 1e-12)
    if not live.any():
        return 1.0 if not (na > 1e-12).any() and not (nb > 1e-12).any() else 0.0
    if (na > 1e-12).sum() != (nb > 1e-12).sum():
        return 0.0
    cos = np.abs((a[live] * b[live]).sum(axis=1)) / (na[live] * nb[live])
    return float(cos.min())


#: least :func:`alignment` for a torch module to be taken as a ``.tflite`` layer
MIN_ALIGNMENT = 0.999


def _fits(m: nn.Module, layer: WeightLayer) -> bool:
    return _single_input_conv_as_depthwise(m, layer) or (
        _kind(m) == layer.kind and _tflite_shape(m) == layer.weight_shape)


def match_layers(modules: Sequence[nn.Module], layers: Sequence[WeightLayer],
                 weights: Sequence[np.ndarray] | None = None) -> dict[int, nn.Module]:
    """``.tflite`` weight-layer position → torch module; ValueError saying where the two stop lining up.

    Without ``weights`` the two are matched in execution order. With the layers' float weights
    (:func:`automcu.deploy.mixed_export.weight_arrays`) each layer takes the module of its kind and shape whose
    weights it carries: the converter may run independent edges of a cell in another order than torch does."""
    if len(modules) != len(layers):
        raise ValueError(f"the network runs {len(modules)} conv/linear layers, the .tflite has {len(layers)}")
    out: dict[int, nn.Module] = {}
    if weights is None:
        for layer, m in zip(layers, modules, strict=True):
            if not _fits(m, layer):
                raise ValueError(f"layer {layer.label()} does not match the network's {_kind(m)}"
                                 f"{list(_tflite_shape(m))}")
            out[layer.position] = m
        return out
    free = list(modules)
    for layer, w in zip(layers, weights, strict=True):
        scored = [(alignment(m, layer, w), k) for k, m in enumerate(free) if _fits(m, layer)]
        if not scored:
            raise ValueError(f"layer {layer.label()} has no unmatched module of its kind and shape in the network")
        best, k = max(scored)
        if best < MIN_ALIGNMENT:
            raise ValueError(f"layer {layer.label()}'s weights are none of the network's (best alignment {best:.3f})")
        out[layer.position] = free.pop(k)
    return out


def finetune_w4(model: nn.Module, w4: Sequence[nn.Module], train: Any) -> nn.Module:
    """A copy of ``model`` fine-tuned by ``train(model)`` with the modules ``w4`` (of ``model``) fake-quantized at
    4 bits and everything else at int8; returned with its weights snapped to those grids."""
    import copy

    from automcu.train.qat import finish_qat, prepare_qat

    index = {id(m): k for k, m in enumerate(model.modules())}
    wanted = {index[id(m)] for m in w4}
    tuned = copy.deepcopy(model)
    bits = {m: 4 for k, m in enumerate(tuned.modules()) if k in wanted}
    handle = prepare_qat(tuned, weight_bits=bits)
    train(tuned)
    return finish_qat(handle).eval()


def on_grid(weight: torch.Tensor, bits: int) -> bool:
    """Whether every output channel of ``weight`` is a multiple of its own ``absmax / (2^(bits-1) - 1)``."""
    qmax = 2 ** (bits - 1) - 1
    flat = weight.detach().reshape(weight.shape[0], -1)
    scale = flat.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / qmax
    k = flat / scale
    return bool(torch.allclose(k, k.round(), atol=1e-3))

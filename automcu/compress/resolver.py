"""The op list as TFLM's ``MicroMutableOpResolver`` wants it: ``AddConv2D()`` etc. and the template size."""

from __future__ import annotations

#: TFLite builtin op → MicroMutableOpResolver method (TFLM's micro_mutable_op_resolver.h)
_SPECIAL = {
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "MAX_POOL_2D": "AddMaxPool2D",
    "FULLY_CONNECTED": "AddFullyConnected",
    "RELU6": "AddRelu6",
    "L2_NORMALIZATION": "AddL2Normalization",
}


def resolver_method(op: str) -> str:
    if op in _SPECIAL:
        return _SPECIAL[op]
    return "Add" + "".join(part.capitalize() for part in op.split("_"))


def resolver_snippet(ops: list[str]) -> str:
    """C++ that registers exactly the model's ops."""
    lines = [f"static tflite::MicroMutableOpResolver<{len(ops)}> op_resolver;"]
    lines += [f"op_resolver.{resolver_method(op)}();" for op in ops]
    return "\n".join(lines) + "\n"

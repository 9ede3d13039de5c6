"""Rewrite a ``.tflite`` flatbuffer so TensorFlow Lite Micro reads it right and its size is the real Flash.

- Buffers stored *after* the flatbuffer (``Buffer.offset``/``size``, which litert-torch and
  ai-edge-quantizer emit for larger models) are moved inline. TFLM mis-reads them — wrong outputs,
  no error — and a plain object-API round trip silently drops their bytes.
- Every buffer's data is aligned to 16 bytes, as the TFLite converter does (int32 biases and
  per-channel data are read with word loads on Cortex-M).
- Tensor and subgraph names are dropped on request: litert-torch names tensors by module path,
  which is a third of a small model's bytes and nothing TFLM needs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BUFFER_ALIGNMENT = 16


def _schema() -> Any:
    from tflite_micro import runtime

    return runtime


def _aligned_buffer_cls(schema_fb: Any) -> type:
    base = schema_fb.BufferT

    class AlignedBufferT(base):  # type: ignore[misc, valid-type]
        def Pack(self, builder: Any) -> int:
            data_off = None
            if self.data is not None:
                payload = np.ascontiguousarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
                builder.head = builder.head - len(payload)
                builder.Bytes[builder.head : builder.head + len(payload)] = payload
                builder.vectorNumElems = len(payload)
                data_off = builder.EndVector()
            schema_fb.BufferStart(builder)
            if data_off is not None:
                schema_fb.BufferAddData(builder, data_off)
            return schema_fb.BufferEnd(builder)

    return AlignedBufferT


def normalize(data: bytes, strip_names: bool = True) -> bytes:
    """The model re-serialized with every buffer inline and aligned (and names stripped)."""
    import flatbuffers

    runtime = _schema()
    schema_fb = runtime.schema_fb
    model = runtime.convert_bytearray_to_object(bytearray(data))
    aligned = _aligned_buffer_cls(schema_fb)
    buffers = []
    for buf in model.buffers or []:
        new = aligned()
        if buf is not None:
            if buf.offset and buf.offset > 1:
                end = buf.offset + buf.size
                if end > len(data):
                    raise ValueError("tflite buffer points past the end of the file")
                new.data = np.frombuffer(data[buf.offset : end], dtype=np.uint8).copy()
            elif buf.data is not None and len(buf.data):
                new.data = np.asarray(buf.data, dtype=np.uint8)
        buffers.append(new)
    model.buffers = buffers
    if strip_names:
        for sg in model.subgraphs or []:
            sg.name = None
            for t in sg.tensors or []:
                t.name = b""
    builder = flatbuffers.Builder(max(1024, len(data)))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def has_offset_buffers(data: bytes) -> bool:
    """True when some buffer lives outside the flatbuffer (the TFLM pitfall)."""
    runtime = _schema()
    model = runtime.schema_fb.Model.GetRootAsModel(bytearray(data), 0)
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf is not None and buf.Offset() > 1:
            return True
    return False


def model_stats(data: bytes) -> dict[str, int]:
    """Where a ``.tflite``'s bytes go: constant buffers, quantization params, counts."""
    runtime = _schema()
    model = runtime.schema_fb.Model.GetRootAsModel(bytearray(data), 0)
    buffer_bytes = 0
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        if buf is not None:
            buffer_bytes += buf.DataLength() or (buf.Size() if buf.Offset() > 1 else 0)
    sg = model.Subgraphs(0)
    quant_bytes = 0
    per_channel = 0
    for i in range(sg.TensorsLength()):
        q = sg.Tensors(i).Quantization()
        if q is not None:
            quant_bytes += 4 * q.ScaleLength() + 8 * q.ZeroPointLength()
            per_channel += int(q.ScaleLength() > 1)
    return {
        "file_bytes": len(data),
        "buffer_bytes": buffer_bytes,
        "quant_param_bytes": quant_bytes,
        "n_buffers": model.BuffersLength(),
        "n_tensors": sg.TensorsLength(),
        "n_per_channel_tensors": per_channel,
        "n_ops": sg.OperatorsLength(),
        "n_operator_codes": model.OperatorCodesLength(),
    }

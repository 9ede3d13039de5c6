"""Bundle pieces that need no torch: the C array, the op-resolver list, the request checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from automcu.compress.c_array import c_identifier, parse_c_array, write_c_array
from automcu.compress.request import CompressRequest
from automcu.compress.resolver import resolver_method, resolver_snippet


def test_c_array_round_trips_and_is_aligned(tmp_path: Path) -> None:
    data = bytes(range(256)) * 3 + b"\x07"
    header, source = write_c_array(data, tmp_path, symbol="g_model")
    text = source.read_text()
    assert parse_c_array(text) == data
    assert "alignas(16) const unsigned char g_model[]" in text and '#include "model_data.h"' in text
    h = header.read_text()
    assert f"constexpr unsigned int g_model_len = {len(data)};" in h and "#ifndef AUTOMCU_G_MODEL_H_" in h
    assert c_identifier("9-model.x") == "m_9_model_x"


def test_resolver_methods_follow_tflm_names() -> None:
    assert resolver_method("CONV_2D") == "AddConv2D"
    assert resolver_method("DEPTHWISE_CONV_2D") == "AddDepthwiseConv2D"
    assert resolver_method("AVERAGE_POOL_2D") == "AddAveragePool2D"
    assert resolver_method("FULLY_CONNECTED") == "AddFullyConnected"
    assert resolver_method("RELU") == "AddRelu" and resolver_method("ADD") == "AddAdd"
    snippet = resolver_snippet(["ADD", "CONV_2D", "MEAN"])
    assert snippet.startswith("static tflite::MicroMutableOpResolver<3> op_resolver;")
    assert "op_resolver.AddMean();" in snippet


def test_request_rejects_bad_numbers(tmp_path: Path) -> None:
    ok = CompressRequest(arch="1", dataset="digits", out_dir=tmp_path, epochs=4)
    assert ok.effective_qat_epochs == 2 and ok.to_dict()["out_dir"] == str(tmp_path)
    for kw, msg in (({"epochs": 0}, "--epochs"), ({"C": 0}, "--C"), ({"lr": 0.0}, "--lr"),
                    ({"qat_epochs": 0}, "--qat-epochs"), ({"train_limit": 0}, "--train-limit")):
        with pytest.raises(ValueError, match=msg):
            CompressRequest(arch="1", dataset="digits", out_dir=tmp_path, **kw)

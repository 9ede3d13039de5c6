"""A converter failure becomes one ExportError naming the step, with the tail of what the converter printed."""

from __future__ import annotations

import os

import pytest

from automcu.deploy.exporter import ExportError, _converter_step


def test_a_failing_converter_step_is_one_clear_error_with_its_output() -> None:
    with pytest.raises(ExportError, match=r"^int8 quantization failed: boom \[converter said this\]$") as info:
        with _converter_step("int8 quantization"):
            os.write(2, b"converter said this\n")  # native converters write to the fd, not sys.stdout
            raise ValueError("boom")
    assert isinstance(info.value.__cause__, ValueError)


def test_a_passing_step_leaves_its_results_alone() -> None:
    with _converter_step("ONNX export"):
        result = 41 + 1
    assert result == 42

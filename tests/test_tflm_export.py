"""Export NB201 nets to full-int8 .tflite and run them in the real TFLite Micro interpreter.

Small macros so the module stays well under a minute; needs the ``tflite`` extra (skipped without it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")
tflite_micro = pytest.importorskip("tflite_micro")

from automcu.deploy import flatbuffer, tflm, verify  # noqa: E402
from automcu.deploy.exporter import export_int8  # noqa: E402
from automcu.deploy.extras import MissingExtraError, require_extra  # noqa: E402
from automcu.hardware.catalog import get_board  # noqa: E402
from automcu.hardware.estimator import Macro  # noqa: E402
from search_spaces.nb201.space import Arch  # noqa: E402
from search_spaces.nb201.torch_model import build_model, randomize_batchnorm  # noqa: E402

pytestmark = [pytest.mark.tflm, pytest.mark.slow]

MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
#: a handful of archs spanning the space: conv-heavy, conv1x1, pool/skip only, ResNet-like
ARCHS = (
    MIXED,
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
)
#: convs of nodes that ignore the input: constants, ADDed once, folded into a conv's bias where one precedes
CONSTANT_NODES = "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|"
SMALL = Macro(C=8, N=1, in_ch=3, hw=16, classes=10)
GRAY = (1, 16, 16)  # in_ch=1: the stem becomes DEPTHWISE_CONV_2D


@pytest.fixture(scope="module", autouse=True)
def _cache_in_tmp(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("tflite_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(verify, "cache_dir", lambda: folder)
        yield folder


@pytest.fixture(scope="module")
def exported():  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = randomize_batchnorm(build_model(MIXED, C=8, N=1, in_ch=1, classes=10), seed=0).eval()
    return model, export_int8(model, GRAY, n_calibration=16, seed=0)


def test_export_is_full_int8_inline_and_nameless(exported) -> None:  # type: ignore[no-untyped-def]
    _, ex = exported
    assert ex.input.dtype == "int8" and ex.output.dtype == "int8"
    assert ex.input.shape == (1, 16, 16, 1) and ex.output.shape == (1, 10)
    ops = [o.op for o in tflm.model_ops(ex.tflite)]
    assert "QUANTIZE" not in ops and "DEQUANTIZE" not in ops
    assert ops[0] == "DEPTHWISE_CONV_2D" and ops[-1] == "FULLY_CONNECTED"
    assert not flatbuffer.has_offset_buffers(ex.tflite)
    m = tflite_micro.runtime.convert_bytearray_to_object(bytearray(ex.tflite))
    assert all(not t.name for t in m.subgraphs[0].tensors)
    assert len(ex.tflite) < len(ex.float_tflite)


def test_tflm_int8_output_close_to_float_model(exported) -> None:  # type: ignore[no-untyped-def]
    model, ex = exported
    runner = tflm.TFLMModel(ex.tflite)
    g = torch.Generator().manual_seed(1)
    cos, agree = [], 0
    for _ in range(10):
        x = torch.randn(1, *GRAY, generator=g)
        with torch.no_grad():
            ref = model(x).numpy().ravel()
        y = runner.predict(x.permute(0, 2, 3, 1).numpy()).ravel()
        cos.append(float(y @ ref / (np.linalg.norm(y) * np.linalg.norm(ref))))
        agree += int(y.argmax() == ref.argmax())
    assert min(cos) > 0.99, cos
    assert agree >= 8


def test_smallest_arena_is_tight(exported) -> None:  # type: ignore[no-untyped-def]
    _, ex = exported
    breakdown = tflm.arena_breakdown(ex.tflite)
    assert breakdown.total == breakdown.head + breakdown.tail > 0
    n = tflm.smallest_arena(ex.tflite, hint=breakdown.total)
    assert n % tflm.ARENA_ALIGNMENT == 0
    x = np.zeros((1, 16, 16, 1), np.int8)
    assert tflm._runs_with(ex.tflite, n, x)
    assert not tflm._runs_with(ex.tflite, n - tflm.ARENA_ALIGNMENT, x)
    assert abs(n - breakdown.total) <= tflm.ARENA_ALIGNMENT
    with pytest.raises(tflm.ModelError):
        tflm.TFLMModel(ex.tflite, arena_size=n // 4)


def _offset_form(data: bytes) -> bytes:
    """The same model with every weight buffer stored after the flatbuffer (as large exports are)."""
    import flatbuffers

    runtime = tflite_micro.runtime
    model = runtime.convert_bytearray_to_object(bytearray(data))
    moved = []
    for b in model.buffers:
        if b is not None and b.data is not None and len(b.data):
            moved.append((b, bytes(np.asarray(b.data, np.uint8))))
            b.data, b.offset, b.size = None, 1 << 40, len(moved[-1][1])

    def pack() -> bytes:
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    head_len = len(pack())
    pos = -(-head_len // 16) * 16
    for b, payload in moved:
        b.offset = pos
        pos = -(-(pos + len(payload)) // 16) * 16
    head = pack()
    assert len(head) == head_len
    out = bytearray(head)
    for b, payload in moved:
        out.extend(b"\0" * (b.offset - len(out)))
        out.extend(payload)
    return bytes(out)


def test_offset_stored_buffers_are_inlined(exported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, ex = exported
    offset = _offset_form(ex.tflite)
    assert flatbuffer.has_offset_buffers(offset)
    fixed = flatbuffer.normalize(offset)
    assert not flatbuffer.has_offset_buffers(fixed)
    x = np.random.default_rng(0).integers(-128, 128, size=(1, 16, 16, 1), dtype=np.int8)
    np.testing.assert_array_equal(tflm.TFLMModel(fixed).invoke(x), tflm.TFLMModel(ex.tflite).invoke(x))
    path = tmp_path / "offset.tflite"
    path.write_bytes(offset)
    with pytest.raises(tflm.ModelError, match="outside the flatbuffer"):
        verify.verify_tflite(path, None)


def test_op_list_matches_graph(exported) -> None:  # type: ignore[no-untyped-def]
    _, ex = exported
    ops = tflm.model_ops(ex.tflite)
    assert [o.index for o in ops] == list(range(len(ops)))
    assert ops[-1].output == [1, 10]
    assert {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "MEAN", "FULLY_CONNECTED"} <= set(tflm.op_resolver_ops(ex.tflite))


@pytest.mark.parametrize("arch", [*ARCHS, CONSTANT_NODES])
def test_estimator_matches_tflm(arch: str) -> None:
    """Same op graph as the export; arena and Flash within 3 % (64 benchmark models: worst 1.3 %)."""
    res = verify.verify_arch(Arch.from_string(arch), SMALL, None)
    assert res.error_pct is not None
    assert abs(res.error_pct["sram"]) <= 3.0, res.error_pct
    assert abs(res.error_pct["flash"]) <= 3.0, res.error_pct
    assert res.fits is None and res.regions == []
    assert res.op_count == res.estimate["n_ops"]


def test_verify_arch_fits_and_overflow_messages(tmp_path: Path) -> None:
    arch = Arch.from_string(ARCHS[1])
    big = verify.verify_arch(arch, SMALL, get_board("stm32h743"), keep_dir=tmp_path)
    assert big.fits is True and Path(big.tflite or "").stat().st_size == big.flash_bytes
    assert (tmp_path / "ops.json").is_file()
    tiny = get_board("stm32h743").model_copy(update={"sram_kb": 16.0, "flash_kb": 64.0, "name": "tiny"})
    small = verify.verify_arch(arch, SMALL, tiny)
    assert small.fits is False and small.cached
    assert any("overflows by" in m for m in small.messages)
    sram = next(r for r in small.regions if r.name == "sram")
    assert sram.free_bytes == sram.limit_bytes - sram.total_bytes < 0


def test_verify_cli_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from automcu.cli.app import app

    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "verify",
            "--arch",
            MIXED,
            "--C",
            "8",
            "--N",
            "1",
            "--in-ch",
            "3",
            "--hw",
            "16",
            "--board",
            "stm32f746",
            "--keep",
            str(tmp_path),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert {"arena_bytes", "flash_bytes", "fits", "tflite", "estimate", "error_pct"} <= set(payload)
    assert payload["fits"] is True
    assert set(payload["error_pct"]) == {"sram", "flash"}
    kept = Path(payload["tflite"])
    assert kept.stat().st_size == payload["flash_bytes"]

    r2 = runner.invoke(app, ["verify", str(kept), "--board", "stm32f746", "--json"])
    assert r2.exit_code == 0, r2.output
    p2 = json.loads(r2.stdout)
    assert p2["arena_bytes"] == payload["arena_bytes"] and p2["flash_bytes"] == payload["flash_bytes"]
    assert "error_pct" not in p2

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    r3 = runner.invoke(app, ["verify", str(bad), "--board", "stm32f746", "--json"])
    assert r3.exit_code == 2 and "not a TensorFlow Lite model" in r3.output
    r4 = runner.invoke(app, ["verify", "--board", "stm32f746"])
    assert r4.exit_code == 2


def test_missing_extra_names_install_command() -> None:
    with pytest.raises(MissingExtraError, match=r"pip install .*automcu\[tflite\]"):
        require_extra("tflite_micro", "surely_not_installed_module_xyz")


def test_tensor_lifetimes_reproduce_tflm_head(exported) -> None:  # type: ignore[no-untyped-def]
    """Greedy first-fit over the real lifetimes, largest first and ties by higher tensor index first,
    gives exactly the head TFLM's planner reports."""
    _, ex = exported
    life = tflm.tensor_lifetimes(ex.tflite)

    def align(n: int) -> int:
        return -(-n // 16) * 16

    offsets: dict[int, int] = {}
    head = 0
    for i in sorted(range(len(life)), key=lambda k: (-align(life[k][0]), -life[k][3])):
        size, first, last, _ = life[i]
        busy = sorted((offsets[j], offsets[j] + align(life[j][0])) for j in offsets
                      if life[j][1] <= last and first <= life[j][2])
        off = 0
        for start, end in busy:
            if start - off >= align(size):
                break
            off = max(off, end)
        offsets[i] = off
        head = max(head, off + align(size))
    assert head == tflm.arena_breakdown(ex.tflite).head


def test_kernel_scratch_of_a_tflite_is_planned_like_the_estimate(exported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The deploy check of a user's ``.tflite`` adds what CMSIS-NN's scratch buffers add to the planned
    arena (not the largest buffer on top): the same figure as the feasibility agent's estimate of that net,
    so a model estimated to fit is not refused for a worst case the planner never meets."""
    from automcu.hardware.cycles import core_model
    from automcu.hardware.estimator import estimate

    _, ex = exported
    board = get_board("STM32F746")
    macro = Macro(C=8, N=1, in_ch=1, hw=16, classes=10)
    path = tmp_path / "model.tflite"
    path.write_bytes(ex.tflite)
    res = verify.verify_tflite(path, board)
    sram = next(r for r in res.regions if r.name == "sram")
    planned = (estimate(MIXED, board, macro).arena_bytes
               - estimate(MIXED, None, macro).arena_bytes)
    assert sram.kernel_scratch_bytes == planned
    ops = [o.model_dump() for o in tflm.model_ops(ex.tflite)]
    worst = max(verify._op_scratch(o, core_model(board.core)) for o in ops)
    assert 0 <= sram.kernel_scratch_bytes <= worst and worst > 0
    assert sram.total_bytes == res.arena_bytes + sram.kernel_scratch_bytes + sram.runtime_bytes

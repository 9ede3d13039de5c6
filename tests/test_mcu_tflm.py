"""mcu-space archs (dw-sep convs, strided stem) and the DS-CNN baseline exported to int8 and run in TFLite Micro.

The estimator's op graph must be the converter's, op for op, and its arena and Flash within 1 % of the
measured ones (the tolerance of ``tests/test_estimator.py``); the baseline scaled to F411-class limits
(64 KB SRAM / 256 KB Flash, runtime included) must fit when measured. Needs the ``tflite`` extra.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("litert_torch")
pytest.importorskip("ai_edge_quantizer")
pytest.importorskip("tflite_micro")

from automcu.deploy import verify
from automcu.deploy.tflm import model_ops
from automcu.deploy.verify_mcu import export_baseline, export_mcu_arch, verify_baseline, verify_mcu_arch
from automcu.hardware.baseline import build_dscnn_graph, estimate_dscnn, scale_dscnn
from automcu.hardware.catalog import resolve_hardware
from automcu.hardware.graph import build_mcu_graph
from search_spaces.baselines.dscnn import DSCNN_WIDTHS, DSCNNSpec
from search_spaces.mcu.space import DWSEP, MCUArch

pytestmark = [pytest.mark.tflm, pytest.mark.slow]

ARCHS = (
    # stride-2 stem (PAD + depthwise stem), odd 7×7 maps in stage 2 (SAME 3×3/s2, no PAD), three dw-sep edges
    "C8-N1-S2:|dw_sep_conv_3x3~0|+|nor_conv_3x3~0|dw_sep_conv_3x3~1|+|skip_connect~0|none~1|dw_sep_conv_3x3~2|",
    # stride-1 stem; node 1 ignores the input, so dw-sep of it is a constant folded into a pointwise bias
    "C12-N1-S1:|none~0|+|dw_sep_conv_3x3~0|dw_sep_conv_3x3~1|+|nor_conv_1x1~0|dw_sep_conv_3x3~1|nor_conv_3x3~2|",
)
F411_CLASS = dict(board="stm32f411", sram_kb=64, flash_kb=256)


@pytest.fixture(scope="module", autouse=True)
def _cache_in_tmp(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("tflite_cache_mcu")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(verify, "cache_dir", lambda: folder)
        yield folder


@pytest.mark.parametrize("text", ARCHS)
def test_mcu_estimate_matches_tflm(text: str) -> None:
    arch = MCUArch.from_string(text)
    assert arch.count(DWSEP) >= 2
    data, _ = export_mcu_arch(arch, 1, 28, 10)
    measured_ops = [o.op for o in model_ops(data)]
    assert measured_ops == [op.kind for op in build_mcu_graph(arch, 1, 28, 10).ops]
    assert "DEPTHWISE_CONV_2D" in measured_ops
    res = verify_mcu_arch(arch, None, 1, 28, 10)
    assert res.cached  # the export above is reused
    est = res.estimate or {}
    assert est["sram"]["arena_head_planned"] == res.arena.head  # the planner's head, exactly
    assert abs(est["arena_bytes"] - res.arena_bytes) / res.arena_bytes < 0.01
    assert abs(est["flash"]["model_total"] - res.flash_bytes) / res.flash_bytes < 0.01
    assert res.error_pct is not None and max(abs(v) for v in res.error_pct.values()) < 1.0


def test_baseline_fits_f411_class_limits_in_tflm() -> None:
    hw = resolve_hardware(**F411_CLASS)
    assert hw is not None and hw.sram_kb == 64 and hw.flash_kb == 256
    spec, est = scale_dscnn(hw, in_ch=1, hw=28, classes=10)
    assert est.peak_sram_bytes <= hw.sram_bytes and est.flash_bytes <= hw.flash_bytes
    # the next wider DS-CNN (same stem) does not fit: the scaling uses the budget
    wider = [w for w in DSCNN_WIDTHS if w > spec.width]
    if wider:
        over = estimate_dscnn(DSCNNSpec(width=min(wider), stem_stride=spec.stem_stride), hw, 1, 28, 10)
        assert over.peak_sram_bytes > 0.95 * hw.sram_bytes or over.flash_bytes > 0.95 * hw.flash_bytes
    data, _ = export_baseline(spec, 1, 28, 10)
    assert [o.op for o in model_ops(data)] == [op.kind for op in build_dscnn_graph(spec, 1, 28, 10).ops]
    res = verify_baseline(spec, hw, 1, 28, 10)
    assert res.fits is True, res.messages
    sram, flash = (r for r in sorted(res.regions, key=lambda r: r.name != "sram"))
    assert sram.total_bytes <= 64 * 1024 and flash.total_bytes <= 256 * 1024
    err = res.error_pct or {}
    assert abs(err["sram"]) < 1.0 and abs(err["flash"]) < 1.0, err


def test_cli_verify_takes_an_mcu_arch(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from automcu.cli.app import app

    # exported first (cached): the CLI's fresh-export path prints the converter's progress on stdout under
    # CliRunner, which breaks --json there (tests/test_tflm_export.py::test_verify_cli_json, not this change)
    export_mcu_arch(MCUArch.from_string(ARCHS[0]), 1, 28, 10)
    res = CliRunner().invoke(app, ["verify", "--arch", ARCHS[0], "--dataset", "fashion-mnist", "--board", "stm32f411",
                                   "--sram-kb", "64", "--flash-kb", "256", "--keep", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["arch"] == ARCHS[0] and r["index"] == MCUArch.from_string(ARCHS[0]).code and r["fits"] is True
    assert r["macro"]["stem_stride"] == 2 and r["macro"]["hw"] == 28
    assert max(abs(v) for v in r["error_pct"].values()) < 1.0
    assert (tmp_path / "model.tflite").stat().st_size == r["flash_bytes"]
    res = CliRunner().invoke(app, ["verify", "--arch", ARCHS[0], "--C", "16", "--dataset", "fashion-mnist"])
    assert res.exit_code == 2 and "carries its own C and N" in res.output

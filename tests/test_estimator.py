"""Estimator: NB201 counts, the op graph that TFLM runs, whole-space sweep vs per-arch estimates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from automcu.hardware.arena import plan
from automcu.hardware.catalog import get_board
from automcu.hardware.costs import lifetimes
from automcu.hardware.estimator import Macro, estimate, estimate_all
from automcu.hardware.graph import build_graph
from search_spaces.nb201.index import arch_of_index, index_of
from search_spaces.nb201.space import Arch
from search_spaces.nb201.table import load_table

MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_nb201_params_and_macs_match_table_for_whole_space() -> None:
    fig = estimate_all(None, Macro())
    table = load_table().columns
    assert np.array_equal(fig["nb201_params"], np.round(table["params_M"] * 1e6).astype(np.int64))
    flops = table["flops_M"] * 1e6
    assert np.max(np.abs(fig["nb201_macs"] - flops) / flops) <= 0.01


def test_deployed_macs_equal_table_when_every_edge_is_live() -> None:
    fig = estimate_all(None, Macro())
    table = load_table()
    live_all = np.array([all(Arch(tuple(int(o) for o in r)).live_edges()[e] or r[e] == 0 for e in range(6))
                         for r in table.ops[:500]])
    idx = np.flatnonzero(live_all)
    assert len(idx) > 100
    rel = np.abs(fig["macs"][idx] - table.columns["flops_M"][idx] * 1e6) / (table.columns["flops_M"][idx] * 1e6)
    assert rel.max() <= 0.01


# Measured with litert-torch 0.10.0 → ai-edge-quantizer static_wi8_ai8 → tflite_micro (names stripped):
# (arch, C, N, in_ch, hw, op counts, arena head, arena total, .tflite bytes)
MEASURED = [
    (MIXED, 8, 1, 3, 32, {"CONV_2D": 16, "RELU": 8, "AVERAGE_POOL_2D": 8, "ADD": 12, "PAD": 2, "SUB": 1, "MUL": 2,
                          "MEAN": 1, "FULLY_CONNECTED": 1}, 40960, 53712, 65472),
    (ALL_CONV, 8, 1, 3, 32, {"CONV_2D": 25, "ADD": 12, "AVERAGE_POOL_2D": 2, "RELU": 2, "PAD": 2, "SUB": 1,
                             "MUL": 2, "MEAN": 1, "FULLY_CONNECTED": 1}, 40960, 55568, 118552),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_3x3~2|", 8, 1, 3, 32,
     {"CONV_2D": 13, "AVERAGE_POOL_2D": 2, "RELU": 2, "PAD": 2, "ADD": 2, "MEAN": 1, "FULLY_CONNECTED": 1},
     21536, 29296, 57392),
    (MIXED, 16, 5, 3, 32, {"CONV_2D": 52, "RELU": 32, "AVERAGE_POOL_2D": 32, "ADD": 48, "PAD": 2, "SUB": 1,
                           "MUL": 2, "MEAN": 1, "FULLY_CONNECTED": 1}, 81920, 129248, 675816),
]


@pytest.mark.parametrize(("arch", "C", "N", "in_ch", "hw", "ops", "head", "arena", "size"), MEASURED)
def test_graph_and_memory_match_measured_tflm(arch: str, C: int, N: int, in_ch: int, hw: int, ops: dict[str, int],
                                              head: int, arena: int, size: int) -> None:
    g = build_graph(Arch.from_string(arch), C, N, in_ch, hw, 10)
    counts: dict[str, int] = {}
    for op in g.ops:
        counts[op.kind] = counts.get(op.kind, 0) + 1
    assert counts == ops
    e = estimate(arch, None, Macro(C=C, N=N, in_ch=in_ch, hw=hw))
    assert e.sram["arena_head_planned"] == head
    assert abs(e.arena_bytes - arena) / arena < 0.01
    assert abs(e.flash["model_total"] - size) / size < 0.01


def arch_index(s: str) -> int:
    return index_of(Arch.from_string(s))


MEASURED_JSON = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "tflm_measured.json"


def test_graph_and_planner_reproduce_every_recorded_tflm_model() -> None:
    """The 64 exported models of ``benchmarks/estimator_accuracy.py``: same ops in the same order with the
    same output shapes, the same planned tensor lifetimes, and the same arena head as TFLM's planner."""
    records = json.loads(MEASURED_JSON.read_text())["records"]
    assert len(records) >= 60
    for rec in records:
        m = rec["macro_params"]
        g = build_graph(Arch.from_string(rec["arch"]), m["C"], m["N"], m["in_ch"], m["hw"], m["classes"])
        assert [(op.kind, list(g.tensors[op.output].shape)) for op in g.ops] == \
            [(o["op"], o["output"][1:]) for o in rec["ops"]], rec["arch"]
        buffers = lifetimes(g)
        assert sorted((b.size, b.first, b.last) for b in buffers) == \
            sorted(tuple(t[:3]) for t in rec["planned_tensors"]), rec["arch"]
        assert plan(buffers)[0] == rec["arena"]["head"], rec["arch"]


def test_one_channel_stem_is_depthwise() -> None:
    g = build_graph(Arch.from_string(MIXED), 8, 1, 1, 28, 10)
    assert g.ops[0].kind == "DEPTHWISE_CONV_2D"


def test_breakdown_regions_add_up() -> None:
    board = get_board("STM32F746")
    e = estimate(MIXED, board, Macro())
    assert e.flash_bytes == e.flash["model_total"] + e.flash["runtime_code"]
    parts = ("weights_int8", "biases_int32", "other_constants", "quant_params", "flatbuffer_overhead")
    assert e.flash["model_total"] == sum(e.flash[k] for k in parts)
    assert e.sram["arena"] == e.sram["arena_head_planned"] + e.sram["persistent"]
    assert e.peak_sram_bytes == e.sram["arena"] + e.sram["runtime"]
    assert e.sram["scratch"] > 0  # CMSIS-NN im2col on a Cortex-M7
    assert e.peak_layer and e.peak_layer.startswith("stage1")
    assert e.left_out


@pytest.mark.parametrize(("board", "dataset"), [(None, "cifar10"), ("STM32F746", "cifar10"),
                                                ("RP2040", "ImageNet16-120"), ("Alif-E3-HP", "cifar100")])
def test_estimate_all_agrees_with_estimate(board: str | None, dataset: str) -> None:
    hw = get_board(board) if board else None
    macro = Macro.for_dataset(dataset)
    fig = estimate_all(hw, macro)
    rng = np.random.default_rng(1)
    # + archs where the planner needs more slots than tensors live at once, constant nodes, a 3x3 conv
    # of a constant node
    tricky = [4122, 14274, 13167, 2434, 1775, 3426, 7239, 9108,
              arch_index("|none~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")]
    for i in [*rng.choice(15625, 25, replace=False).tolist(), 0, 6111, 15624, *tricky]:
        e = estimate(arch_of_index(i), hw, macro)
        for key in ("flash_bytes", "peak_sram_bytes", "arena_bytes", "macs", "params", "n_ops"):
            assert fig[key][i] == getattr(e, key), (i, key)
        assert fig["latency_ms"][i] == pytest.approx(e.latency_ms, rel=1e-9)


def test_latency_orders_and_scales_with_clock() -> None:
    f746, h743 = get_board("STM32F746"), get_board("STM32H743")
    small = estimate("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|", f746)
    big = estimate(ALL_CONV, f746)
    assert big.latency_ms > 5 * small.latency_ms
    assert estimate(ALL_CONV, h743).latency_ms == pytest.approx(big.latency_ms * 216 / 480)


def test_macro_for_dataset_and_validation() -> None:
    assert Macro.for_dataset("ImageNet16-120") == Macro(hw=16, classes=120)
    assert Macro.for_dataset("cifar100").classes == 100
    with pytest.raises(ValueError):
        Macro.for_dataset("mnist-xl")
    with pytest.raises(ValueError):
        Macro(C=0)


def test_sweep_is_fast() -> None:
    import time

    estimate_all(get_board("STM32F411"), Macro())  # warm the per-cell table
    t = time.perf_counter()
    estimate_all(get_board("nRF52840"), Macro(C=8))
    assert time.perf_counter() - t < 2.0

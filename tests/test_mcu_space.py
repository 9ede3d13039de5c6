"""The ``mcu`` search space: encoding, moves, the torch network and the estimator's op graph."""

from __future__ import annotations

import random

import pytest

from automcu.hardware.graph import build_mcu_graph
from automcu.hardware.mcu import estimate_mcu, mcu_counts
from automcu.hardware.spec import HardwareSpec
from search_spaces.mcu.space import (
    CELL_SIZE,
    CELLS,
    CHANNELS,
    DWSEP,
    OPS,
    SPACE_SIZE,
    STEM_STRIDES,
    MCUArch,
    MCUArchError,
    all_archs,
    is_mcu_arch,
    parse_mcu_arch,
)

DW = "C8-N1-S2:|dw_sep_conv_3x3~0|+|nor_conv_3x3~0|dw_sep_conv_3x3~1|+|skip_connect~0|none~1|dw_sep_conv_3x3~2|"
#: node 1 ignores the input (none~0): dw_sep edges from it are constants, one of them a 3×3 of a constant
CONST = "C12-N1-S1:|none~0|+|dw_sep_conv_3x3~0|dw_sep_conv_3x3~1|+|nor_conv_1x1~0|dw_sep_conv_3x3~1|nor_conv_3x3~2|"
M4 = HardwareSpec(name="m4", core="cortex-m4f", clock_mhz=100, sram_kb=64, flash_kb=256)


def test_string_round_trip_and_macro() -> None:
    a = MCUArch.from_string(DW)
    assert (a.C, a.N, a.stem_stride) == (8, 1, 2)
    assert a.count(DWSEP) == 3
    assert a.to_string() == DW
    assert parse_mcu_arch(DW) == a and parse_mcu_arch(a) == a
    assert is_mcu_arch(DW) and not is_mcu_arch(DW.split(":", 1)[1])


def test_sizes_and_dense_code() -> None:
    assert len(OPS) == 6 and OPS[DWSEP] == "dw_sep_conv_3x3"
    assert CELL_SIZE == 6**6
    assert SPACE_SIZE == 6**6 * len(CHANNELS) * len(CELLS) * len(STEM_STRIDES) == 1_399_680
    rng = random.Random(0)
    codes = set()
    for _ in range(300):
        a = MCUArch.sample(rng)
        assert MCUArch.from_code(a.code) == a
        assert parse_mcu_arch(str(a.code)) == a
        codes.add(a.code)
    assert len(codes) > 290
    it = all_archs()
    first = next(it)
    assert first.code == 0 and first.ops == (0,) * 6 and (first.C, first.N, first.stem_stride) == (8, 1, 1)
    assert MCUArch.from_code(SPACE_SIZE - 1).ops == (DWSEP,) * 6
    with pytest.raises(MCUArchError):
        MCUArch.from_code(SPACE_SIZE)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("C10-N1-S1:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "C = 10"),
        ("C8-N4-S1:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "N = 4"),
        ("C8-N1-S3:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "stem stride = 3"),
        ("C8-N1-S1:|sep_conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'sep_conv'"),
        ("C8-N1-S1:|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read op~0"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_3x3~2|", "malformed mcu arch"),
    ],
)
def test_bad_archs_are_named(text: str, needle: str) -> None:
    with pytest.raises(MCUArchError, match=needle.replace("(", r"\(")):
        MCUArch.from_string(text)


def test_mutation_changes_exactly_one_choice() -> None:
    rng = random.Random(3)
    a = MCUArch.from_string(DW)
    kinds = set()
    for _ in range(400):
        child, why = a.mutate(rng)
        diff_ops = sum(x != y for x, y in zip(a.ops, child.ops, strict=True))
        diff_macro = sum(x != y for x, y in ((a.C, child.C), (a.N, child.N), (a.stem_stride, child.stem_stride)))
        assert diff_ops + diff_macro == 1, why
        kinds.add(why.split(":")[0].split(" ")[0])
        if child.C != a.C:  # widths move to a neighbouring choice
            assert abs(CHANNELS.index(child.C) - CHANNELS.index(a.C)) == 1
    assert {"edge", "channels", "cells", "stem"} <= kinds
    nb = a.neighbours()
    assert len(nb) == 6 * 5 + (len(CHANNELS) - 1) + (len(CELLS) - 1) + (len(STEM_STRIDES) - 1)
    assert len(set(nb)) == len(nb) and a not in nb


def test_canonical_key_includes_macro() -> None:
    a = MCUArch.from_string(DW)
    assert a.canonical_key() != a.with_macro(C=16).canonical_key()
    dead = MCUArch.from_string("C8-N1-S1:|dw_sep_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert dead.canonical_key() == dead.with_op(0, 3).canonical_key()  # the dead edge's op does not matter


def test_graph_of_dw_sep_edge() -> None:
    g = build_mcu_graph(MCUArch.from_string(DW), 1, 28, 10)
    kinds = [op.kind for op in g.ops]
    assert kinds[:2] == ["PAD", "DEPTHWISE_CONV_2D"]  # stride-2 stem on one channel, torch padding
    dws = [op for op in g.ops if op.kind == "DEPTHWISE_CONV_2D" and op.part == "cell"]
    assert len(dws) == 3 * 3 and all(op.fused_relu and op.weights == 9 * op.cin for op in dws)
    # shapes: 28 -> 14 (stem) -> 7 -> 4 (odd: one SAME conv, no PAD)
    assert kinds.count("PAD") == 2
    assert g.tensors[g.ops[-3].output].shape[:2] == (4, 4) or g.tensors[g.ops[-2].inputs[0]].shape == (32,)


def test_estimate_costs_dw_sep_cheaper_than_conv3x3() -> None:
    conv = "C16-N2-S1:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    dw = conv.replace("nor_conv_3x3", "dw_sep_conv_3x3")
    ec, ed = estimate_mcu(conv, M4), estimate_mcu(dw, M4)
    assert ed.macs < ec.macs / 3 and ed.flash_bytes < ec.flash_bytes and ed.latency_ms < ec.latency_ms
    # but not SRAM: the depthwise output is one more live map (TFLM measures the same, see the TFLM test)
    assert ed.arena_bytes > ec.arena_bytes
    # stride-2 stem: a quarter of every map, so about a quarter of the planned activations
    s2 = estimate_mcu(MCUArch.from_string(dw).with_macro(stem_stride=2), M4)
    assert s2.sram["arena_head_planned"] < ed.sram["arena_head_planned"] / 3
    params, macs = mcu_counts(MCUArch.from_string(dw), 1, 28, 10)
    assert params > ed.params * 0.9 and macs >= ed.macs


def test_torch_network_shapes_and_counts() -> None:
    torch = pytest.importorskip("torch")
    from search_spaces.mcu.torch_model import build_mcu_model, count_params

    for text, hw in ((DW, 28), (DW, 8), (CONST, 28)):
        arch = MCUArch.from_string(text)
        model = build_mcu_model(arch, in_ch=1, classes=10).eval()
        assert model(torch.zeros(2, 1, hw, hw)).shape == (2, 10)
        assert count_params(model) == mcu_counts(arch, 1, hw, 10)[0]


def test_constant_nodes_equal_full_evaluation() -> None:
    """The cell's constant shortcut (nodes that ignore the input) gives the all-tensor result."""
    torch = pytest.importorskip("torch")
    from search_spaces.mcu.space import EDGES, NONE
    from search_spaces.mcu.torch_model import MCUCell
    from search_spaces.nb201.torch_model import randomize_batchnorm

    arch = MCUArch.from_string(CONST)
    torch.manual_seed(0)
    cell = randomize_batchnorm(MCUCell(arch.ops, 12), seed=1).eval()
    x = torch.randn(2, 12, 7, 7)
    nodes = [x]
    for j in range(1, 4):
        acc = torch.zeros_like(x)
        for e, (to, src) in enumerate(EDGES):
            if to == j and arch.ops[e] != NONE:
                acc = acc + cell.edges[str(e)](nodes[src])
        nodes.append(acc)
    with torch.no_grad():
        assert torch.allclose(cell(x), nodes[3], atol=1e-5)


def test_a_cell_whose_output_ignores_the_input_still_gives_one_row_per_sample() -> None:
    """A cell whose only live paths are convs over constant maps (every input edge of node 1 is none) outputs a
    materialized constant map; the network still returns one row of logits per sample and trains."""
    torch = pytest.importorskip("torch")
    from search_spaces.mcu.torch_model import build_mcu_model
    from search_spaces.nb201.torch_model import build_model

    for net in (build_mcu_model("C16-N2-S2:|none~0|+|none~0|dw_sep_conv_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|",
                                1, 10),
                build_model("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|", C=8, N=1,
                            in_ch=1, classes=10)):
        out = net.train()(torch.zeros(4, 1, 16, 16))
        assert out.shape == (4, 10)
        torch.nn.functional.cross_entropy(out, torch.zeros(4, dtype=torch.long)).backward()

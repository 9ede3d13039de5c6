"""The torch builder matches the official NB201 network: parameter counts, shapes, cell semantics."""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from search_spaces.nb201.index import arch_of_index, index_of  # noqa: E402
from search_spaces.nb201.space import Arch  # noqa: E402
from search_spaces.nb201.table import load_table  # noqa: E402
from search_spaces.nb201.torch_model import (  # noqa: E402
    Cell,
    NB201Network,
    build_model,
    count_params,
    randomize_batchnorm,
)

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def _sample_indices(n: int = 40) -> list[int]:
    table = load_table()
    flops = table.column("flops_M")
    rng = random.Random(7)
    picks = {int(flops.argmin()), int(flops.argmax()), 6111, 0, 15624}
    picks.update(rng.randrange(len(flops)) for _ in range(n))
    return sorted(picks)


@pytest.mark.parametrize("index", _sample_indices())
def test_params_equal_table_cifar10(index: int) -> None:
    arch = arch_of_index(index)
    expected = round(float(load_table().column("params_M")[index]) * 1e6)
    assert count_params(build_model(arch, C=16, N=5, in_ch=3, classes=10)) == expected


def test_forward_shapes_any_macro() -> None:
    for C, N, in_ch, hw, classes in ((16, 5, 3, 32, 10), (8, 1, 1, 28, 10), (4, 2, 3, 16, 120)):
        model = build_model(BEST, C=C, N=N, in_ch=in_ch, classes=classes).eval()
        with torch.no_grad():
            y = model(torch.randn(2, in_ch, hw, hw))
            f = model.features(torch.randn(2, in_ch, hw, hw))
        assert y.shape == (2, classes)
        assert f.shape == (2, 4 * C)
        assert sum(isinstance(m, Cell) for m in model.modules()) == 3 * N


def test_accepts_string_index_and_arch() -> None:
    a = Arch.from_string(BEST)
    assert build_model(a, C=4, N=1).arch == a
    assert build_model(index_of(a), C=4, N=1).arch == a
    assert isinstance(build_model(BEST, C=4, N=1), NB201Network)


def test_cell_semantics_match_definition() -> None:
    """Node j = sum of op(node i) over incoming edges; dead edges do not change the output."""
    torch.manual_seed(0)
    arch = Arch.from_string("|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|nor_conv_1x1~0|none~1|skip_connect~2|")
    cell = randomize_batchnorm(Cell(arch, 4)).eval()
    x = torch.randn(1, 4, 8, 8)
    e = cell.edges
    with torch.no_grad():
        n1 = e["0"](x)
        n2 = e["1"](x) + n1
        n3 = e["3"](x) + n2
        assert torch.allclose(cell(x), n3, atol=1e-6)
    pool = torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    assert torch.allclose(e["1"](x), pool(x))


def test_none_everywhere_gives_zero_cell() -> None:
    cell = Cell(Arch((0, 0, 0, 0, 0, 0)), 3)
    x = torch.randn(1, 3, 5, 5)
    assert torch.count_nonzero(cell(x)) == 0
    assert count_params(cell) == 0


def test_dead_edge_keeps_params_but_not_output() -> None:
    # edge 2<-1 feeds node 2, which reaches nothing: a conv that owns params but does not affect the output
    dead = Arch.from_string("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    cell = randomize_batchnorm(Cell(dead, 4)).eval()
    assert "2" in cell.edges
    x = torch.randn(1, 4, 6, 6)
    with torch.no_grad():
        expected = x + cell.edges["4"](cell.edges["0"](x))
        assert torch.allclose(cell(x), expected, atol=1e-6)


def test_bad_macro_rejected() -> None:
    with pytest.raises(ValueError):
        build_model(BEST, C=0)


def _naive_cell(cell: Cell, x: torch.Tensor) -> torch.Tensor:
    """The official InferCell: every edge evaluated on materialized tensors, zeros included."""
    from search_spaces.nb201.space import EDGES

    nodes = [x]
    for j in range(1, 4):
        acc = torch.zeros_like(x)
        for e, (to, src) in enumerate(EDGES):
            if to == j and str(e) in cell.edges:
                acc = acc + cell.edges[str(e)](nodes[src])
        nodes.append(acc)
    return nodes[-1]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_constant_nodes_equal_official_semantics(mode: str) -> None:
    """Nodes that ignore the input are kept as per-channel constants, never as conv over zero maps;
    outputs and BN running statistics equal the official all-tensor evaluation."""
    import copy

    from search_spaces.nb201.torch_model import _reaches_output

    rng = random.Random(3)
    archs = [Arch.from_string(s) for s in (
        "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|",
        "|none~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
        "|none~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|",
    )] + [Arch.sample(rng) for _ in range(60)]
    for arch in archs:
        torch.manual_seed(1)
        ours = randomize_batchnorm(Cell(arch, 4), seed=3)
        ref = copy.deepcopy(ours)
        ours.train(mode == "train")
        ref.train(mode == "train")
        x = torch.randn(3, 4, 6, 6)
        assert torch.allclose(ours(x), _naive_cell(ref, x), atol=1e-5), arch
        reach = _reaches_output(arch.ops)
        for e in range(6):
            if reach[e] and isinstance(ours.edges[str(e)], torch.nn.Sequential):
                a, b = ours.edges[str(e)][2], ref.edges[str(e)][2]
                assert torch.allclose(a.running_mean, b.running_mean, atol=1e-6), arch
                assert torch.allclose(a.running_var, b.running_var, atol=1e-5), arch

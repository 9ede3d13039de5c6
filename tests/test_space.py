import random

import pytest

from search_spaces.nb201.index import arch_of_index, index_of
from search_spaces.nb201.space import SPACE_SIZE, Arch, ArchError, parse_arch
from search_spaces.nb201.table import load_table

C10_OPT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_known_indices_follow_the_official_order() -> None:
    assert index_of(Arch.from_string(C10_OPT)) == 6111
    assert str(arch_of_index(0)) == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|")
    t = load_table().columns
    assert int(t["cifar10_test"].argmax()) == 6111
    assert int(t["cifar100_test"].argmax()) == 9930
    assert int(t["imagenet16_test"].argmax()) == 857


def test_string_index_roundtrip_covers_the_whole_space() -> None:
    seen = {index_of(arch_of_index(i)) for i in range(SPACE_SIZE)}
    assert seen == set(range(SPACE_SIZE))
    for i in random.Random(0).sample(range(SPACE_SIZE), 200):
        a = arch_of_index(i)
        assert Arch.from_string(a.to_string()) == a
        assert parse_arch(str(i)) == a == parse_arch(i)


@pytest.mark.parametrize("bad", [
    "", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "|none~0|+|none~0|none~1|",
    "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "nor_conv_3x3", "15625", "-1",
])
def test_malformed_archs_are_rejected(bad: str) -> None:
    with pytest.raises(ArchError):
        parse_arch(bad)


def test_disconnected_output_is_flagged() -> None:
    a = Arch.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|")
    assert not a.output_connected
    assert "disconnected" in a.issues()[0]
    assert Arch.from_string(C10_OPT).issues() == []
    dead = Arch.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert dead.output_connected and "never reach the output" in dead.issues()[0]


def test_mutation_and_neighbours() -> None:
    a = Arch.from_string(C10_OPT)
    nbrs = a.neighbours()
    assert len(nbrs) == 24 and len(set(nbrs)) == 24 and a not in nbrs
    assert all(sum(x != y for x, y in zip(a.ops, n.ops, strict=True)) == 1 for n in nbrs)
    child, how = a.mutate(random.Random(1))
    assert child in nbrs and "->" in how


def test_isomorphism_key() -> None:
    # nodes 1 and 2 swap roles when edge 2<-1 is none
    a = Arch.from_string("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    b = Arch.from_string("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    assert a != b and a.canonical_key() == b.canonical_key()
    # an op on a dead edge does not change the function
    c = Arch.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    d = Arch.from_string("|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert c.canonical_key() == d.canonical_key()
    assert Arch.from_string(C10_OPT).canonical_key() != a.canonical_key()
    keys = {Arch.from_code(code).canonical_key() for code in range(SPACE_SIZE)}
    assert 5000 < len(keys) < 6466  # stricter than NB201's own 6466 (it keeps zero terms)


def test_uniform_sampling_covers_ops() -> None:
    rng = random.Random(0)
    counts = [0] * 5
    for _ in range(2000):
        for o in Arch.sample(rng).ops:
            counts[o] += 1
    assert min(counts) > 2000 * 6 / 5 * 0.85

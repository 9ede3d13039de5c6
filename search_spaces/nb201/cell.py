"""NAS-Bench-201 cell: 5 ops on the 6 edges of a 4-node DAG, and the :class:`Arch` type.

An architecture is held as a tuple of 6 op indices in the official edge order
``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`` and written as the official string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. The official index (0..15624) is not
computable from the ops (the benchmark shuffled its order); it comes from the
embedded table, see :mod:`search_spaces.nb201.index`.

This module is the bottom of the search space: the table and the index build on it, and
:mod:`search_spaces.nb201.space` (the public face, with :func:`~search_spaces.nb201.space.parse_arch`)
builds on all three. Import from :mod:`search_spaces.nb201.space` outside this package.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(OPS)}
NONE, SKIP, CONV1, CONV3, POOL = range(5)

#: (to_node, from_node) of each of the 6 edges, in the official string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
N_EDGES = len(EDGES)
N_NODES = 4
SPACE_SIZE = len(OPS) ** N_EDGES  # 15625

GRAMMAR = (
    "NAS-Bench-201 cell: nodes 0 (input) .. 3 (output); edge j<-i for i<j; each of the 6 edges "
    "1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 carries one op of "
    + ", ".join(OPS)
    + ". Written |op~0|+|op~0|op~1|+|op~0|op~1|op~2| (groups = target nodes 1, 2, 3; ~i = source node)."
)

_STRING_RE = re.compile(r"^\|([^|]+)\|\+\|([^|]+)\|([^|]+)\|\+\|([^|]+)\|([^|]+)\|([^|]+)\|$")


class ArchError(ValueError):
    """A malformed or unknown NAS-Bench-201 architecture."""


@dataclass(frozen=True, order=True)
class Arch:
    """One NAS-Bench-201 cell: op index per edge, official edge order."""

    ops: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != N_EDGES or any(not (0 <= o < len(OPS)) for o in self.ops):
            raise ArchError(f"an arch has {N_EDGES} ops in 0..{len(OPS) - 1}, got {self.ops!r}")

    # ----- conversions -------------------------------------------------------------------------
    @classmethod
    def from_string(cls, text: str) -> Arch:
        if cls is Arch:
            return _parse(text)  # archs are immutable: each string is parsed once per process
        return cls._parse_uncached(text)

    @classmethod
    def _parse_uncached(cls, text: str) -> Arch:
        return cls(parse_cell_ops(text, OPS, ArchError, what="NAS-Bench-201 arch string", ops_label="ops"))

    def to_string(self) -> str:
        return _format(self.ops)

    def __str__(self) -> str:
        return self.to_string()

    @property
    def code(self) -> int:
        """Base-5 reading of the ops (edge 0 most significant); NOT the official index."""
        return cell_code(self.ops, len(OPS))

    @classmethod
    def from_code(cls, code: int) -> Arch:
        if not 0 <= code < SPACE_SIZE:
            raise ArchError(f"code {code} outside 0..{SPACE_SIZE - 1}")
        return cls(cell_of_code(code, len(OPS)))

    # ----- structure ---------------------------------------------------------------------------
    def count(self, op: int) -> int:
        return sum(1 for o in self.ops if o == op)

    def live_edges(self) -> tuple[bool, ...]:
        """Which edges lie on some input→output path (the others compute nothing used)."""
        return _live_edges(self.ops)

    @property
    def output_connected(self) -> bool:
        """False when no path of non-``none`` edges joins the input to the output.

        Such cells are legal in NAS-Bench-201 (the table lists them at chance accuracy) but
        the network ignores its input; they are flagged, never silently dropped.
        """
        return any(self.live_edges())

    def issues(self) -> list[str]:
        """Human-readable warnings about the cell's structure (empty when none)."""
        out = []
        if not self.output_connected:
            out.append("output node is disconnected from the input: the network ignores its input")
        else:
            dead = [i for i, (o, live) in enumerate(zip(self.ops, self.live_edges(), strict=True))
                    if o != NONE and not live]
            if dead:
                names = ", ".join(f"{EDGES[i][0]}<-{EDGES[i][1]}" for i in dead)
                out.append(f"edges {names} carry ops that never reach the output")
        return out

    def canonical_key(self) -> str:
        """Isomorphism-aware key: equal for cells that compute the same function.

        Each node is written as the sorted multiset of ``op(source)`` terms (``skip`` is the
        identity, a node with no inputs is zero and ops of zero vanish), so dead edges and
        swaps of interchangeable nodes give the same key.
        """
        return _canonical_key(self.ops)

    # ----- moves -------------------------------------------------------------------------------
    def with_op(self, edge: int, op: int) -> Arch:
        ops = list(self.ops)
        ops[edge] = op
        return Arch(tuple(ops))

    def neighbours(self) -> list[Arch]:
        """All 24 archs one op change away."""
        return [self.with_op(e, o) for e in range(N_EDGES) for o in range(len(OPS)) if o != self.ops[e]]

    def mutate(self, rng: random.Random) -> tuple[Arch, str]:
        """One random op change; returns the child and a description of the mutation."""
        edge = rng.randrange(N_EDGES)
        op = rng.choice([o for o in range(len(OPS)) if o != self.ops[edge]])
        child = self.with_op(edge, op)
        to, src = EDGES[edge]
        return child, f"edge {to}<-{src}: {OPS[self.ops[edge]]} -> {OPS[op]}"

    @classmethod
    def sample(cls, rng: random.Random) -> Arch:
        return cls(tuple(rng.randrange(len(OPS)) for _ in range(N_EDGES)))


def parse_cell_ops(text: str, names: tuple[str, ...], error: type[ValueError], what: str = "cell",
                   ops_label: str = "ops") -> tuple[int, ...]:
    """Op indices (into ``names``) of a cell string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; ``error`` for bad
    text, whose messages name ``what`` was malformed and list the ``ops_label``."""
    m = _STRING_RE.match(text.strip())
    if not m:
        raise error(f"malformed {what} {text!r}; expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|")
    ops: list[int] = []
    for token, (_, src) in zip(m.groups(), EDGES, strict=True):
        name, sep, node = token.partition("~")
        if not sep or node != str(src):
            raise error(f"edge {token!r} in {text!r} must read op~{src}")
        if name not in names:
            raise error(f"unknown op {name!r} in {text!r}; {ops_label} are {', '.join(names)}")
        ops.append(names.index(name))
    return tuple(ops)


def format_cell(ops: tuple[int, ...], names: tuple[str, ...]) -> str:
    """The cell string of ``ops`` spelled with ``names``."""
    parts = [f"{names[o]}~{src}" for o, (_, src) in zip(ops, EDGES, strict=True)]
    return f"|{parts[0]}|+|{parts[1]}|{parts[2]}|+|{parts[3]}|{parts[4]}|{parts[5]}|"


def cell_code(ops: tuple[int, ...], base: int) -> int:
    """The ops read as a base-``base`` number, edge 0 most significant."""
    value = 0
    for o in ops:
        value = value * base + o
    return value


def cell_of_code(code: int, base: int) -> tuple[int, ...]:
    """Inverse of :func:`cell_code` (``code`` in ``0 .. base**6 - 1``)."""
    ops = []
    for _ in range(N_EDGES):
        code, o = divmod(code, base)
        ops.append(o)
    return tuple(reversed(ops))


def cell_live_edges(ops: tuple[int, ...]) -> tuple[bool, ...]:
    """Which edges of a 4-node cell lie on an input→output path (op 0 = ``none``; any op set with that)."""
    from_input = {0}
    for j in range(1, N_NODES):
        if any(ops[e] != NONE and EDGES[e][1] in from_input for e in range(N_EDGES) if EDGES[e][0] == j):
            from_input.add(j)
    to_output = {N_NODES - 1}
    for i in range(N_NODES - 2, -1, -1):
        if any(ops[e] != NONE and EDGES[e][0] in to_output for e in range(N_EDGES) if EDGES[e][1] == i):
            to_output.add(i)
    return tuple(
        ops[e] != NONE and EDGES[e][1] in from_input and EDGES[e][0] in to_output for e in range(N_EDGES)
    )


def cell_canonical_key(ops: tuple[int, ...], names: tuple[str, ...]) -> str:
    """The function a 4-node cell computes, as text (op 0 = ``none``, 1 = ``skip``; ``names`` spell the others)."""
    exprs: list[str | None] = ["x"]  # None = the zero tensor
    for j in range(1, N_NODES):
        terms = []
        for e, (to, src) in enumerate(EDGES):
            if to != j or ops[e] == NONE or exprs[src] is None:
                continue
            terms.append(exprs[src] if ops[e] == SKIP else f"{names[ops[e]]}({exprs[src]})")
        exprs.append("+".join(sorted(terms)) if terms else None)
        if exprs[j] is not None and len(terms) > 1:
            exprs[j] = f"[{exprs[j]}]"
    return exprs[-1] or "zero"


@lru_cache(maxsize=SPACE_SIZE)
def _live_edges(ops: tuple[int, ...]) -> tuple[bool, ...]:
    return cell_live_edges(ops)


@lru_cache(maxsize=SPACE_SIZE)
def _canonical_key(ops: tuple[int, ...]) -> str:
    return cell_canonical_key(ops, OPS)


@lru_cache(maxsize=4 * SPACE_SIZE)
def _parse(text: str) -> Arch:
    return Arch._parse_uncached(text)


@lru_cache(maxsize=SPACE_SIZE)
def _format(ops: tuple[int, ...]) -> str:
    return format_cell(ops, OPS)

"""The ``mcu`` search space for real data: the NB201 cell plus a depthwise-separable op, and the macro.

An :class:`MCUArch` is

* the NAS-Bench-201 cell (same 4 nodes, same 6 edges ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``) whose
  edges carry one of the five NB201 ops or ``dw_sep_conv_3x3`` (ReLU → depthwise 3×3 → BN → ReLU →
  pointwise 1×1 → BN: what MCU toolchains run far cheaper than a full 3×3 convolution);
* the macro: ``C`` channels in the first stage (``CHANNELS``), ``N`` cells per stage (``CELLS``) and
  the stem's stride (``STEM_STRIDES``: 2 halves every feature map, the main SRAM lever on 28 px).

Written ``C16-N2-S1:|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (the cell part is the NB201 string grammar
with the extra op name). The space has ``6**6 × 5 × 3 × 2 = 1,399,680`` archs; each has a dense code
(:attr:`MCUArch.code`, :meth:`MCUArch.from_code`) for enumeration. There is no lookup table: archs of
this space are trained for real.

This module imports no torch; the network is :mod:`search_spaces.mcu.torch_model`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from search_spaces.nb201.cell import (
    EDGES,
    N_EDGES,
    cell_canonical_key,
    cell_code,
    cell_live_edges,
    cell_of_code,
    format_cell,
    parse_cell_ops,
)
from search_spaces.nb201.cell import OPS as NB201_OPS

OPS: tuple[str, ...] = (*NB201_OPS, "dw_sep_conv_3x3")
OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(OPS)}
NONE, SKIP, CONV1, CONV3, POOL, DWSEP = range(6)

CHANNELS: tuple[int, ...] = (8, 12, 16, 24, 32)
CELLS: tuple[int, ...] = (1, 2, 3)
STEM_STRIDES: tuple[int, ...] = (1, 2)

CELL_SIZE = len(OPS) ** N_EDGES  # 46,656
MACRO_SIZE = len(CHANNELS) * len(CELLS) * len(STEM_STRIDES)  # 30
SPACE_SIZE = CELL_SIZE * MACRO_SIZE  # 1,399,680

SPACE_NAME = "mcu"

GRAMMAR = (
    "mcu space: C<channels>-N<cells per stage>-S<stem stride>:<cell>, with C in "
    + ", ".join(map(str, CHANNELS)) + "; N in " + ", ".join(map(str, CELLS)) + "; S in "
    + ", ".join(map(str, STEM_STRIDES))
    + ". The cell is a NAS-Bench-201 cell (nodes 0..3, edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) whose edges carry "
    "one op of " + ", ".join(OPS) + ", written |op~0|+|op~0|op~1|+|op~0|op~1|op~2|. "
    "Example: C16-N2-S2:|dw_sep_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|dw_sep_conv_3x3~2|"
)

_MACRO_RE = re.compile(r"^C(\d+)-N(\d+)-S(\d+)\s*:(.*)$", re.DOTALL)
FORMAT = "C<channels>-N<cells per stage>-S<stem stride>:|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"


def macro_problems(C: int, N: int, stem_stride: int) -> list[str]:
    """One message per macro choice outside the space (empty when all three are in it)."""
    return [f"{name} = {value} is not in the mcu space; {short} must be one of {', '.join(map(str, allowed))}"
            for name, short, value, allowed in (("C", "C", C, CHANNELS), ("N", "N", N, CELLS),
                                                ("stem stride", "S", stem_stride, STEM_STRIDES))
            if value not in allowed]


class MCUArchError(ValueError):
    """A malformed or out-of-space ``mcu`` architecture."""


@dataclass(frozen=True, order=True)
class MCUArch:
    """One arch of the ``mcu`` space: cell ops (official NB201 edge order) and the macro choices."""

    ops: tuple[int, ...]
    C: int = 16
    N: int = 1
    stem_stride: int = 1

    def __post_init__(self) -> None:
        if len(self.ops) != N_EDGES or any(not (0 <= o < len(OPS)) for o in self.ops):
            raise MCUArchError(f"an mcu cell has {N_EDGES} ops in 0..{len(OPS) - 1}, got {self.ops!r}")
        problems = macro_problems(self.C, self.N, self.stem_stride)
        if problems:
            raise MCUArchError("; ".join(problems))

    # ----- text --------------------------------------------------------------------------------
    @classmethod
    def from_string(cls, text: str) -> MCUArch:
        """Parse ``text``; an ``MCUArchError`` names every problem at once (each bad macro choice and the cell's)."""
        m = _MACRO_RE.match(text.strip())
        if not m:
            raise MCUArchError(f"malformed mcu arch {text!r}: not in the mcu format {FORMAT}")
        C, N, S = int(m.group(1)), int(m.group(2)), int(m.group(3))
        problems = macro_problems(C, N, S)
        ops: tuple[int, ...] = ()
        try:
            ops = parse_cell(m.group(4))
        except MCUArchError as exc:
            problems.append(str(exc))
        if problems:
            raise MCUArchError("; ".join(problems))
        return cls(ops, C=C, N=N, stem_stride=S)

    def cell_string(self) -> str:
        return format_cell(self.ops, OPS)

    def macro_string(self) -> str:
        return f"C{self.C}-N{self.N}-S{self.stem_stride}"

    def to_string(self) -> str:
        return f"{self.macro_string()}:{self.cell_string()}"

    def __str__(self) -> str:
        return self.to_string()

    # ----- dense code (enumeration) ------------------------------------------------------------
    @property
    def cell_code(self) -> int:
        return cell_code(self.ops, len(OPS))

    @property
    def code(self) -> int:
        """Dense index 0..SPACE_SIZE-1: macro (C, N, stride) major, then the base-6 cell code."""
        macro = (CHANNELS.index(self.C) * len(CELLS) + CELLS.index(self.N)) * len(STEM_STRIDES)
        macro += STEM_STRIDES.index(self.stem_stride)
        return macro * CELL_SIZE + self.cell_code

    @classmethod
    def from_code(cls, code: int) -> MCUArch:
        if not 0 <= code < SPACE_SIZE:
            raise MCUArchError(f"mcu code {code} outside 0..{SPACE_SIZE - 1}")
        macro, cell = divmod(code, CELL_SIZE)
        rest, s = divmod(macro, len(STEM_STRIDES))
        c, n = divmod(rest, len(CELLS))
        return cls(cell_of_code(cell, len(OPS)), C=CHANNELS[c], N=CELLS[n], stem_stride=STEM_STRIDES[s])

    # ----- structure ---------------------------------------------------------------------------
    def count(self, op: int) -> int:
        return sum(1 for o in self.ops if o == op)

    def live_edges(self) -> tuple[bool, ...]:
        """Which edges lie on some input→output path."""
        return _live_edges(self.ops)

    @property
    def output_connected(self) -> bool:
        """False when no path of non-``none`` edges joins the cell input to its output."""
        return any(self.live_edges())

    def issues(self) -> list[str]:
        out = []
        if not self.output_connected:
            out.append("output node is disconnected from the input: the network ignores its input")
        return out

    def canonical_key(self) -> str:
        """Isomorphism-aware key of the whole arch: the macro and the function the cell computes."""
        return f"{self.macro_string()}:{_canonical_key(self.ops)}"

    # ----- moves -------------------------------------------------------------------------------
    def with_op(self, edge: int, op: int) -> MCUArch:
        ops = list(self.ops)
        ops[edge] = op
        return MCUArch(tuple(ops), C=self.C, N=self.N, stem_stride=self.stem_stride)

    def with_macro(self, C: int | None = None, N: int | None = None, stem_stride: int | None = None) -> MCUArch:
        return MCUArch(self.ops, C=self.C if C is None else C, N=self.N if N is None else N,
                       stem_stride=self.stem_stride if stem_stride is None else stem_stride)

    def neighbours(self) -> list[MCUArch]:
        """Every arch one edge op or one macro choice away (30 op changes + up to 7 macro changes)."""
        out = [self.with_op(e, o) for e in range(N_EDGES) for o in range(len(OPS)) if o != self.ops[e]]
        out += [self.with_macro(C=c) for c in CHANNELS if c != self.C]
        out += [self.with_macro(N=n) for n in CELLS if n != self.N]
        out += [self.with_macro(stem_stride=s) for s in STEM_STRIDES if s != self.stem_stride]
        return out

    def mutate(self, rng: random.Random, macro_prob: float = 0.25) -> tuple[MCUArch, str]:
        """One random change: with probability ``macro_prob`` one macro choice (C moves to a neighbouring
        width, N by one, or the stride flips), otherwise one edge's op. Returns the child and what changed."""
        if rng.random() < macro_prob:
            which = rng.choice(("C", "N", "S"))
            if which == "C":
                i = CHANNELS.index(self.C)
                j = rng.choice([k for k in (i - 1, i + 1) if 0 <= k < len(CHANNELS)])
                return self.with_macro(C=CHANNELS[j]), f"channels C: {self.C} -> {CHANNELS[j]}"
            if which == "N":
                i = CELLS.index(self.N)
                j = rng.choice([k for k in (i - 1, i + 1) if 0 <= k < len(CELLS)])
                return self.with_macro(N=CELLS[j]), f"cells per stage N: {self.N} -> {CELLS[j]}"
            s = rng.choice([s for s in STEM_STRIDES if s != self.stem_stride])
            return self.with_macro(stem_stride=s), f"stem stride: {self.stem_stride} -> {s}"
        edge = rng.randrange(N_EDGES)
        op = rng.choice([o for o in range(len(OPS)) if o != self.ops[edge]])
        to, src = EDGES[edge]
        return self.with_op(edge, op), f"edge {to}<-{src}: {OPS[self.ops[edge]]} -> {OPS[op]}"

    @classmethod
    def sample(cls, rng: random.Random) -> MCUArch:
        """Uniform over the space (each edge op, C, N and stride drawn uniformly)."""
        ops = tuple(rng.randrange(len(OPS)) for _ in range(N_EDGES))
        return cls(ops, C=rng.choice(CHANNELS), N=rng.choice(CELLS), stem_stride=rng.choice(STEM_STRIDES))


def parse_cell(text: str) -> tuple[int, ...]:
    """Op indices of a cell string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` over the mcu ops."""
    return parse_cell_ops(text, OPS, MCUArchError, what="cell", ops_label="mcu ops")


def parse_mcu_arch(value: str | MCUArch | int) -> MCUArch:
    """An :class:`MCUArch` from its string, its dense code or itself."""
    if isinstance(value, MCUArch):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        return MCUArch.from_code(int(value))
    if not isinstance(value, str):
        raise MCUArchError(f"an mcu arch is a string or a code, got {type(value).__name__}")
    return MCUArch.from_string(value)


def is_mcu_arch(text: str) -> bool:
    """True when ``text`` is written in the mcu grammar (a macro prefix), valid or not."""
    return bool(_MACRO_RE.match(text.strip()))


def all_archs() -> Iterator[MCUArch]:
    """Every arch of the space in code order (1.4 M: iterate, do not list)."""
    for code in range(SPACE_SIZE):
        yield MCUArch.from_code(code)


@lru_cache(maxsize=CELL_SIZE)
def _live_edges(ops: tuple[int, ...]) -> tuple[bool, ...]:
    return cell_live_edges(ops)  # NONE and SKIP are NB201's op 0 and 1 here too


@lru_cache(maxsize=CELL_SIZE)
def _canonical_key(ops: tuple[int, ...]) -> str:
    return cell_canonical_key(ops, OPS)


__all__ = [
    "CELLS",
    "CELL_SIZE",
    "CHANNELS",
    "CONV1",
    "CONV3",
    "DWSEP",
    "EDGES",
    "GRAMMAR",
    "MACRO_SIZE",
    "NONE",
    "OPS",
    "OP_INDEX",
    "POOL",
    "SKIP",
    "SPACE_NAME",
    "SPACE_SIZE",
    "STEM_STRIDES",
    "MCUArch",
    "MCUArchError",
    "all_archs",
    "is_mcu_arch",
    "parse_cell",
    "parse_mcu_arch",
]

"""NAS-Bench-201 cell space: the public names of :mod:`search_spaces.nb201.cell` and :func:`parse_arch`.

An architecture is held as a tuple of 6 op indices in the official edge order
``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`` and written as the official string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. The official index (0..15624) is not
computable from the ops (the benchmark shuffled its order); it comes from the
embedded table, see :mod:`search_spaces.nb201.index`.

Layers inside the package: ``cell`` (ops, edges, :class:`Arch`) <- ``table`` (the embedded table)
<- ``index`` (official index <-> arch) <- ``space`` (this module: everything, plus :func:`parse_arch`,
which reads an official index through the index).
"""

from __future__ import annotations

from search_spaces.nb201.cell import (
    CONV1,
    CONV3,
    EDGES,
    GRAMMAR,
    N_EDGES,
    N_NODES,
    NONE,
    OP_INDEX,
    OPS,
    POOL,
    SKIP,
    SPACE_SIZE,
    Arch,
    ArchError,
)

__all__ = [
    "CONV1",
    "CONV3",
    "EDGES",
    "GRAMMAR",
    "NONE",
    "N_EDGES",
    "N_NODES",
    "OPS",
    "OP_INDEX",
    "POOL",
    "SKIP",
    "SPACE_SIZE",
    "Arch",
    "ArchError",
    "parse_arch",
]


def parse_arch(value: str | int | Arch, index_of: dict[str, int] | None = None) -> Arch:
    """An :class:`Arch` from a string, an official index (int or digits) or an Arch."""
    if isinstance(value, Arch):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        from search_spaces.nb201.index import arch_of_index

        return arch_of_index(int(value))
    if not isinstance(value, str):
        raise ArchError(f"an arch is a NAS-Bench-201 string or an index, got {type(value).__name__}")
    return Arch.from_string(value)

"""Official NAS-Bench-201 index (0..15624) ⇄ arch, in the official API's order.

The order is read from the embedded table (its row order is the official ``api.arch(i)``
order, see ``data/PROVENANCE.md``); arch 6111 is the CIFAR-10 optimum there.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from search_spaces.nb201.cell import SPACE_SIZE, Arch, ArchError
from search_spaces.nb201.table import load_table


@lru_cache(maxsize=1)
def _code_to_index() -> np.ndarray:
    table = load_table()
    lookup = np.full(SPACE_SIZE, -1, dtype=np.int64)
    lookup[table.codes] = np.arange(SPACE_SIZE)
    if (lookup < 0).any():
        raise RuntimeError("embedded NB201 table does not cover the whole space")
    return lookup


def index_of(arch: Arch) -> int:
    """Official index of an arch."""
    return int(_code_to_index()[arch.code])


def arch_of_index(index: int) -> Arch:
    """Arch at an official index."""
    if not 0 <= index < SPACE_SIZE:
        raise ArchError(f"NAS-Bench-201 index {index} outside 0..{SPACE_SIZE - 1}")
    return Arch.from_code(int(load_table().codes[index]))


def all_ops() -> np.ndarray:
    """(15625, 6) int8 array: row i = op indices of the arch at official index i."""
    return load_table().ops

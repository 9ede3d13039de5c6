"""What the neighbourhood-based proposers (evolution, local search, predictor) share.

- :func:`is_fresh`: an arch worth proposing — not proposed yet, computing a function (canonical
  cell) not proposed yet, and connected to the input.
- :func:`fitting_neighbours`: the fresh one-edge neighbours of a centre that fit the limits (all
  24, or the ones a mutation drew), in order.
- :func:`take`: record a pick in the batch and in the seen set.
- Whole-space arrays for vectorized filtering: :func:`canonical_ids`, :func:`connected`,
  :func:`neighbour_table`, :func:`seen_masks` and :func:`index_of_string` (cached parse).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np

from agents.messages import Proposal
from agents.proposers.base import SeenArchs
from search_spaces.nb201.index import arch_of_index, index_of
from search_spaces.nb201.space import SPACE_SIZE, Arch


def is_fresh(arch: Arch, seen: SeenArchs) -> bool:
    return arch.output_connected and arch.to_string() not in seen and not seen.has_function(arch.canonical_key())


def fitting_neighbours(centre: Arch, fits: Callable[[Arch], bool], seen: SeenArchs,
                       among: Iterable[Arch] | None = None) -> list[Arch]:
    """Fresh one-edge neighbours of ``centre`` that fit, in order: ``among`` (e.g. the children a mutation
    drew, repeats allowed) or else all of them. ``fits`` is asked only about fresh archs."""
    return [n for n in (centre.neighbours() if among is None else among) if is_fresh(n, seen) and fits(n)]


def take(out: list[Proposal], seen: SeenArchs, proposal: Proposal) -> None:
    seen.add(proposal.arch, Arch.from_string(proposal.arch).canonical_key())
    out.append(proposal)


@lru_cache(maxsize=1)
def canonical_ids() -> np.ndarray:
    """Official index → an id shared by every cell string that computes the same function."""
    keys: dict[str, int] = {}
    return np.array([keys.setdefault(arch_of_index(i).canonical_key(), len(keys)) for i in range(SPACE_SIZE)])


@lru_cache(maxsize=1)
def connected() -> np.ndarray:
    return np.array([arch_of_index(i).output_connected for i in range(SPACE_SIZE)])


@lru_cache(maxsize=1)
def neighbour_table() -> np.ndarray:
    """(15625, 24) official indices of every arch's one-edge neighbours (for vectorized pre-checks)."""
    return np.array([[index_of(n) for n in arch_of_index(i).neighbours()] for i in range(SPACE_SIZE)])


def seen_masks(seen: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """(by official index, by function id) masks of what is already proposed."""
    idx = np.fromiter((index_of_string(a) for a in seen), dtype=np.int64)
    ids = canonical_ids()
    by_index = np.zeros(SPACE_SIZE, dtype=bool)
    by_index[idx] = True
    by_function = np.zeros(int(ids.max()) + 1, dtype=bool)
    by_function[ids[idx]] = True
    return by_index, by_function


@lru_cache(maxsize=SPACE_SIZE)
def index_of_string(arch: str) -> int:
    return index_of(Arch.from_string(arch))

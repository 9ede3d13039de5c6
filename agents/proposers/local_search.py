"""Feasible-set local search (White et al. 2020, "Local search is state of the art for NAS benchmarks").

The search walks only inside the exact feasible set (the feasibility agent's cached whole-space
sweep, :func:`agents.feasibility.feasible_set`), so no proposal is wasted on an arch that does
not fit and a tight limit never makes it run dry while a feasible arch is left.

Each proposal: take the evaluated archs from the best validation accuracy down; the first one
that still has an unseen feasible one-edge neighbour is the current centre; propose its best
such neighbour by the cheap live-conv-FLOPs signal (best-improvement: every fitting neighbour
of the incumbent is tried before the walk moves on, and it moves as soon as one beats it). When
no evaluated arch has such a neighbour left (a local optimum of everything seen), restart from
the best-ranked of ``n_restart_samples`` unexplored feasible archs. The first ``n_initial``
proposals are such restarts. Cells computing the same function as one already proposed are
skipped while a new fitting function is left; after that the other fitting cell strings follow
(re-measurements, i.e. other training runs), those of the function with the best measurement
first (under tight limits only a handful of functions fit, and the pick by validation then rests
on several draws), so the walk runs dry only when every feasible arch is proposed. With noisy
accuracies (real training) the centre is the best *measured* one, as the product keeps it.
"""

from __future__ import annotations

import random

import numpy as np

from agents.feasibility import feasible_set
from agents.messages import Proposal, ProposalBatch, ProposalRequest
from agents.proposers.base import SeenArchs, rng_for
from agents.proposers.cheap_signals import live_conv_cost
from agents.proposers.neighbours import (
    canonical_ids,
    connected,
    fitting_neighbours,
    index_of_string,
    neighbour_table,
    seen_masks,
    take,
)
from search_spaces.nb201.index import arch_of_index, index_of
from search_spaces.nb201.space import SPACE_SIZE, Arch


class LocalSearchSettings:
    """What both local searches (nb201 and mcu) are set up with: random starts before the walk begins, and
    random samples per restart."""

    def __init__(self, n_initial: int = 2, n_restart_samples: int = 20) -> None:
        if n_initial < 1 or n_restart_samples < 1:
            raise ValueError("n_initial and n_restart_samples must be >= 1")
        self.n_initial = n_initial
        self.n_restart_samples = n_restart_samples


class LocalSearchProposer(LocalSearchSettings):
    name = "local"

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        feasible = feasible_set(request.dataset, request.hardware, request.max_latency_ms)
        fits = np.zeros(SPACE_SIZE, dtype=bool)
        fits[feasible] = True
        seen = SeenArchs(request)
        history = sorted(((e.val_acc, -i, e.arch) for i, e in enumerate(request.evaluated)),
                         key=lambda t: (t[0], t[1]), reverse=True)
        out: list[Proposal] = []
        notes: list[str] = []
        for _ in range(request.n):
            picked = None
            if len(request.evaluated) + len(out) >= self.n_initial:
                picked = self._neighbour(history, fits, seen, request, out)
            if picked is None:
                picked = self._restart(rng, feasible, request, out, len(request.evaluated) + len(out))
            if picked is None:
                notes.append(f"every one of the {len(feasible)} feasible archs is proposed")
                break
            take(out, seen, picked)
        return ProposalBatch(proposer=self.name, proposals=out, notes=notes)

    @staticmethod
    def _neighbour(history: list[tuple[float, int, str]], fits: np.ndarray, seen: SeenArchs,
                   request: ProposalRequest, out: list[Proposal]) -> Proposal | None:
        by_index, by_function = seen_masks([*request.seen, *(p.arch for p in out)])
        table, ids, conn = neighbour_table(), canonical_ids(), connected()
        for rank, (acc, _, text) in enumerate(history):
            nb = table[index_of_string(text)]
            if not (fits[nb] & conn[nb] & ~by_index[nb] & ~by_function[ids[nb]]).any():
                continue  # vectorized pre-check: no fresh fitting neighbour here
            centre = Arch.from_string(text)
            options = fitting_neighbours(centre, lambda a: bool(fits[index_of(a)]), seen)
            if options:
                best = max(options, key=live_conv_cost)
                where = "the incumbent" if rank == 0 else f"evaluated arch #{rank + 1} by val (incumbent's fitting " \
                                                           "neighbourhood is used up)"
                return Proposal(arch=best.to_string(), parent=text,
                                reason=f"one-edge neighbour of {where} (val {acc:.2f}), best of {len(options)} unseen "
                                       "fitting neighbours by live conv FLOPs")
        return None

    def _restart(self, rng: random.Random, feasible: np.ndarray, request: ProposalRequest, out: list[Proposal],
                 done: int) -> Proposal | None:
        if len(feasible) == 0:
            return None
        seen_idx = np.fromiter((index_of_string(a) for a in [*request.seen, *(p.arch for p in out)]), dtype=np.int64)
        ids = canonical_ids()
        unseen = feasible[~np.isin(feasible, seen_idx)]
        if unseen.size == 0:
            return None
        fresh = unseen[connected()[unseen] & ~np.isin(ids[unseen], ids[seen_idx])]
        if fresh.size:
            picks = [int(fresh[rng.randrange(fresh.size)]) for _ in range(min(self.n_restart_samples, fresh.size))]
            best = max((arch_of_index(i) for i in set(picks)), key=lambda a: (live_conv_cost(a), a.code))
            why = "start" if done < self.n_initial else "restart (no evaluated arch has an unseen fitting neighbour)"
            return Proposal(arch=best.to_string(),
                            reason=f"{why}: best of {len(set(picks))} of the {fresh.size} unexplored feasible "
                                   "functions by live conv FLOPs")
        # every fitting function is proposed: another cell string (another training run) of the function whose
        # best measurement is highest, so the job's best-by-validation pick rests on more than one draw
        best_val: dict[int, float] = {}
        for e in request.evaluated:
            k = int(ids[index_of_string(e.arch)])
            best_val[k] = max(best_val.get(k, -np.inf), e.val_acc)
        order = np.array([best_val.get(int(k), -np.inf) for k in ids[unseen]])
        cand = unseen[order == order.max()]
        pick = max((arch_of_index(int(i)) for i in cand), key=lambda a: (live_conv_cost(a), a.code))
        measured = order.max()
        what = (f"of the function with the best measurement so far (val {measured:.2f})" if np.isfinite(measured)
                else "by live conv FLOPs")
        return Proposal(arch=pick.to_string(),
                        reason=f"every fitting function is proposed; {unseen.size} unseen fitting cell strings are "
                               f"left: another cell string (another training run) {what}")

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
(re-measurements), so the walk runs dry only when every feasible arch is proposed. With noisy
accuracies (real training) the centre is the best *measured* one, as the product keeps it.
"""

from __future__ import annotations

import random

import numpy as np

from agents.feasibility import feasible_set
from agents.messages import Proposal, ProposalBatch, ProposalRequest
from agents.proposers.base import rng_for
from agents.proposers.cheap_signals import live_conv_cost
from search_spaces.nb201.index import arch_of_index, index_of
from search_spaces.nb201.space import SPACE_SIZE, Arch


class LocalSearchProposer:
    name = "local"

    def __init__(self, n_initial: int = 2, n_restart_samples: int = 20) -> None:
        if n_initial < 1 or n_restart_samples < 1:
            raise ValueError("n_initial and n_restart_samples must be >= 1")
        self.n_initial = n_initial
        self.n_restart_samples = n_restart_samples

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        feasible = feasible_set(request.dataset, request.hardware, request.max_latency_ms)
        fits = np.zeros(SPACE_SIZE, dtype=bool)
        fits[feasible] = True
        seen = {Arch.from_string(a) for a in request.seen}
        seen_keys = {a.canonical_key() for a in seen}
        history = sorted(((e.val_acc, -i, Arch.from_string(e.arch)) for i, e in enumerate(request.evaluated)),
                         key=lambda t: (t[0], t[1]), reverse=True)
        out: list[Proposal] = []
        notes: list[str] = []
        for _ in range(request.n):
            picked = None
            if len(request.evaluated) + len(out) >= self.n_initial:
                picked = self._neighbour(history, fits, seen, seen_keys)
            if picked is None:
                picked = self._restart(rng, feasible, seen, seen_keys, len(request.evaluated) + len(out))
            if picked is None:
                notes.append(f"every one of the {len(feasible)} feasible archs is proposed")
                break
            arch = Arch.from_string(picked.arch)
            seen.add(arch)
            seen_keys.add(arch.canonical_key())
            out.append(picked)
        return ProposalBatch(proposer=self.name, proposals=out, notes=notes)

    @staticmethod
    def _fresh(arch: Arch, seen: set[Arch], seen_keys: set[str]) -> bool:
        return arch.output_connected and arch not in seen and arch.canonical_key() not in seen_keys

    def _neighbour(self, history: list[tuple[float, int, Arch]], fits: np.ndarray, seen: set[Arch],
                   seen_keys: set[str]) -> Proposal | None:
        for rank, (acc, _, centre) in enumerate(history):
            options = [n for n in centre.neighbours() if fits[index_of(n)] and self._fresh(n, seen, seen_keys)]
            if options:
                best = max(options, key=live_conv_cost)
                where = "the incumbent" if rank == 0 else f"evaluated arch #{rank + 1} by val (incumbent's fitting " \
                                                           "neighbourhood is used up)"
                return Proposal(arch=best.to_string(), parent=centre.to_string(),
                                reason=f"one-edge neighbour of {where} (val {acc:.2f}), best of {len(options)} unseen "
                                       "fitting neighbours by live conv FLOPs")
        return None

    def _restart(self, rng: random.Random, feasible: np.ndarray, seen: set[Arch], seen_keys: set[str],
                 done: int) -> Proposal | None:
        if len(feasible) == 0:
            return None
        options: list[Arch] = []
        for _ in range(4 * self.n_restart_samples):
            arch = arch_of_index(int(feasible[rng.randrange(len(feasible))]))
            if self._fresh(arch, seen, seen_keys):
                options.append(arch)
                if len(options) >= self.n_restart_samples:
                    break
        if not options:  # sampling keeps hitting seen archs: scan the feasible set in order
            options = [a for a in (arch_of_index(int(i)) for i in feasible) if self._fresh(a, seen, seen_keys)]
        if not options:  # every fitting function is proposed: another cell string of one (a re-measurement)
            options = [a for a in (arch_of_index(int(i)) for i in feasible) if a not in seen]
            if not options:
                return None
            best = max(options, key=live_conv_cost)
            return Proposal(arch=best.to_string(),
                            reason=f"every fitting function is proposed; {len(options)} unseen fitting cell strings "
                                   "are left: another cell string of one (another training run), by live conv FLOPs")
        best = max(options, key=live_conv_cost)
        why = "start" if done < self.n_initial else "restart (no evaluated arch has an unseen fitting neighbour)"
        return Proposal(arch=best.to_string(),
                        reason=f"{why}: best of {len(options)} unexplored feasible archs by live conv FLOPs")

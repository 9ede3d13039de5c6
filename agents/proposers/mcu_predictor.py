"""Predictor-guided search over the ``mcu`` space (the ``predictor`` proposer there; NPENAS / BANANAS style).

The mcu space (1.4 M archs) is scored on a candidate pool, not whole: the fresh fitting neighbours (one edge op or
one macro choice away) of the ``top_centres`` best evaluated archs, plus ``n_pool_samples`` random fitting draws.
A Gaussian process (the nb201 predictor's, :func:`agents.proposers.predictor.fit_surrogate`) is fitted on the
evaluated archs' features: per edge the live op (one-hot over the mcu ops, dead edges as ``none``), the macro
(log2 C, N, stem stride) and the estimator's log MACs and log parameters. The pool member with the highest
expected improvement over the best validation accuracy is proposed. Until ``n_initial`` archs are evaluated,
proposals are the best by estimated MACs of random fitting draws. Accuracies may be noisy (real training): the
white-noise term of the kernel smooths them.
"""

from __future__ import annotations

import math
import random

import numpy as np

from agents.messages import Proposal, ProposalBatch, ProposalRequest
from agents.proposers.base import SeenArchs, rng_for
from agents.proposers.mcu import Screen, mcu_history
from agents.proposers.mcu_local import fitting_draws, fitting_neighbours
from agents.proposers.predictor import expected_improvement, fit_surrogate
from search_spaces.mcu.space import N_EDGES, NONE, OPS, MCUArch


def features(arch: MCUArch, screen: Screen) -> np.ndarray:
    """Live-op one-hot per edge, then log2 C, N, stem stride, log MACs and log params (roughly unit scale)."""
    x = np.zeros(N_EDGES * len(OPS) + 5, dtype=np.float64)
    for e, (op, live) in enumerate(zip(arch.ops, arch.live_edges(), strict=True)):
        x[e * len(OPS) + (op if live else NONE)] = 1.0
    report = screen.report(arch)
    x[-5:] = (math.log2(arch.C) - 4.0, arch.N - 2.0, arch.stem_stride - 1.5,
              (math.log1p(report.macs) - 14.0) / 2.0, (math.log1p(report.params) - 10.0) / 2.0)
    return x


class MCUPredictorProposer:
    name = "mcu-predictor"

    def __init__(self, n_initial: int = 6, n_pool_samples: int = 200, top_centres: int = 5, max_train: int = 200,
                 refit_every: int = 10) -> None:
        if n_initial < 2 or max_train < n_initial or refit_every < 1 or n_pool_samples < 1 or top_centres < 0:
            raise ValueError("need n_initial >= 2, max_train >= n_initial, refit_every >= 1, n_pool_samples >= 1 "
                             "and top_centres >= 0")
        self.n_initial, self.n_pool_samples, self.top_centres = n_initial, n_pool_samples, top_centres
        self.max_train, self.refit_every = max_train, refit_every
        self._kernels: dict[tuple[int, str, int], object] = {}

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        seen = SeenArchs(request)
        screen = Screen(request)
        evaluated = mcu_history(request)
        if len(evaluated) < self.n_initial:
            return self._initial(request, rng, seen, screen)
        model = self._fit(request, evaluated, screen)
        pool = self._pool(evaluated, rng, seen, screen)
        if not pool:
            return ProposalBatch(proposer=self.name, proposals=[], notes=[
                "no fresh arch that fits found among the best archs' neighbours and the random draws"])
        x = np.stack([features(a, screen) for a in pool])
        mean, std = model.predict(x, return_std=True)  # type: ignore[attr-defined]
        ei = expected_improvement(mean, std, max(e.val_acc for e in evaluated))
        out: list[Proposal] = []
        for j in np.argsort(-ei, kind="stable")[:request.n]:
            arch = pool[int(j)]
            out.append(Proposal(arch=arch.to_string(), reason=(
                f"highest expected improvement ({ei[j]:.3f}) of a pool of {len(pool)} fresh fitting archs "
                f"(neighbours of the best {min(self.top_centres, len(evaluated))} and random draws); surrogate "
                f"predicts val {mean[j]:.2f} ± {std[j]:.2f}")))
        return ProposalBatch(proposer=self.name, proposals=out)

    def _initial(self, request: ProposalRequest, rng: random.Random, seen: SeenArchs, screen: Screen
                 ) -> ProposalBatch:
        out: list[Proposal] = []
        for _ in range(request.n):
            picks, draws = fitting_draws(rng, seen, screen, 20)
            if not picks:
                return ProposalBatch(proposer=self.name, proposals=out,
                                     notes=[f"none of {draws} random draws is fresh and fits"])
            best = max(picks, key=lambda a: (screen.report(a).macs, a.code))
            seen.add(best.to_string(), best.canonical_key())
            out.append(Proposal(arch=best.to_string(), reason=(
                f"initial sample: the most estimated MACs of {len(picks)} random fitting archs (the surrogate "
                f"starts after {self.n_initial} evaluations)")))
        return ProposalBatch(proposer=self.name, proposals=out)

    def _fit(self, request: ProposalRequest, evaluated: list, screen: Screen) -> object:
        def data(k: int) -> tuple[np.ndarray, np.ndarray]:
            rows = evaluated[:k][-self.max_train:]
            x = np.stack([features(MCUArch.from_string(e.arch), screen) for e in rows])
            return x, np.array([e.val_acc for e in rows], dtype=np.float64)

        return fit_surrogate(request, data, self.n_initial, self.refit_every, self._kernels)

    def _pool(self, evaluated: list, rng: random.Random, seen: SeenArchs, screen: Screen) -> list[MCUArch]:
        pool: dict[str, MCUArch] = {}
        for e in sorted(evaluated, key=lambda e: -e.val_acc)[:self.top_centres]:
            for arch in fitting_neighbours(MCUArch.from_string(e.arch), seen, screen):
                pool.setdefault(arch.canonical_key(), arch)
        draws, _ = fitting_draws(rng, seen, screen, self.n_pool_samples)
        for arch in draws:
            pool.setdefault(arch.canonical_key(), arch)
        return list(pool.values())


__all__ = ["MCUPredictorProposer", "features"]

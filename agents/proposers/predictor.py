"""Predictor-guided search over the exact feasible set (in the spirit of NPENAS / BANANAS).

A surrogate is fitted on the job's evaluated archs (the last ``max_train``) before every
proposal: a scikit-learn Gaussian process (RBF kernel plus a white-noise term, so noisy
accuracies are smoothed; its posterior standard deviation is the uncertainty) on the arch
encoding plus the cheap signals already computed — per edge the op that is *live*
(ops on edges off every input→output path count as ``none``: they never touch the output), the
estimator's log MACs and log parameters, and the live-conv-FLOPs signal. Every unseen arch of
the feasible set (:func:`agents.feasibility.feasible_set`) is scored at once (vectorized) and
the one with the highest expected improvement over the best validation accuracy so far is
proposed. Until ``n_initial`` archs are evaluated, proposals are the best by live conv FLOPs of
``n_initial_samples`` random feasible archs. A new function (canonical cell) is preferred; once
every fitting function is proposed, other cell strings of them follow (re-measurements).
Accuracies may be noisy (real training): the forest averages them, nothing assumes exact values.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from agents.feasibility import feasible_set, macro_for
from agents.messages import Proposal, ProposalBatch, ProposalRequest
from agents.proposers.base import ProposerUnavailable, rng_for
from agents.proposers.cheap_signals import live_conv_cost
from agents.proposers.neighbours import canonical_ids, connected, index_of_string
from search_spaces.nb201.index import arch_of_index
from search_spaces.nb201.space import N_EDGES, NONE, OPS, SPACE_SIZE


@lru_cache(maxsize=4)
def space_features(dataset: str) -> np.ndarray:
    """(15625, 30 + 3) float32, official index order: live-op one-hot per edge; log MACs, log params and
    live conv FLOPs, each standardized over the space."""
    from automcu.hardware.estimator import estimate_all

    feats = np.zeros((SPACE_SIZE, N_EDGES * len(OPS) + 3), dtype=np.float32)
    signal = np.zeros(SPACE_SIZE, dtype=np.float32)
    for i in range(SPACE_SIZE):
        arch = arch_of_index(i)
        for e, (op, live) in enumerate(zip(arch.ops, arch.live_edges(), strict=True)):
            feats[i, e * len(OPS) + (op if live else NONE)] = 1.0
        signal[i] = live_conv_cost(arch)
    figures = estimate_all(None, macro_for(dataset))
    feats[:, -3] = np.log1p(figures["macs"].astype(np.float64))
    feats[:, -2] = np.log1p(figures["params"].astype(np.float64))
    feats[:, -1] = signal
    extra = feats[:, -3:]
    feats[:, -3:] = (extra - extra.mean(axis=0)) / np.maximum(extra.std(axis=0), 1e-6)  # one-hot scale
    return feats


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    std = np.maximum(std, 1e-6)
    z = (mean - best) / std
    cdf = _norm_cdf(z)
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return (mean - best) * cdf + std * pdf


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return np.asarray(ndtr(z))


def fit_surrogate(request: ProposalRequest, data: Callable[[int], tuple[np.ndarray, np.ndarray]], n_initial: int,
                  refit_every: int, kernels: dict[tuple[int, str, int], object]) -> object:
    """A Gaussian process (RBF + white noise) on ``data(len(request.evaluated))``, the (features, val acc) of the
    evaluated archs. Kernel hyper-parameters are tuned (marginal likelihood) on ``data(k)``, the first multiple of
    ``refit_every`` evaluations, and kept until the next one: a function of the history alone, so a resumed job
    proposes the same; ``kernels`` (a cache) only saves recomputing them."""
    try:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
    except ImportError as exc:  # guards an install without scikit-learn
        raise ProposerUnavailable(f"the predictor proposer needs scikit-learn ({exc})") from exc
    import warnings

    n = len(request.evaluated)
    k = max(n_initial, n - n % refit_every)
    key = (request.seed, request.dataset, hash(tuple((e.arch, e.val_acc) for e in request.evaluated[:k])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bounds reached by the noise term on clean data: harmless
        kernel = kernels.get(key)
        if kernel is None:
            start = ConstantKernel(1.0, (1e-2, 1e2)) * RBF(3.0, (0.3, 100.0)) + WhiteKernel(0.1, (1e-4, 10.0))
            tuned = GaussianProcessRegressor(kernel=start, normalize_y=True, n_restarts_optimizer=0,
                                             random_state=request.seed).fit(*data(k))
            kernel = tuned.kernel_
            if len(kernels) > 64:
                kernels.clear()
            kernels[key] = kernel
        model = GaussianProcessRegressor(kernel=kernel, normalize_y=True, optimizer=None)
        model.fit(*data(n))
    return model


class PredictorProposer:
    name = "predictor"

    def __init__(self, n_initial: int = 6, n_initial_samples: int = 20, max_train: int = 200,
                 refit_every: int = 10) -> None:
        if n_initial < 2 or max_train < n_initial or refit_every < 1:
            raise ValueError("need n_initial >= 2, max_train >= n_initial and refit_every >= 1")
        self.n_initial = n_initial
        self.n_initial_samples = n_initial_samples
        self.max_train = max_train
        self.refit_every = refit_every
        self._kernels: dict[tuple[int, str, int], object] = {}  # (seed, dataset, n) -> tuned kernel (a cache)

    def propose(self, request: ProposalRequest) -> ProposalBatch:
        rng = rng_for(request, self.name)
        feasible = np.asarray(feasible_set(request.dataset, request.hardware, request.max_latency_ms))
        seen_idx = {index_of_string(a) for a in request.seen}
        ids = canonical_ids()
        seen_ids = {int(ids[i]) for i in seen_idx}
        out: list[Proposal] = []
        notes: list[str] = []
        model = self._fit(request) if len(request.evaluated) >= self.n_initial else None
        scores = None
        for _ in range(request.n):
            unseen = feasible[~np.isin(feasible, np.fromiter(seen_idx, dtype=np.int64, count=len(seen_idx)))]
            if unseen.size == 0:
                notes.append(f"every one of the {len(feasible)} feasible archs is proposed")
                break
            fresh = unseen[connected()[unseen] & ~np.isin(ids[unseen], np.fromiter(seen_ids, dtype=np.int64,
                                                                                   count=len(seen_ids)))]
            pool = fresh if fresh.size else unseen
            tier = "" if fresh.size else " (every fitting function is proposed: another cell string of one)"
            if model is None:
                pick, why = self._initial(rng, pool)
            else:
                if scores is None or scores[0] is not pool:
                    scores = (pool, *self._scores(model, request, pool))
                pick, why = self._best(pool, scores[1:], pool)
            seen_idx.add(pick)
            seen_ids.add(int(ids[pick]))
            out.append(Proposal(arch=arch_of_index(pick).to_string(), reason=why + tier))
        return ProposalBatch(proposer=self.name, proposals=out, notes=notes)

    def _initial(self, rng: random.Random, pool: np.ndarray) -> tuple[int, str]:
        picks = [int(pool[rng.randrange(len(pool))]) for _ in range(self.n_initial_samples)]
        best = max(picks, key=lambda i: live_conv_cost(arch_of_index(i)))
        return best, (f"initial sample: best of {len(set(picks))} random feasible archs by live conv FLOPs "
                      f"(the surrogate starts after {self.n_initial} evaluations)")

    def _fit(self, request: ProposalRequest) -> object:
        def data(k: int) -> tuple[np.ndarray, np.ndarray]:
            evaluated = request.evaluated[:k][-self.max_train:]
            x = space_features(request.dataset)[[index_of_string(e.arch) for e in evaluated]]
            return x, np.array([e.val_acc for e in evaluated], dtype=np.float64)

        return fit_surrogate(request, data, self.n_initial, self.refit_every, self._kernels)

    @staticmethod
    def _scores(model: object, request: ProposalRequest, feasible: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                                            np.ndarray]:
        x = space_features(request.dataset)[feasible]
        mean, std = model.predict(x, return_std=True)  # type: ignore[attr-defined]
        best = max(e.val_acc for e in request.evaluated)
        return expected_improvement(mean, std, best), mean, std

    @staticmethod
    def _best(pool: np.ndarray, scores: tuple[np.ndarray, np.ndarray, np.ndarray],
              feasible: np.ndarray) -> tuple[int, str]:
        ei, mean, std = scores
        pos = np.searchsorted(feasible, pool)
        j = int(pos[int(np.argmax(ei[pos]))])
        return int(feasible[j]), (f"highest expected improvement ({ei[j]:.3f}) of {len(pool)} unseen feasible "
                                  f"archs; surrogate predicts val {mean[j]:.2f} ± {std[j]:.2f}")

"""The proposer interface: one request message in, one batch of proposals out."""

from __future__ import annotations

import random
from typing import Protocol

from agents.messages import ProposalBatch, ProposalRequest


class Proposer(Protocol):
    name: str

    def propose(self, request: ProposalRequest) -> ProposalBatch: ...


def rng_for(request: ProposalRequest, salt: str = "") -> random.Random:
    """Deterministic randomness from (seed, step): same history, same proposals, after a resume too."""
    return random.Random(f"{request.seed}:{request.step}:{salt}")


class SeenArchs:
    """Archs already proposed in the job plus this batch's own picks, without copying the job's history.

    The request's shared sets are read, never modified; what the proposer picks is kept on the side.
    """

    def __init__(self, request: ProposalRequest) -> None:
        self._shared, self._shared_keys = request.seen_set(), request.seen_keys()
        self._mine: set[str] = set()
        self._mine_keys: set[str] = set()

    def __contains__(self, arch: str) -> bool:
        return arch in self._shared or arch in self._mine

    def has_function(self, canonical_key: str) -> bool:
        return canonical_key in self._shared_keys or canonical_key in self._mine_keys

    def add(self, arch: str, canonical_key: str | None = None) -> None:
        self._mine.add(arch)
        if canonical_key is not None:
            self._mine_keys.add(canonical_key)

    def __len__(self) -> int:
        return len(self._shared) + len(self._mine - self._shared)


class ProposerUnavailable(RuntimeError):
    """A proposer cannot deliver (e.g. its LLM endpoint keeps failing); the planner falls back.

    ``reason`` is a one-line, user-facing explanation to record with the fallback;
    ``usage`` carries whatever token/latency accounting was gathered before the failure.
    """

    def __init__(self, reason: str, usage: dict[str, float] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = dict(usage or {})

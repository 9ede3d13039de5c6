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


class ProposerUnavailable(RuntimeError):
    """A proposer cannot deliver (e.g. its LLM endpoint keeps failing); the planner falls back.

    ``reason`` is a one-line, user-facing explanation to record with the fallback;
    ``usage`` carries whatever token/latency accounting was gathered before the failure.
    """

    def __init__(self, reason: str, usage: dict[str, float] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = dict(usage or {})

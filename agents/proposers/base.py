"""The proposer interface: one request message in, one batch of proposals out."""

from __future__ import annotations

import random
from typing import Protocol

from automcu.messages import ProposalBatch, ProposalRequest


class Proposer(Protocol):
    name: str

    def propose(self, request: ProposalRequest) -> ProposalBatch: ...


def rng_for(request: ProposalRequest, salt: str = "") -> random.Random:
    """Deterministic randomness from (seed, step): same history, same proposals, after a resume too."""
    return random.Random(f"{request.seed}:{request.step}:{salt}")

"""Typed messages exchanged between the planner and its agents.

Agents are state-isolated: each takes exactly one input message and returns one output
message; the planner stores both (``agent_messages`` table), so any job can be replayed,
audited and resumed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

from automcu.hardware.spec import HardwareSpec

Resource = Literal["flash", "sram", "latency"]


# ----- feasibility ----------------------------------------------------------------------------
class FeasibilityRequest(BaseModel):
    arch: str
    dataset: str = "cifar10"
    hardware: HardwareSpec | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)
    verify: Literal["none", "near", "all"] = "none"


class Violation(BaseModel):
    resource: Resource
    value: float
    limit: float
    excess: float
    unit: str
    layer: str | None = None

    def describe(self) -> str:
        where = f" (peak at {self.layer})" if self.layer else ""
        return f"{self.resource} {self.value:,.0f} {self.unit} > limit {self.limit:,.0f} by {self.excess:,.0f}{where}"


class FeasibilityReport(BaseModel):
    arch: str
    index: int
    feasible: bool
    violations: list[Violation] = []
    margins: dict[str, float] = {}  # resource -> (limit - value) / limit, for the constrained ones
    flash_bytes: int
    peak_sram_bytes: int
    latency_ms: float
    macs: int
    params: int
    verified: dict | None = None  # real-interpreter figures when the check ran


# ----- proposer -------------------------------------------------------------------------------
class EvaluatedCandidate(BaseModel):
    arch: str
    val_acc: float
    flash_bytes: int | None = None
    peak_sram_bytes: int | None = None
    latency_ms: float | None = None
    margins: dict[str, float] = {}


class RejectedCandidate(BaseModel):
    arch: str
    violations: list[Violation]


class ProposalRequest(BaseModel):
    """Everything a proposer may know: the job's spec and its history so far."""

    task: str | None = None
    dataset: str
    hardware: HardwareSpec | None = None
    max_latency_ms: float | None = None
    n: int = Field(default=1, ge=1, description="how many new archs are wanted")
    seed: int = 0
    step: int = Field(default=0, description="proposal round; proposers derive their randomness from (seed, step)")
    evaluated: list[EvaluatedCandidate] = []  # in evaluation order
    rejected: list[RejectedCandidate] = []  # recent infeasible proposals with their reasons
    seen: list[str] = []  # every arch already proposed in this job (never propose them again)

    # Lookups the planner keeps up to date as the job runs (so a proposer needs no pass over the history);
    # a request built by hand computes them from its lists on first use. Read-only for proposers.
    _seen_set: set[str] | None = PrivateAttr(default=None)
    _seen_keys: set[str] | None = PrivateAttr(default=None)
    _best: int | None = PrivateAttr(default=None)

    def seen_set(self) -> set[str]:
        """``seen`` as a set (shared with the planner: do not modify it; copy it or keep your own additions)."""
        if self._seen_set is None:
            self._seen_set = set(self.seen)
        return self._seen_set

    def seen_keys(self) -> set[str]:
        """Canonical keys (the function each cell computes) of ``seen``; shared like :meth:`seen_set`."""
        if self._seen_keys is None:
            from search_spaces.mcu.space import is_mcu_arch
            from search_spaces.spaces import parse_in_space

            self._seen_keys = {parse_in_space("mcu" if is_mcu_arch(a) else "nb201", a).iso_key for a in self.seen}
        return self._seen_keys

    def best_position(self) -> int | None:
        """Position in ``evaluated`` of the incumbent (highest val_acc, earliest on ties); None when empty."""
        if self._best is None and self.evaluated:
            self._best = max(range(len(self.evaluated)), key=lambda i: (self.evaluated[i].val_acc, -i))
        return self._best

    def with_lookups(self, seen_set: set[str], seen_keys: set[str], best: int | None) -> ProposalRequest:
        """Attach the planner's live lookups (O(1); they must describe exactly ``seen`` and ``evaluated``)."""
        self._seen_set, self._seen_keys, self._best = seen_set, seen_keys, best
        return self


class Proposal(BaseModel):
    arch: str
    reason: str
    parent: str | None = None


class ProposalBatch(BaseModel):
    proposer: str
    proposals: list[Proposal]
    notes: list[str] = []  # e.g. fallback reasons, repair rounds
    usage: dict[str, float] = {}  # tokens / latency for LLM calls


# ----- evaluator ------------------------------------------------------------------------------
class EvaluationRequest(BaseModel):
    """One accuracy query. ``rung`` set: one rung of a multi-fidelity (asha) job, trained for exactly
    ``epochs`` on a seeded ``data_fraction`` of the training split (the validation split stays whole)."""

    arch: str
    dataset: str
    epochs: int = 200
    seed: int = 0
    rung: int | None = Field(default=None, ge=0, description="asha: the rung this request trains; None: full")
    data_fraction: float = Field(default=1.0, gt=0, le=1, description="share of the training images used")


class EvaluationResult(BaseModel):
    arch: str
    index: int
    val_acc: float
    test_acc: float
    train_seconds: float
    params: float  # millions
    flops: float  # millions
    source: str
    rung: int | None = None  # echoed from the request (asha rungs)
    epochs: int | None = None  # epochs actually trained (training evaluator)
    train_images: int | None = None  # training images actually used (training evaluator)

"""Response and request models of the REST API (the job body itself is :class:`automcu.jobs.spec.JobSpec`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from automcu.jobs.spec import CustomHardware


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive timestamps; they are UTC (the models store utcnow())."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


Timestamp = Annotated[datetime, AfterValidator(_utc)]
EXAMPLE_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
JobStatus = Literal["queued", "running", "stale", "succeeded", "failed", "cancelled"]
CandidateStatus = Literal["proposed", "infeasible", "evaluated", "failed", "pruned"]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    database: str = Field(description="the storage backend (sqlite, postgresql, ...)")


class JobAccepted(BaseModel):
    id: str
    status: JobStatus


class MemorySplit(BaseModel):
    """Flash and SRAM as model/arena + runtime = total, against the board's limit (as the CLI reports them)."""

    flash_model_bytes: int | None = Field(default=None, description="int8 weights and graph")
    flash_runtime_bytes: int | None = Field(default=None, description="the board's runtime code (TFLM + app)")
    flash_total_bytes: int | None = Field(default=None, description="model + runtime (= flash_bytes)")
    flash_limit_bytes: int | None = Field(default=None, description="the board's Flash; null without hardware")
    sram_arena_bytes: int | None = Field(default=None, description="peak tensor arena")
    sram_runtime_bytes: int | None = Field(default=None, description="the board's runtime RAM")
    sram_total_bytes: int | None = Field(default=None, description="arena + runtime (= peak_sram_bytes)")
    sram_limit_bytes: int | None = Field(default=None, description="the board's SRAM; null without hardware")


class BestCandidate(MemorySplit):
    """The best evaluated candidate (highest validation accuracy), as `automcu search` prints it."""

    arch: str
    index: int
    val_acc: float | None = None
    test_acc: float | None = None
    flash_bytes: int | None = None
    peak_sram_bytes: int | None = None
    latency_ms: float | None = None
    rung: int | None = Field(default=None, description="asha jobs: the highest rung this candidate trained")
    top_rung: bool | None = Field(default=None, description="asha jobs: false when no candidate completed the top "
                                  "rung yet and this is the best at the highest rung reached")


class RungOut(BaseModel):
    """One rung a multi-fidelity (asha) candidate trained."""

    rung: int
    epochs: int
    data_fraction: float
    val_acc: float
    test_acc: float | None = None
    seconds: float = Field(description="measured training time of this rung")
    decision: Literal["promoted", "pruned", "completed"]
    seq: int = Field(description="the job-wide order in which rung results were reported to the pruner")


class AshaOut(BaseModel):
    """The rungs of an asha job (automcu.core.fidelity)."""

    min_epochs: int
    reduction_factor: int
    min_data_fraction: float
    rungs: list[dict[str, Any]] = Field(description="rung, epochs, data_fraction of each rung, cheapest first")
    pruner: str
    weights: str


class Artifact(BaseModel):
    name: str
    url: str


class JobCounts(BaseModel):
    n_proposed: int = 0
    n_infeasible: int = 0
    n_evaluated: int = 0


class JobBrief(JobCounts):
    """A job as listed."""

    id: str
    status: JobStatus = Field(description="`stale`: running, but its worker's heartbeat lapsed (it will be resumed)")
    dataset: str
    board: str | None = None
    budget: int
    proposer: str
    space: Literal["nb201", "mcu"] = Field(default="nb201", description="the search space (nb201 or mcu); "
                                           "mcu archs read C<channels>-N<cells>-S<stem stride>:<cell>")
    owner: str | None = None
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None


class JobOut(JobBrief):
    """A job with its spec, progress and, once anything is evaluated, its best candidate."""

    hardware: dict[str, Any] | None = None
    max_latency_ms: float | None = None
    task: str | None = None
    task_spec: dict[str, Any] | None = None
    proposer_used: str | None = None
    seed: int
    epochs: int
    heartbeat_at: Timestamp | None = None
    cancel_requested: bool = False
    stop_reason: str | None = None
    error: str | None = None
    best: BestCandidate | None = None
    simulated_train_seconds: float = 0.0
    wall_seconds: float = 0.0
    artifacts: list[Artifact] = []
    fidelity: Literal["full", "asha"] = Field(default="full", description="asha: multi-fidelity screening")
    asha: AshaOut | None = None
    n_pruned: int = Field(default=0, description="asha: candidates stopped below the top rung (in n_evaluated)")
    best_note: str | None = Field(default=None, description="asha: set when `best` has not completed the top rung")


class JobList(BaseModel):
    items: list[JobBrief]
    total: int


class CandidateOut(MemorySplit):
    id: int
    arch: str
    index: int
    status: CandidateStatus
    feasible: bool
    step: int
    proposer: str
    reason: str | None = None
    parent: str | None = None
    violations: list[dict[str, Any]] = []
    violation_text: list[str] = Field(default=[], description="each violation as a sentence")
    flash_bytes: int | None = None
    peak_sram_bytes: int | None = None
    latency_ms: float | None = None
    macs: int | None = None
    params: int | None = None
    eval_order: int | None = None
    val_acc: float | None = None
    test_acc: float | None = None
    train_seconds: float | None = None
    error: str | None = None
    created_at: Timestamp
    evaluated_at: Timestamp | None = None
    rung: int | None = Field(default=None, description="asha jobs: the highest rung trained")
    rungs: list[RungOut] | None = Field(default=None, description="asha jobs: each rung trained, cheapest first")


class CandidateList(BaseModel):
    items: list[CandidateOut]
    total: int


class BoardOut(BaseModel):
    name: str
    core: str
    clock_mhz: float
    sram_kb: float
    flash_kb: float
    runtime_flash_kb: float = 0.0
    runtime_sram_kb: float = 0.0
    vendor: str = ""
    datasheet: str = ""
    notes: str = ""


class BoardList(BaseModel):
    items: list[BoardOut]
    total: int


ArchIndex = Annotated[int, Field(ge=0, le=15624, strict=True)]
ArchString = Annotated[str, Field(min_length=1, max_length=400)]


class EstimateRequest(BaseModel):
    """An arch (NB201 string or index 0-15624) checked against a board or a custom spec."""

    model_config = {"extra": "forbid"}

    arch: ArchIndex | ArchString = Field(
        examples=[EXAMPLE_ARCH, 1462],
        description="an NB201 arch string or its index 0-15624 (a boolean is not an arch)")
    dataset: str = "cifar10"
    board: str | None = None
    hardware: CustomHardware | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)


class EstimateOut(BaseModel):
    arch: str
    index: int
    flash_bytes: int
    peak_sram_bytes: int
    latency_ms: float
    macs: int
    params: int
    feasible: bool
    violations: list[dict[str, Any]] = []


class ErrorOut(BaseModel):
    detail: str

"""The job loop: propose → feasibility → evaluate → record, until the budget or a stop rule ends it.

Every agent call is one typed message in and one out, both stored. All state lives in the
database: a job killed at any point resumes from it (feasible candidates not yet evaluated are
evaluated first; nothing is proposed, stored or paid twice).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from agents.messages import (
    EvaluatedCandidate,
    EvaluationRequest,
    FeasibilityReport,
    FeasibilityRequest,
    Proposal,
    ProposalBatch,
    ProposalRequest,
    RejectedCandidate,
    Violation,
)
from agents.proposers.base import Proposer, ProposerUnavailable
from agents.proposers.factory import OFFLINE_DEFAULT, make_proposer, resolve_name
from automcu.core.config import Settings, get_settings
from automcu.engine.task_step import derive_job_spec
from automcu.hardware.spec import HardwareSpec
from automcu.storage.db import Database
from automcu.storage.models import AgentMessage, Candidate, Job, utcnow
from automcu.storage.repository import add_event, claim_job, get_job, heartbeat, lease_holder_message
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import ArchError, parse_arch

ProgressFn = Callable[[str, dict[str, Any]], None]
MAX_IDLE_ROUNDS = 20  # proposal rounds in a row that add no new feasible candidate → sample the feasible set
SPACE_SIZE = 15625
RECENT_REJECTED = 20


class JobBusy(RuntimeError):
    """The job is held by a live process, or already finished."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Planner:
    def __init__(self, db: Database, job_id: str, settings: Settings | None = None,
                 progress: ProgressFn | None = None) -> None:
        self.db = db
        self.job_id = job_id
        self.settings = settings or get_settings()
        self.progress = progress or (lambda _kind, _data: None)
        self.worker = worker_id()
        self._started = time.monotonic()
        self._wall_mark = time.monotonic()

    # ----- lifecycle ---------------------------------------------------------------------------
    def run(self, allow_failed: bool = False, force: bool = False) -> Job:
        job = get_job(self.db, self.job_id)
        if not claim_job(self.db, self.job_id, self.worker, self.settings.lease_seconds, allow_failed, force):
            job = get_job(self.db, self.job_id)
            if job.status == "running":
                raise JobBusy(lease_holder_message(job, self.settings.lease_seconds))
            raise JobBusy(f"job {job.id} is {job.status}; nothing to run")
        stop_beat = self._start_heartbeat()
        try:
            job = get_job(self.db, self.job_id)
            with self.db.transaction() as s:
                add_event(s, job.id, "started", worker=self.worker)
            job = derive_job_spec(self.db, job, self.settings)
            self.progress("started", {"job_id": job.id, "budget": job.budget})
            reason, status = self._loop(job)
            if status == "succeeded" and job.compress:
                self._hand_off()
            self._finish(status, reason)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                self._interrupted()
                raise
            if isinstance(exc, SystemExit):
                raise  # a worker stopped by a signal releases the lease itself; the next worker resumes
            self._finish("failed", "error", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            stop_beat.set()
        return get_job(self.db, self.job_id)

    def _interrupted(self) -> None:
        """Ctrl-C: the lease is released and the job marked interrupted, resumable with `automcu resume`."""
        reason = f"interrupted (Ctrl-C); resume with `automcu resume {self.job_id}`"
        with self.db.transaction() as s:
            res = s.execute(update(Job).where(Job.id == self.job_id, Job.lease_owner == self.worker).values(
                status="failed", stop_reason="interrupted", error=reason, lease_owner=None, heartbeat_at=None,
                wall_seconds=Job.wall_seconds + (time.monotonic() - self._wall_mark)))
            if res.rowcount:
                add_event(s, self.job_id, "interrupted", worker=self.worker, reason=reason)

    def _hand_off(self) -> None:
        """The winner to the compression backend (the job asked for it); recorded on the job either way."""
        from automcu.engine.handoff import compress_winner

        self.progress("compressing", {})
        summary = compress_winner(self.db, get_job(self.db, self.job_id), self.settings)
        self.progress("compressed", {"summary": summary})

    def _start_heartbeat(self) -> threading.Event:
        stop = threading.Event()
        period = max(0.5, self.settings.lease_seconds / 3)

        def beat() -> None:
            while not stop.wait(period):
                heartbeat(self.db, self.job_id, self.worker)

        threading.Thread(target=beat, name=f"heartbeat-{self.job_id}", daemon=True).start()
        return stop

    def _finish(self, status: str, reason: str, error: str | None = None) -> None:
        with self.db.transaction() as s:
            job = s.get(Job, self.job_id)
            assert job is not None
            if job.lease_owner not in (None, self.worker):
                return  # another worker took the job over (this one stalled past its lease): it finishes it
            job.status = status
            job.stop_reason = reason
            job.error = error
            job.finished_at = utcnow()
            job.wall_seconds += time.monotonic() - self._wall_mark
            self._wall_mark = time.monotonic()
            add_event(s, job.id, "finished", status=status, reason=reason, error=error)
        self.progress("finished", {"status": status, "reason": reason})

    # ----- the loop ----------------------------------------------------------------------------
    def _loop(self, job: Job) -> tuple[str, str]:
        hardware = HardwareSpec(**job.hardware) if job.hardware else None
        proposer = self._proposer(job)
        from agents.feasibility import FeasibilityAgent
        from automcu.executors import ExecutorSettings, build_evaluator, evaluator_spec_for, shared_executor

        feasibility = FeasibilityAgent()
        exec_cfg = ExecutorSettings()
        evaluator = (shared_executor(exec_cfg), evaluator_spec_for(job, self.settings.simulated_time_scale), exec_cfg)
        build_evaluator(evaluator[1])  # a bad evaluator fails the job here, not each evaluation
        idle_rounds = 0
        cands = self._candidates()  # loaded once; each step appends to / updates this list in memory
        self._load_state(cands)
        feasible = feasibility.feasible_set(job.dataset, hardware, job.max_latency_ms)
        if len(feasible) == 0:
            return (f"no arch of the space fits these limits (0 of {SPACE_SIZE:,} feasible by the estimator); "
                    "nothing was evaluated"), "failed"
        dry = False  # the proposer ran dry: the rest of the job samples the unexplored feasible set
        while True:
            stop = self._stop_rule(job)
            if stop:
                return self._no_winner_check(stop)
            self._pending = [c for c in self._pending if c.status == "proposed"]
            if self._pending:
                self._evaluate(job, evaluator, list(self._pending))
                continue
            step = self._step
            self._step += 1
            request = self._proposal_request(job, hardware, step, min(job.batch_size, self._remaining(job)))
            if dry:
                batch = self._from_feasible_set(job, feasible, step, request.n)
                if not batch.proposals:
                    return self._no_winner_check(
                        (f"the feasible space is exhausted: all {len(feasible):,} feasible archs were proposed",
                         "succeeded"))
            else:
                batch, proposer = self._propose(job, proposer, request)
            added = self._record_proposals(job, hardware, feasibility, step, request, batch, cands)
            idle_rounds = 0 if added else idle_rounds + 1
            if idle_rounds >= MAX_IDLE_ROUNDS and not dry:
                dry, idle_rounds = True, 0
                self._note_ran_dry(proposer.name, feasible)
            elif idle_rounds >= MAX_IDLE_ROUNDS:  # only when the estimator's set disagrees with the agent's check
                return self._no_winner_check(("the proposals from the feasible set keep failing the feasibility "
                                              "check (verification disagrees with the estimate)", "succeeded"))

    def _unexplored(self, feasible: Any) -> list[int]:
        """Feasible official indices not yet proposed in this job (exact, counted now)."""
        return [int(i) for i in feasible if int(i) not in self._seen_index]

    def _note_ran_dry(self, proposer: str, feasible: Any) -> None:
        left = len(self._unexplored(feasible))
        why = (f"{proposer} proposer added no new feasible candidate in {MAX_IDLE_ROUNDS} rounds; continuing "
               f"from the feasible set ({left:,} of {len(feasible):,} feasible archs not yet proposed)")
        with self.db.transaction() as s:
            add_event(s, self.job_id, "proposer_ran_dry", proposer=proposer, feasible=len(feasible),
                      unexplored=left, reason=why)
        self.progress("proposer_ran_dry", {"reason": why, "unexplored": left, "feasible": len(feasible)})

    def _from_feasible_set(self, job: Job, feasible: Any, step: int, n: int) -> ProposalBatch:
        """A seeded sample of the unexplored feasible archs (same seed and step, same sample)."""
        import numpy as np

        from search_spaces.nb201.index import arch_of_index

        left = self._unexplored(feasible)
        rng = np.random.default_rng([job.seed, step])
        picks = rng.choice(len(left), size=min(n, len(left)), replace=False) if left else []
        reason = f"sampled from the {len(left):,} unexplored feasible archs (the proposer ran dry)"
        return ProposalBatch(proposer="feasible-set", proposals=[
            Proposal(arch=arch_of_index(left[int(k)]).to_string(), reason=reason) for k in picks])

    def _no_winner_check(self, stop: tuple[str, str]) -> tuple[str, str]:
        """A job never ends `succeeded` without a winner."""
        reason, status = stop
        if status == "succeeded" and self._best is None:
            return f"{reason}; no candidate was evaluated, so there is no winner", "failed"
        return stop

    def _load_state(self, cands: list[Candidate]) -> None:
        """The job's history in memory, once: what each step adds is appended, nothing is reloaded."""
        self._step = self._next_step()
        evaluated = sorted((c for c in cands if c.status == "evaluated"), key=lambda c: c.eval_order or 0)
        self._evaluated: list[EvaluatedCandidate] = []
        self._n_evaluated = 0
        self._sim_seconds = 0.0
        self._best: tuple[float, int] | None = None  # (val_acc, eval_order) of the incumbent
        for c in evaluated:
            self._note_evaluated(c)
        self._seen: list[str] = [c.arch for c in cands]
        self._seen_index: set[int] = {c.index for c in cands}  # official indices, for the feasible-set fallback
        self._rejected: deque[RejectedCandidate] = deque(maxlen=RECENT_REJECTED)
        self._rejected_ids: deque[int] = deque(maxlen=RECENT_REJECTED)
        for c in cands:
            if c.status == "infeasible":
                self._note_rejected(c)
        self._pending: list[Candidate] = [c for c in cands if c.status == "proposed"]
        self._digest = chain_digest("", self._seen)

    def _note_evaluated(self, c: Candidate) -> None:
        self._evaluated.append(EvaluatedCandidate(
            arch=c.arch, val_acc=c.val_acc or 0.0, flash_bytes=c.flash_bytes, peak_sram_bytes=c.peak_sram_bytes,
            latency_ms=c.latency_ms, margins=c.margins or {}))
        self._n_evaluated += 1
        self._sim_seconds += c.train_seconds or 0.0
        order = c.eval_order or self._n_evaluated
        if c.val_acc is not None and (self._best is None or c.val_acc > self._best[0]):
            self._best = (c.val_acc, order)

    def _note_rejected(self, c: Candidate) -> None:
        self._rejected.append(RejectedCandidate(arch=c.arch, violations=[Violation(**v) for v in c.violations or []]))
        self._rejected_ids.append(c.id)

    def _remaining(self, job: Job) -> int:
        """Evaluations left in the budget (the one place this is computed)."""
        return max(0, job.budget - self._n_evaluated)

    def _proposer(self, job: Job) -> Proposer:
        name = job.proposer_used or resolve_name(job.proposer, self.settings)
        try:
            proposer = make_proposer(name, self.settings)
        except (ValueError, ProposerUnavailable) as exc:
            if job.proposer != "auto" and name == job.proposer:
                raise
            proposer = make_proposer(OFFLINE_DEFAULT, self.settings)
            self._note_fallback(str(exc))
        with self.db.transaction() as s:
            s.execute(update(Job).where(Job.id == job.id).values(proposer_used=proposer.name))
        return proposer

    def _note_fallback(self, why: str) -> None:
        with self.db.transaction() as s:
            s.execute(update(Job).where(Job.id == self.job_id).values(proposer_used=OFFLINE_DEFAULT))
            add_event(s, self.job_id, "proposer_fallback", to=OFFLINE_DEFAULT, reason=why)
        self.progress("proposer_fallback", {"reason": why})

    def _propose(self, job: Job, proposer: Proposer, request: ProposalRequest) -> tuple[ProposalBatch, Proposer]:
        try:
            return proposer.propose(request), proposer
        except ProposerUnavailable as exc:
            self._note_fallback(f"{proposer.name} proposer failed: {exc}")
            fallback = make_proposer(OFFLINE_DEFAULT, self.settings)
            return fallback.propose(request), fallback

    def _stop_rule(self, job: Job) -> tuple[str, str] | None:
        with self.db.read_session() as s:
            fresh = s.get(Job, job.id)
            assert fresh is not None
            if fresh.cancel_requested:
                return "cancelled by user", "cancelled"
            if fresh.lease_owner != self.worker:
                raise JobBusy(f"job {job.id} was taken over by {fresh.lease_owner}")
            wall = fresh.wall_seconds + (time.monotonic() - self._wall_mark)
        if self._remaining(job) <= 0:
            return f"budget of {job.budget} evaluations spent", "succeeded"
        if job.max_sim_seconds is not None and self._sim_seconds >= job.max_sim_seconds:
            return f"simulated training budget of {job.max_sim_seconds:.0f} s spent", "succeeded"
        if job.max_wall_seconds is not None and wall >= job.max_wall_seconds:
            return f"wall-clock budget of {job.max_wall_seconds:.0f} s spent", "succeeded"
        if job.patience is not None and self._best is not None:
            if self._n_evaluated - self._best[1] >= job.patience:
                return f"no improvement in {job.patience} evaluations", "succeeded"
        return None

    # ----- steps ---------------------------------------------------------------------------------
    def _candidates(self) -> list[Candidate]:
        with self.db.read_session() as s:
            return list(s.scalars(select(Candidate).where(Candidate.job_id == self.job_id).order_by(Candidate.id)))

    def _next_step(self) -> int:
        with self.db.read_session() as s:
            q = select(AgentMessage.step).where(AgentMessage.job_id == self.job_id, AgentMessage.agent == "proposer")
            steps = list(s.scalars(q))
        return max(steps) + 1 if steps else 0

    def _proposal_request(self, job: Job, hardware: HardwareSpec | None, step: int, n: int) -> ProposalRequest:
        """Built from the in-memory history (list copies, no validation of the history again)."""
        return ProposalRequest.model_construct(
            task=job.task, dataset=job.dataset, hardware=hardware, max_latency_ms=job.max_latency_ms,
            n=max(1, n), seed=job.seed, step=step, evaluated=list(self._evaluated), rejected=list(self._rejected),
            seen=list(self._seen),
        )

    def _request_by_reference(self, request: ProposalRequest, cands: list[Candidate]) -> dict[str, Any]:
        """The proposer's input as stored: the request without its history, which is named by reference.

        The history a proposer saw at a step is exactly the job's candidates up to ``seen_through_id`` (in id
        order) and its evaluations up to ``evaluated_through_order``; ``digest`` (SHA-256 chained over the seen
        archs) pins it. So each stored request is bounded and the audit trail stays complete.
        """
        payload = request.model_dump(exclude={"evaluated", "rejected", "seen"})
        payload["history"] = {
            "n_seen": len(request.seen), "seen_through_id": cands[-1].id if cands else None,
            "n_evaluated": len(request.evaluated), "evaluated_through_order": len(request.evaluated),
            "rejected_ids": list(self._rejected_ids), "digest": self._digest,
        }
        return payload

    def _record_proposals(self, job: Job, hardware: HardwareSpec | None, feasibility: Any, step: int,
                          request: ProposalRequest, batch: ProposalBatch, cands: list[Candidate]) -> int:
        """Check each proposal's feasibility and store it, with all messages, in one transaction."""
        seen = {c.arch for c in cands}
        added = 0
        rows: list[Any] = [
            AgentMessage(job_id=job.id, step=step, agent="proposer", direction="in",
                         payload=self._request_by_reference(request, cands)),
            AgentMessage(job_id=job.id, step=step, agent="proposer", direction="out", payload=batch.model_dump()),
        ]
        new_cands: list[Candidate] = []
        events: list[tuple[str, dict[str, Any]]] = []
        for p in batch.proposals:
            try:
                arch = parse_arch(p.arch)
            except ArchError as exc:
                events.append(("invalid_proposal", {"arch": p.arch, "error": str(exc)}))
                continue
            text = arch.to_string()
            if text in seen:
                events.append(("duplicate_proposal", {"arch": text}))
                continue
            seen.add(text)
            freq = FeasibilityRequest(arch=text, dataset=job.dataset, hardware=hardware,
                                      max_latency_ms=job.max_latency_ms, verify=job.verify)  # type: ignore[arg-type]
            report = checked_feasibility(feasibility, freq)
            rows += [
                AgentMessage(job_id=job.id, step=step, agent="feasibility", direction="in", payload=freq.model_dump()),
                AgentMessage(job_id=job.id, step=step, agent="feasibility", direction="out",
                             payload=report.model_dump()),
            ]
            new_cands.append(Candidate(
                job_id=job.id, arch=text, index=index_of(arch), iso_key=arch.canonical_key(),
                status="proposed" if report.feasible else "infeasible", step=step, proposer=batch.proposer,
                reason=p.reason, parent=p.parent, violations=[v.model_dump() for v in report.violations],
                margins=report.margins, flash_bytes=report.flash_bytes, peak_sram_bytes=report.peak_sram_bytes,
                latency_ms=report.latency_ms, macs=report.macs, params=report.params, verified=report.verified,
            ))
            if report.feasible:
                added += 1
            else:
                events.append(("infeasible", {"arch": text, "violations": [v.describe() for v in report.violations]}))
        with self.db.transaction() as s:
            s.add_all(rows + new_cands)
            for kind, payload in events:
                add_event(s, job.id, kind, **payload)
        cands.extend(new_cands)
        for c in new_cands:
            self._seen.append(c.arch)
            self._seen_index.add(c.index)
            if c.status == "proposed":
                self._pending.append(c)
            else:
                self._note_rejected(c)
        self._digest = chain_digest(self._digest, [c.arch for c in new_cands])
        for kind, payload in events:
            self.progress(kind, payload)
        return added

    def _evaluate(self, job: Job, evaluator: tuple[Any, Any, Any], pending: list[Candidate]) -> None:
        """Evaluate pending feasible candidates (no more than the budget left) through the executor.

        Results are stored as they arrive, each exactly once and only while this worker holds the lease;
        a lost worker's evaluation is dispatched again (bounded by its attempt count); a cancel request
        cancels what is still running, wherever it runs.
        """
        from automcu.executors import Item, run_evaluations
        from automcu.storage.repository import LeaseLost, count_attempts, record_evaluation, record_failure

        executor, spec, cfg = evaluator
        batch = {c.id: c for c in pending[:self._remaining(job)]}
        settled: set[Any] = set()
        items = [Item(c.id, EvaluationRequest(arch=c.arch, dataset=job.dataset, epochs=job.epochs, seed=job.seed))
                 for c in batch.values()]

        def begin_attempt(cand_id: Any) -> int:
            return count_attempts(self.db, job.id, self.worker, [cand_id])[cand_id]

        def on_result(item: Item, result: Any) -> None:
            cand = batch[item.key]
            now = time.monotonic()
            wall, self._wall_mark = now - self._wall_mark, now
            messages = [
                AgentMessage(job_id=job.id, step=cand.step, agent="evaluator", direction="in",
                             payload=item.request.model_dump()),
                AgentMessage(job_id=job.id, step=cand.step, agent="evaluator", direction="out",
                             payload=result.model_dump()),
            ]
            event = {"arch": cand.arch, "index": cand.index, "budget": job.budget, "val_acc": result.val_acc,
                     "test_acc": result.test_acc}
            stored = record_evaluation(self.db, job.id, self.worker, cand.id, job.budget,
                                       {"val_acc": result.val_acc, "test_acc": result.test_acc,
                                        "train_seconds": result.train_seconds}, messages, wall, event)
            settled.add(item.key)
            if stored is not None:
                order, improved = stored
                cand.status, cand.eval_order = "evaluated", order
                cand.val_acc, cand.test_acc, cand.train_seconds = result.val_acc, result.test_acc, result.train_seconds
                self._note_evaluated(cand)
                self.progress("evaluated", {**event, "n_evaluated": order, "improved": improved})

        def on_failure(item: Item, error: str) -> None:
            settled.add(item.key)
            record_failure(self.db, job.id, self.worker, item.key, batch[item.key].arch, error)
            batch[item.key].status, batch[item.key].error = "failed", error

        def on_lost(item: Item, attempt: int, why: str) -> None:
            with self.db.transaction() as s:
                add_event(s, job.id, "evaluation_lost", arch=batch[item.key].arch, attempt=attempt, error=why)
            self.progress("evaluation_lost", {"arch": batch[item.key].arch, "attempt": attempt, "error": why})

        def should_cancel() -> bool:
            with self.db.read_session() as s:
                fresh = s.get(Job, job.id)
                assert fresh is not None
                if fresh.lease_owner != self.worker:
                    raise JobBusy(f"job {job.id} was taken over by {fresh.lease_owner}")
                return bool(fresh.cancel_requested)

        try:
            outcome = run_evaluations(executor, spec, items, begin_attempt=begin_attempt, on_result=on_result,
                                      on_failure=on_failure, on_lost=on_lost, should_cancel=should_cancel,
                                      max_attempts=cfg.eval_max_attempts, poll_seconds=cfg.executor_poll_seconds)
        except LeaseLost as exc:
            raise JobBusy(str(exc)) from None
        if outcome == "cancelled":
            with self.db.transaction() as s:
                add_event(s, job.id, "evaluations_cancelled", executor=executor.name,
                          archs=[c.arch for k, c in batch.items() if k not in settled])


_feasibility_cache: dict[str, FeasibilityReport] = {}
FEASIBILITY_CACHE_SIZE = 50_000


def checked_feasibility(agent: Any, request: FeasibilityRequest) -> FeasibilityReport:
    """The agent's report for this request, computed once per process and reused (jobs, resumes, workers)."""
    key = request.model_dump_json()
    report = _feasibility_cache.get(key)
    if report is None:
        report = agent.check(request)
        if len(_feasibility_cache) >= FEASIBILITY_CACHE_SIZE:
            _feasibility_cache.clear()
        _feasibility_cache[key] = report
    return report


def chain_digest(previous: str, archs: list[str]) -> str:
    """SHA-256 chained over the seen archs in order: each step's digest from the last one and what it added."""
    import hashlib

    return hashlib.sha256((previous + "\n" + "\n".join(archs)).encode()).hexdigest() if archs else previous


def run_job(db: Database, job_id: str, progress: ProgressFn | None = None, allow_failed: bool = False,
            force: bool = False) -> Job:
    return Planner(db, job_id, progress=progress).run(allow_failed=allow_failed, force=force)

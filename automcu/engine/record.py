"""Turning a step's proposals into stored candidates, and evaluating the feasible ones.

:meth:`StepRecorder.record` checks each proposal with the feasibility agent and stores the step (the
proposer's input by reference, its output, every check, the candidates) in one transaction. With an inline
evaluation (a lookup) the feasible candidates are evaluated first and stored already evaluated, in the same
transaction. Otherwise they are stored as ``proposed`` and :meth:`StepRecorder.dispatch` runs them through
the executor, each result stored as it arrives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.feasibility import FeasibilityAgent, checked
from agents.messages import (
    EvaluationRequest,
    FeasibilityReport,
    FeasibilityRequest,
    ProposalBatch,
    ProposalRequest,
)
from automcu.engine.asha import AshaScheduler
from automcu.engine.evaluation import Evaluation
from automcu.engine.state import CandidateRow, JobState
from automcu.hardware.spec import HardwareSpec
from automcu.storage.db import Database
from automcu.storage.models import AgentMessage, Job, utcnow
from automcu.storage.repository import LeaseLost, add_event
from automcu.storage.steps import event, message, write_step
from search_spaces.spaces import parse_in_space

ProgressFn = Callable[[str, dict[str, Any]], None]


class JobBusy(RuntimeError):
    """The job is held by a live process, or already finished."""


@dataclass
class Clock:
    """Wall time of the job: what is stored plus what this run has not stored yet."""

    stored: float
    mark: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """The wall time since the last take (to add to the stored total in the same write)."""
        now = time.monotonic()
        delta, self.mark = now - self.mark, now
        self.stored += delta
        return delta

    @property
    def total(self) -> float:
        return self.stored + (time.monotonic() - self.mark)


@dataclass
class StepRecorder:
    db: Database
    job: Job
    worker: str
    state: JobState
    feasibility: FeasibilityAgent
    evaluation: Evaluation
    clock: Clock
    progress: ProgressFn
    hardware: HardwareSpec | None = None
    cancel_requested: bool = False
    asha: AshaScheduler | None = None  # a multi-fidelity job: candidates are trained rung by rung

    def _write(self, candidates: list[dict[str, Any]], messages: list[dict[str, Any]],
               events: list[dict[str, Any]]) -> list[int]:
        try:
            ids, cancel = write_step(self.db, self.job.id, self.worker, candidates=candidates, messages=messages,
                                     events=events, wall_delta=self.clock.take())
        except LeaseLost as exc:
            raise JobBusy(str(exc)) from None
        self.cancel_requested = cancel
        return ids

    def _request_by_reference(self, request: ProposalRequest) -> dict[str, Any]:
        """The proposer's input as stored: the request without its history, which is named by reference.

        The history a proposer saw at a step is exactly the job's candidates up to ``seen_through_id`` (in id
        order) and its evaluations up to ``evaluated_through_order``; ``digest`` (SHA-256 chained over the seen
        archs, step by step) pins it. So each stored request is bounded and the audit trail stays complete.
        """
        payload = request.model_dump(exclude={"evaluated", "rejected", "seen"})
        payload["history"] = {
            "n_seen": len(request.seen), "seen_through_id": self.state.last_id,
            "n_evaluated": len(request.evaluated), "evaluated_through_order": len(request.evaluated),
            "rejected_ids": list(self.state.rejected_ids), "digest": self.state.digest,
        }
        return payload

    def _check(self, text: str) -> tuple[FeasibilityRequest, FeasibilityReport]:
        job = self.job
        req = FeasibilityRequest(arch=text, dataset=job.dataset, hardware=self.hardware,
                                 max_latency_ms=job.max_latency_ms, verify=job.verify)  # type: ignore[arg-type]
        return req, checked(self.feasibility, req)

    def record(self, step: int, request: ProposalRequest, batch: ProposalBatch) -> int:
        """Check, (inline) evaluate and store one step's proposals; how many new feasible candidates it added."""
        job, state = self.job, self.state
        messages = [message(step, "proposer", "in", self._request_by_reference(request)),
                    message(step, "proposer", "out", batch.model_dump())]
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        evaluated: list[int] = []  # positions in rows of the candidates evaluated inline
        fresh: set[str] = set()
        fresh_keys: set[str] = set()
        inline, trains = self.evaluation.inline, self.evaluation.trains
        n_eval, best = state.n_evaluated, state.best[0] if state.best else None
        space = job.space or "nb201"
        for p in batch.proposals:
            try:
                arch = parse_in_space(space, p.arch)
            except ValueError as exc:  # the space's ArchError / MCUArchError: not an arch of the job's space
                events.append(event("invalid_proposal", arch=p.arch, error=str(exc)))
                continue
            text = arch.text
            if text in state.seen_set or text in fresh:
                events.append(event("duplicate_proposal", arch=text))
                continue
            if trains and (arch.iso_key in state.seen_keys or arch.iso_key in fresh_keys):
                # trained: an arch of a function already proposed (an op on a dead edge) would train the same network
                events.append(event("duplicate_proposal", arch=text, function=arch.iso_key,
                                    reason="computes the same function as an arch already proposed in this job"))
                continue
            fresh.add(text)
            fresh_keys.add(arch.iso_key)
            freq, report = self._check(text)
            messages += [message(step, "feasibility", "in", freq.model_dump()),
                         message(step, "feasibility", "out", report.model_dump())]
            row: dict[str, Any] = dict(
                arch=text, index=arch.index, iso_key=arch.iso_key,
                status="proposed" if report.feasible else "infeasible", step=step, proposer=batch.proposer,
                reason=p.reason, parent=p.parent, violations=[v.model_dump() for v in report.violations],
                margins=report.margins, flash_bytes=report.flash_bytes, peak_sram_bytes=report.peak_sram_bytes,
                latency_ms=report.latency_ms, macs=report.macs, params=report.params, verified=report.verified,
                attempts=0, eval_order=None, val_acc=None, test_acc=None, train_seconds=None, error=None,
                evaluated_at=None)
            if not report.feasible:
                events.append(event("infeasible", arch=text, violations=[v.describe() for v in report.violations]))
            elif inline and n_eval < job.budget:
                ereq = EvaluationRequest(arch=text, dataset=job.dataset, epochs=job.epochs, seed=job.seed)
                result = self.evaluation.evaluate_inline(ereq)
                n_eval += 1
                improved = best is None or result.val_acc > best
                best = result.val_acc if improved else best
                row.update(status="evaluated", eval_order=n_eval, val_acc=result.val_acc, test_acc=result.test_acc,
                           train_seconds=result.train_seconds, attempts=1, evaluated_at=utcnow())
                messages += [message(step, "evaluator", "in", ereq.model_dump()),
                             message(step, "evaluator", "out", result.model_dump())]
                ev = {"arch": text, "index": row["index"], "budget": job.budget, "val_acc": result.val_acc,
                      "test_acc": result.test_acc, "n_evaluated": n_eval, "improved": improved}
                events.append(event("evaluated", **ev))
                evaluated.append(len(rows))
            rows.append(row)
        ids = self._write(rows, messages, events)
        added = 0
        new = [CandidateRow(id=i, **{k: r[k] for k in _ROW_FIELDS}) for i, r in zip(ids, rows, strict=True)]
        for c in new:
            state.add(c)
            added += c.status in ("proposed", "evaluated")
        state.added([c.arch for c in new])
        for pos in evaluated:
            state.note_evaluated(new[pos])
        for e in events:
            self.progress(e["kind"], e["payload"])
        return added

    # ----- evaluation through the executor (training, process pool, Ray) --------------------------
    def _request(self, c: CandidateRow) -> EvaluationRequest:
        """The candidate's evaluation: the job's full one, or (asha) its next rung's epochs and data fraction."""
        job = self.job
        if self.asha is None:
            return EvaluationRequest(arch=c.arch, dataset=job.dataset, epochs=job.epochs, seed=job.seed)
        rung = self.asha.next_rung(c.rung)
        return EvaluationRequest(arch=c.arch, dataset=job.dataset, epochs=rung.epochs, seed=job.seed,
                                 rung=rung.rung, data_fraction=rung.data_fraction)

    def _on_rung(self, cand: CandidateRow, request: EvaluationRequest, result: Any) -> None:
        """One rung's result: Optuna's pruner decides, the rung is stored on the candidate (once)."""
        from automcu.storage.repository import record_rung

        job, state, asha = self.job, self.state, self.asha
        assert asha is not None and request.rung is not None
        rung = asha.rungs[request.rung]
        decision = asha.decide(cand.id, rung.rung, result.val_acc)
        status = {"promoted": "proposed", "pruned": "pruned", "completed": "evaluated"}[decision]
        final = status != "proposed"
        order = state.n_evaluated + 1 if final else None
        if order is not None and order > job.budget:
            return  # the budget is spent (more were in flight than it had left): dropped, not counted
        improved = status == "evaluated" and state.improves(result.val_acc)
        entry = {**rung.as_dict(), "val_acc": result.val_acc, "test_acc": result.test_acc,
                 "seconds": result.train_seconds, "decision": decision, "seq": asha.n_reported}
        messages = [
            AgentMessage(job_id=job.id, step=cand.step, agent="evaluator", direction="in",
                         payload=request.model_dump()),
            AgentMessage(job_id=job.id, step=cand.step, agent="evaluator", direction="out",
                         payload=result.model_dump()),
        ]
        payload = {"arch": cand.arch, "index": cand.index, "budget": job.budget, "val_acc": result.val_acc,
                   "test_acc": result.test_acc, "rung": rung.rung, "top_rung": asha.top, "epochs": rung.epochs,
                   "data_fraction": rung.data_fraction, "decision": decision}
        if not record_rung(self.db, job.id, self.worker, cand.id, entry, status, order, improved, messages,
                           self.clock.take(), payload):
            return
        cand.status, cand.rung, cand.rungs = status, rung.rung, [*(cand.rungs or []), entry]
        cand.val_acc, cand.test_acc = result.val_acc, result.test_acc
        cand.train_seconds = (cand.train_seconds or 0.0) + result.train_seconds
        if final:
            cand.eval_order = order
            state.note_evaluated(cand)
        kind = {"promoted": "rung_promoted", "pruned": "pruned", "completed": "evaluated"}[decision]
        extra = {"n_evaluated": order, "improved": improved} if final else {"n_evaluated": state.n_evaluated}
        self.progress(kind, {**payload, **extra})

    def dispatch(self, pending: list[CandidateRow],
                 more: Callable[[int], list[CandidateRow]] | None = None) -> None:
        """Evaluate stored feasible candidates (no more than the budget left) through the executor.

        Results are stored as they arrive, each exactly once and only while this worker holds the lease;
        a lost worker's evaluation is dispatched again (bounded by its attempt count); a cancel request
        cancels what is still running, wherever it runs. On an executor that runs several at once, no worker
        waits for the batch: a promoted candidate's next rung starts as soon as a worker is free, then new
        candidates that ``more(n)`` proposes and stores (asynchronous successive halving).
        """
        from automcu.executors import Item, run_evaluations
        from automcu.storage.repository import count_attempts, record_evaluation, record_failure

        job, state, ev = self.job, self.state, self.evaluation
        batch = {c.id: c for c in pending[:max(0, job.budget - state.n_evaluated)]}
        settled: set[Any] = set()
        items = [Item(c.id, self._request(c)) for c in batch.values()]
        asynchronous = ev.executor.parallelism > 1
        promoted: list[CandidateRow] = []  # asha: promoted in this batch, their next rung not yet queued

        def refill(free: int) -> list[Item]:
            out = [Item(c.id, self._request(c)) for c in promoted[:free]]
            del promoted[:free]
            if len(out) < free and more is not None and not self.cancel_requested:
                for c in more(free - len(out)):
                    batch[c.id] = c
                    out.append(Item(c.id, self._request(c)))
            return out

        def begin_attempt(cand_id: Any) -> int:
            attempts = count_attempts(self.db, job.id, self.worker, [cand_id])[cand_id]
            return attempts - len(batch[cand_id].rungs or [])  # asha: the attempts at this rung

        def on_result(item: Item, result: Any) -> None:
            cand = batch[item.key]
            state.note_result()
            if self.asha is not None:
                settled.add(item.key)
                self._on_rung(cand, item.request, result)
                if asynchronous and cand.status == "proposed":
                    settled.discard(item.key)
                    promoted.append(cand)
                return
            messages = [
                AgentMessage(job_id=job.id, step=cand.step, agent="evaluator", direction="in",
                             payload=item.request.model_dump()),
                AgentMessage(job_id=job.id, step=cand.step, agent="evaluator", direction="out",
                             payload=result.model_dump()),
            ]
            payload = {"arch": cand.arch, "index": cand.index, "budget": job.budget, "val_acc": result.val_acc,
                       "test_acc": result.test_acc}
            settled.add(item.key)
            order, improved = state.n_evaluated + 1, state.improves(result.val_acc)
            if order > job.budget:
                return  # the budget is spent (more were in flight than it had left): dropped, not counted
            if record_evaluation(self.db, job.id, self.worker, cand.id, order, improved,
                                 {"val_acc": result.val_acc, "test_acc": result.test_acc,
                                  "train_seconds": result.train_seconds}, messages, self.clock.take(), payload):
                cand.status, cand.eval_order = "evaluated", order
                cand.val_acc, cand.test_acc, cand.train_seconds = result.val_acc, result.test_acc, result.train_seconds
                state.note_evaluated(cand)
                self.progress("evaluated", {**payload, "n_evaluated": order, "improved": improved})

        def on_failure(item: Item, error: str) -> None:
            settled.add(item.key)
            record_failure(self.db, job.id, self.worker, item.key, batch[item.key].arch, error)
            batch[item.key].status, batch[item.key].error = "failed", error
            state.note_failed(error)

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
                self.cancel_requested = bool(fresh.cancel_requested)
                return self.cancel_requested

        try:
            outcome = run_evaluations(ev.executor, ev.spec, items, begin_attempt=begin_attempt, on_result=on_result,
                                      on_failure=on_failure, on_lost=on_lost, should_cancel=should_cancel,
                                      max_attempts=ev.settings.eval_max_attempts,
                                      poll_seconds=ev.settings.executor_poll_seconds,
                                      refill=refill if asynchronous else None)
        except LeaseLost as exc:
            raise JobBusy(str(exc)) from None
        state.pending = [c for c in state.pending if c.status == "proposed"]
        if outcome == "cancelled":
            with self.db.transaction() as s:
                add_event(s, job.id, "evaluations_cancelled", executor=ev.executor.name,
                          archs=[c.arch for k, c in batch.items() if k not in settled])


_ROW_FIELDS = ("arch", "index", "iso_key", "status", "step", "margins", "violations", "flash_bytes",
               "peak_sram_bytes", "latency_ms", "eval_order", "val_acc", "test_acc", "train_seconds", "error")

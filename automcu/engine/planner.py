"""The job loop: propose → feasibility → evaluate → record, until the budget or a stop rule ends it.

Every agent call is one typed message in and one out, both stored. The job's history is loaded once
(:class:`JobState`) and kept in memory; each step is stored in one transaction before the next begins
(:mod:`automcu.engine.record`), so a job killed at any point resumes from the database: feasible candidates
not yet evaluated are evaluated first; nothing is proposed, stored or paid twice.
"""

from __future__ import annotations

import os
import socket
import threading

from sqlalchemy import func, select, update

from agents.feasibility import FeasibilityAgent
from agents.messages import ProposalBatch, ProposalRequest
from agents.proposers.base import Proposer, ProposerUnavailable
from agents.proposers.factory import OFFLINE_DEFAULT, make_proposer, resolve_name
from automcu.core.config import Settings, get_settings
from automcu.core.fidelity import job_schedule
from automcu.engine.asha import AshaScheduler
from automcu.engine.evaluation import Evaluation, evaluation_for
from automcu.engine.fallback import MAX_IDLE_ROUNDS, Fallback, fallback_for
from automcu.engine.record import Clock, JobBusy, ProgressFn, StepRecorder
from automcu.engine.state import CandidateRow, JobState
from automcu.engine.task_step import derive_job_spec
from automcu.hardware.spec import HardwareSpec
from automcu.storage.db import Database
from automcu.storage.models import AgentMessage, Candidate, Event, Job, utcnow
from automcu.storage.repository import add_event, claim_job, get_job, heartbeat, lease_holder_message
from search_spaces.spaces import space_size

#: evaluations failing one after another in a run before the job fails (failures are not counted in the budget)
MAX_FAILED_IN_A_ROW = 5

__all__ = ["MAX_IDLE_ROUNDS", "JobBusy", "Planner", "run_job", "worker_id"]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Planner:
    def __init__(self, db: Database, job_id: str, settings: Settings | None = None,
                 progress: ProgressFn | None = None, feasibility: FeasibilityAgent | None = None,
                 evaluation: Evaluation | None = None) -> None:
        self.db = db
        self.job_id = job_id
        self.settings = settings or get_settings()
        self.progress = progress or (lambda _kind, _data: None)
        self.feasibility = feasibility or FeasibilityAgent()
        self.evaluation = evaluation  # built from the job before the loop when not given
        self.worker = worker_id()
        self._clock = Clock(stored=0.0)  # wall time since the run began; its stored base is set once the job is read

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
            evaluation = self.evaluation or evaluation_for(job, self.settings.simulated_time_scale)
            self.progress("started", {"job_id": job.id, "budget": job.budget})
            reason, status = self._loop(job, evaluation)
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
                wall_seconds=Job.wall_seconds + self._unstored_wall()))
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
            job.wall_seconds += self._unstored_wall()
            add_event(s, job.id, "finished", status=status, reason=reason, error=error)
        self.progress("finished", {"status": status, "reason": reason})

    def _unstored_wall(self) -> float:
        return self._clock.take()

    # ----- the loop ----------------------------------------------------------------------------
    def _loop(self, job: Job, evaluation: Evaluation) -> tuple[str, str]:
        self._hardware = HardwareSpec(**job.hardware) if job.hardware else None
        self._proposer_now = self._proposer(job)
        self._clock.stored += job.wall_seconds
        self.state = state = self._load_state(job)
        rec = self._recorder = StepRecorder(self.db, job, self.worker, state, self.feasibility, evaluation,
                                            self._clock, self.progress, self._hardware,
                                            asha=self._asha(job, evaluation))
        self._fallback = fallback_for(self._space(job), self.feasibility, job.dataset, self._hardware,
                                      job.max_latency_ms)
        nothing = self._fallback.none_fit()
        if nothing is not None:
            return nothing, "failed"
        self._dry, self._idle_rounds = self._resumed_dry_state(job)  # ran dry: the space's fallback proposes
        if self._idle_rounds >= MAX_IDLE_ROUNDS and not self._dry:  # killed between that step and its note
            self._dry, self._idle_rounds = True, 0
            self._note_ran_dry(self._proposer_now.name, self._fallback)
        while True:
            stop = self._stop_rule(job)
            if stop:
                return self._no_winner_check(stop)
            if state.pending:
                rec.dispatch(list(state.pending), more=lambda n: self._more(job, n))
                continue
            ended = self._step(job, min(job.batch_size, self._remaining(job)))
            if ended is not None:
                return self._no_winner_check(ended)

    def _step(self, job: Job, n: int) -> tuple[str, str] | None:
        """One proposal step (propose → check → store); a stop when the space's fallback has nothing left."""
        state = self.state
        step = state.step
        state.step += 1
        request = self._proposal_request(job, self._hardware, step, n)
        if self._dry:
            drawn = self._fallback.propose(state, job.seed, step, request.n)
            if isinstance(drawn, str):
                return drawn, "succeeded"
            batch = drawn
        else:
            batch, self._proposer_now = self._propose(job, self._proposer_now, request)
        added = self._recorder.record(step, request, batch)
        self._idle_rounds = 0 if added else self._idle_rounds + 1
        if self._idle_rounds >= MAX_IDLE_ROUNDS and not self._dry:
            self._dry, self._idle_rounds = True, 0
            self._note_ran_dry(self._proposer_now.name, self._fallback)
        elif self._idle_rounds >= MAX_IDLE_ROUNDS:  # only when the estimator's set disagrees with the agent's check
            return ("the proposals from the feasible set keep failing the feasibility check (verification "
                    "disagrees with the estimate)", "succeeded")
        return None

    def _more(self, job: Job, free: int) -> list[CandidateRow]:
        """Workers are idle while a batch runs: one proposal step for them, within the budget left after
        every candidate still open (in flight, queued or promoted); its new feasible candidates."""
        state = self.state
        room = self._remaining(job) - sum(c.status == "proposed" for c in state.pending)
        if room <= 0 or self._stop_rule(job) is not None:
            return []
        before = {c.id for c in state.pending}
        if self._step(job, min(max(free, job.batch_size), room)) is not None:
            return []  # the fallback has nothing left: the loop sees it again once the batch is done
        return [c for c in state.pending if c.id not in before and c.status == "proposed"][:room]

    def _asha(self, job: Job, evaluation: Evaluation) -> AshaScheduler | None:
        """A multi-fidelity job's scheduler, rebuilt from the rungs its candidates stored (None: full fidelity)."""
        rungs = job_schedule(job)
        if rungs is None:
            return None
        if evaluation.inline:
            raise ValueError(f"job {job.id}: fidelity asha needs a training evaluator; {job.dataset} is a lookup")
        started = [(c.id, c.rungs) for c in self._rows if c.rungs]
        asha = AshaScheduler.rebuilt(rungs, int(job.reduction_factor or 3), started)
        if started:
            self.progress("asha_resumed", {"candidates": len(started), "rungs": asha.n_reported})
        return asha

    def _resumed_dry_state(self, job: Job) -> tuple[bool, int]:
        """(ran dry, idle rounds) as an uninterrupted run would have them now: a resumed job continues exactly.

        Idle rounds are the latest proposal steps in a row that added no feasible candidate (counted from
        the stored candidates), after the step where the proposer ran dry if it did.
        """
        with self.db.read_session() as s:
            dry_step = s.scalar(select(func.max(Event.id)).where(Event.job_id == job.id,
                                                                 Event.kind == "proposer_ran_dry"))
            if dry_step is not None:
                payload = s.scalar(select(Event.payload).where(Event.id == dry_step)) or {}
                dry_step = int(payload.get("step", -1))
        productive = self.state.productive_steps
        last, idle = self.state.step - 1, 0
        floor = dry_step if dry_step is not None else -1
        while last > floor and last not in productive:
            idle, last = idle + 1, last - 1
        return dry_step is not None, idle

    def _note_ran_dry(self, proposer: str, fallback: Fallback) -> None:
        why, figures = fallback.ran_dry(proposer, self.state)
        with self.db.transaction() as s:
            add_event(s, self.job_id, "proposer_ran_dry", proposer=proposer, **figures, reason=why,
                      step=self.state.step - 1)
        self.progress("proposer_ran_dry", {"reason": why, **figures})

    def _no_winner_check(self, stop: tuple[str, str]) -> tuple[str, str]:
        """A job never ends `succeeded` without a winner."""
        reason, status = stop
        if status == "succeeded" and self.state.best is None:
            partial = self.state.best_partial()
            if partial is not None:
                return (f"{reason}; no candidate completed the top rung, so the winner is the best at the highest "
                        f"rung reached (rung {partial.rung})", status)
            return f"{reason}; no candidate was evaluated, so there is no winner", "failed"
        return stop

    def _load_state(self, job: Job) -> JobState:
        """The job's history in memory, once: what each step adds is appended, nothing is reloaded."""
        with self.db.read_session() as s:
            cands = list(s.scalars(select(Candidate).where(Candidate.job_id == self.job_id).order_by(Candidate.id)))
            last = s.scalar(select(func.max(AgentMessage.step)).where(AgentMessage.job_id == self.job_id,
                                                                      AgentMessage.agent == "proposer"))
        self._rows = [CandidateRow.of(c) for c in cands]
        return JobState(self._rows, 0 if last is None else int(last) + 1, space_size(self._space(job)))

    def _remaining(self, job: Job) -> int:
        """Evaluations left in the budget (the one place this is computed)."""
        return max(0, job.budget - self.state.n_evaluated)

    @staticmethod
    def _space(job: Job) -> str:
        return job.space or "nb201"

    def _proposer(self, job: Job) -> Proposer:
        """The job's proposer for its space; ``proposer_used`` stores its registry name (a resume makes the same)."""
        space = self._space(job)
        name = job.proposer_used or resolve_name(job.proposer, self.settings, space)
        try:
            proposer = make_proposer(name, self.settings, space)
        except (ValueError, ProposerUnavailable) as exc:
            if job.proposer != "auto" and name == job.proposer:
                raise
            name = OFFLINE_DEFAULT
            proposer = make_proposer(OFFLINE_DEFAULT, self.settings, space)
            self._note_fallback(str(exc))
        with self.db.transaction() as s:
            s.execute(update(Job).where(Job.id == job.id).values(proposer_used=name))
        set_progress = getattr(proposer, "set_progress", None)  # proposers that wait (an LLM) report the wait
        if callable(set_progress):
            set_progress(lambda info: self.progress("proposer_waiting", {"proposer": proposer.name, **info}))
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
            fallback = make_proposer(OFFLINE_DEFAULT, self.settings, self._space(job))
            return fallback.propose(request), fallback

    def _stop_rule(self, job: Job) -> tuple[str, str] | None:
        """In memory: the cancel flag comes back with every stored step (and is polled while evaluations run)."""
        state = self.state
        if self._recorder.cancel_requested:
            return "cancelled by user", "cancelled"
        if self._remaining(job) <= 0:
            return f"budget of {job.budget} evaluations spent", "succeeded"
        if state.failed_streak >= MAX_FAILED_IN_A_ROW:
            # failures are not counted in the budget: without this a job whose every evaluation fails (its data
            # missing on the worker, a broken training extra) would propose and fail for ever
            return (f"{state.failed_streak} evaluations in a row failed, the last with: "
                    f"{state.last_failure[:500]}", "failed")
        if job.max_sim_seconds is not None and state.sim_seconds >= job.max_sim_seconds:
            return f"simulated training budget of {job.max_sim_seconds:.0f} s spent", "succeeded"
        if job.max_wall_seconds is not None and self._clock.total >= job.max_wall_seconds:
            return f"wall-clock budget of {job.max_wall_seconds:.0f} s spent", "succeeded"
        if job.patience is not None and state.best is not None:
            if state.n_evaluated - state.best[1] >= job.patience:
                return f"no improvement in {job.patience} evaluations", "succeeded"
        return None

    def _proposal_request(self, job: Job, hardware: HardwareSpec | None, step: int, n: int) -> ProposalRequest:
        """Built from the in-memory history in O(batch): the lists are the state's own (read-only for the
        proposer), the seen set and the incumbent are attached as lookups."""
        s = self.state
        return ProposalRequest.model_construct(
            task=job.task, dataset=job.dataset, hardware=hardware, max_latency_ms=job.max_latency_ms,
            n=max(1, n), seed=job.seed, step=step, evaluated=s.evaluated, rejected=list(s.rejected), seen=s.seen,
        ).with_lookups(s.seen_set, s.seen_keys, s.best_position())


def run_job(db: Database, job_id: str, progress: ProgressFn | None = None, allow_failed: bool = False,
            force: bool = False) -> Job:
    return Planner(db, job_id, progress=progress).run(allow_failed=allow_failed, force=force)

"""The promote/prune decision of a multi-fidelity (asha) job: Optuna's ``SuccessiveHalvingPruner``.

One in-memory Optuna study per job run, one trial per candidate. After each rung the candidate's validation
accuracy is reported at the rung's step (``eta ** rung``, so the pruner's rung ``k`` is the job's rung ``k``:
``min_resource`` 1, ``min_early_stopping_rate`` 0) and ``trial.should_prune()`` decides; the top rung completes
the trial. The halving rule is Optuna's (asynchronous: a rung's result is compared with every result already
reported at that rung, the top ``1/eta`` are promoted; the first ``eta - 1`` at a rung are promoted when they
are the best so far).

Nothing of the study is stored: the candidates' stored rungs are the record. A resumed job rebuilds the study by
replaying every stored rung in the order it was first reported (``seq``), through the same public calls, so
the pruner is in exactly the state it was in; the stored decision always stands (a pruned candidate stays
pruned even if a newer Optuna would decide otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from automcu.core.fidelity import Rung

if TYPE_CHECKING:
    import optuna

Decision = Literal["promoted", "pruned", "completed"]


class AshaScheduler:
    """Which rung a candidate trains next, and what happens to it after each rung."""

    def __init__(self, rungs: list[Rung], reduction_factor: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "Trial N pruned" lines in the CLI's output
        self.rungs = rungs
        self.eta = reduction_factor
        self.study: optuna.Study = optuna.create_study(
            direction="maximize",
            pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=reduction_factor,
                                                          min_early_stopping_rate=0))
        self._trials: dict[Any, optuna.Trial] = {}
        self.n_reported = 0  # rungs reported so far (stored ones included): the next rung's ``seq`` is this + 1

    @property
    def top(self) -> int:
        return len(self.rungs) - 1

    def next_rung(self, done: int | None) -> Rung:
        """The rung to train after rung ``done`` (None: none trained yet)."""
        return self.rungs[0 if done is None else done + 1]

    def _trial(self, key: Any) -> optuna.Trial:
        if key not in self._trials:
            self._trials[key] = self.study.ask()
        return self._trials[key]

    def decide(self, key: Any, rung: int, val_acc: float) -> Decision:
        """Report rung ``rung``'s validation accuracy of candidate ``key``; promoted, pruned or completed."""
        import optuna

        trial = self._trial(key)
        trial.report(val_acc, step=self.eta ** rung)
        self.n_reported += 1
        if rung >= self.top:
            self.study.tell(trial, val_acc)
            return "completed"
        if trial.should_prune():
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return "pruned"
        return "promoted"

    def _replay(self, key: Any, entry: dict[str, Any]) -> None:
        import optuna

        trial = self._trial(key)
        rung, value = int(entry["rung"]), float(entry["val_acc"])
        trial.report(value, step=self.eta ** rung)
        self.n_reported += 1
        if rung >= self.top:
            self.study.tell(trial, value)
            return
        trial.should_prune()  # records the rung in the pruner's state, as the first run did
        if entry.get("decision") == "pruned":
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)

    @classmethod
    def rebuilt(cls, rungs: list[Rung], reduction_factor: int,
                stored: Iterable[tuple[Any, list[dict[str, Any]]]]) -> AshaScheduler:
        """A scheduler in the state the stored rungs left it: ``stored`` is (candidate key, its rungs)."""
        out = cls(rungs, reduction_factor)
        entries = [(int(e.get("seq") or 0), i, key, e) for key, es in stored for i, e in enumerate(es or [])]
        for _, _, key, entry in sorted(entries, key=lambda t: (t[0], t[1])):
            out._replay(key, entry)
        return out


__all__ = ["AshaScheduler", "Decision"]

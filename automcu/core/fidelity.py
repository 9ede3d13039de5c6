"""Multi-fidelity evaluation of a real-data search: the rungs of asynchronous successive halving (ASHA).

``fidelity="full"`` (the default) trains every candidate once, for the job's ``epochs`` on the whole training
split. ``fidelity="asha"`` trains a candidate rung by rung, cheapest first, and after each rung but the last
Optuna's ``SuccessiveHalvingPruner`` decides whether it is promoted to the next rung or pruned
(:mod:`automcu.engine.asha`). Each rung trains from scratch (no weights are carried between rungs, so a rung's
result does not depend on which process ran the one before); the validation split is always whole, so rungs
of different candidates are compared on the same images.

The ladder (:func:`rung_schedule`): epochs ``min_epochs * eta**k`` and data fractions ``min_data_fraction *
eta**k`` while below the top (``epochs``, 1.0), then the top itself, a last step within ``sqrt(eta)`` of the top
dropped (never the first); the shorter ladder is padded with its top value. With the defaults
(``min_epochs`` 1, ``eta`` 3, ``min_data_fraction`` 0.25) and 10 epochs: (1 epoch, 25 %), (3, 100 %), (10, 100 %).

Pure (stdlib only): the job spec, the planner and the read side all use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Fidelity = Literal["full", "asha"]
FIDELITIES = ("full", "asha")
DEFAULT_MIN_EPOCHS = 1
DEFAULT_REDUCTION_FACTOR = 3
DEFAULT_MIN_DATA_FRACTION = 0.25


@dataclass(frozen=True)
class Rung:
    """One fidelity: train ``epochs`` epochs on ``data_fraction`` of the training split (the top: the job's)."""

    rung: int
    epochs: int
    data_fraction: float

    def describe(self) -> str:
        return f"{self.epochs} ep on {self.data_fraction:.0%} of the training images"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ladder(start: float, top: float, eta: int) -> list[float]:
    """``start * eta**k`` below ``top``, then ``top``; the last step below is dropped when it is within a factor
    ``sqrt(eta)`` of ``top`` (9 then 10 epochs would be two rungs of the same cost)."""
    values: list[float] = []
    v = start
    while v < top - 1e-9:
        values.append(v)
        v *= eta
    if len(values) > 1 and top / values[-1] < eta ** 0.5:  # the first value is the user's: always kept
        values.pop()
    return [*values, top]


def rung_schedule(epochs: int, min_epochs: int = DEFAULT_MIN_EPOCHS, reduction_factor: int = DEFAULT_REDUCTION_FACTOR,
                  min_data_fraction: float = DEFAULT_MIN_DATA_FRACTION) -> list[Rung]:
    """The rungs, cheapest first, the last one (``epochs``, 1.0); ValueError when the options make no ladder."""
    if reduction_factor < 2:
        raise ValueError(f"reduction_factor must be at least 2 (keep 1 in eta per rung), got {reduction_factor}")
    if min_epochs < 1 or min_epochs > epochs:
        raise ValueError(f"min_epochs must be between 1 and the top rung's epochs ({epochs}), got {min_epochs}")
    if not 0 < min_data_fraction <= 1:
        raise ValueError(f"min_data_fraction must be in (0, 1], got {min_data_fraction}")
    eps = [round(e) for e in _ladder(float(min_epochs), float(epochs), reduction_factor)]
    fracs = _ladder(float(min_data_fraction), 1.0, reduction_factor)
    n = max(len(eps), len(fracs))
    eps += [eps[-1]] * (n - len(eps))
    fracs += [fracs[-1]] * (n - len(fracs))
    if n < 2:
        raise ValueError(f"fidelity asha has nothing to screen: with epochs {epochs}, min_epochs {min_epochs} and "
                         f"min_data_fraction {min_data_fraction:g} the first rung is already the full training; "
                         "lower min_epochs or min_data_fraction, or use fidelity full")
    return [Rung(k, e, round(f, 6)) for k, (e, f) in enumerate(zip(eps, fracs, strict=True))]


def job_schedule(job: Any) -> list[Rung] | None:
    """The rungs of a stored job (or spec) with ``fidelity`` asha; None for a full-fidelity one."""
    if (getattr(job, "fidelity", None) or "full") != "asha":
        return None
    return rung_schedule(int(job.epochs), int(job.min_epochs or DEFAULT_MIN_EPOCHS),
                         int(job.reduction_factor or DEFAULT_REDUCTION_FACTOR),
                         float(job.min_data_fraction or DEFAULT_MIN_DATA_FRACTION))


def fidelity_record(job: Any) -> dict[str, Any] | None:
    """``{min_epochs, reduction_factor, min_data_fraction, rungs: [...]}`` of an asha job; None otherwise."""
    rungs = job_schedule(job)
    if rungs is None:
        return None
    return {"min_epochs": job.min_epochs, "reduction_factor": job.reduction_factor,
            "min_data_fraction": job.min_data_fraction, "rungs": [r.as_dict() for r in rungs],
            "pruner": "optuna.pruners.SuccessiveHalvingPruner", "weights": "each rung trains from scratch"}


__all__ = ["DEFAULT_MIN_DATA_FRACTION", "DEFAULT_MIN_EPOCHS", "DEFAULT_REDUCTION_FACTOR", "FIDELITIES", "Fidelity",
           "Rung", "fidelity_record", "job_schedule", "rung_schedule"]

"""The hard/soft label weight of distillation over a run: a constant or a linear schedule (no torch).

``--label-mix`` takes ``W`` (the hard-label weight, constant; the soft/KD weight is ``1 - W``),
``A:B`` (hard weight linearly from ``A`` at the first step to ``B`` at the last) or ``auto`` = the
documented default schedule :data:`DEFAULT_SCHEDULE` (``0.5:0.1``): early on, when the student's own
predictions are poor, the ground truth carries half the loss; towards the end the teacher's soft
labels carry 90 % (the hybrid hard/soft analysis: hard labels fix the teacher's errors early, soft
labels transfer its dark knowledge once the student can follow them). Without ``--label-mix`` the hard
weight is ``1 - kd_alpha`` throughout, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SCHEDULE = "0.5:0.1"


@dataclass(frozen=True)
class LabelMix:
    """Hard-label weight ``start`` at progress 0 → ``end`` at progress 1 (linear)."""

    start: float
    end: float

    def __post_init__(self) -> None:
        for v in (self.start, self.end):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"--label-mix weights must be in [0, 1], got {v}")

    def hard_weight(self, progress: float) -> float:
        p = min(1.0, max(0.0, progress))
        return self.start + (self.end - self.start) * p

    def to_string(self) -> str:
        return f"{self.start:g}" if self.start == self.end else f"{self.start:g}:{self.end:g}"


def parse_label_mix(text: str) -> LabelMix:
    """``W`` | ``A:B`` | ``auto``; ValueError with the grammar otherwise."""
    raw = text.strip().lower()
    if raw == "auto":
        raw = DEFAULT_SCHEDULE
    parts = raw.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise ValueError(f"--label-mix takes W, A:B (hard-label weight, linear from A to B) or auto; got {text!r}")
    return LabelMix(values[0], values[-1])

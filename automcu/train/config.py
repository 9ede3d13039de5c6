"""Training and distillation settings (plain data; no torch import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """SGD (Nesterov) with a short linear warm-up and a cosine decay, on CPU, seeded."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_fraction: float = 0.03
    seed: int = 0
    shift: int = 0  # random translation by up to this many pixels (augmentation); 0 = off
    hflip: bool = False  # random horizontal flips (not for digits/characters)
    freeze_bn: bool = False  # keep BatchNorm statistics fixed (QAT fine-tuning)
    label_smoothing: float = 0.0  # cross-entropy against (1 - eps)·one-hot + eps/classes; 0 = plain labels
    threads: int | None = None  # torch intra-op threads; None = torch's default
    # NHWC tensors while training: torch's CPU convolutions on RGB input (and on grayscale without augmentation)
    # run faster that way (benchmarks/results/train_throughput.md); the model is handed back in NCHW
    channels_last: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.shift < 0:
            raise ValueError(f"shift must be >= 0, got {self.shift}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class KDConfig:
    """Knowledge distillation: ``(1-alpha)·CE + alpha·T²·KL(teacher_T ‖ student_T) + beta·(1 - cos)``.

    The cosine term compares the student's pooled features, linearly projected to the teacher's
    width, with the teacher's pooled features (``beta = 0`` leaves it out).
    """

    temperature: float = 4.0
    alpha: float = 0.7
    beta: float = 0.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"KD temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"KD alpha must be in [0, 1], got {self.alpha}")
        if self.beta < 0:
            raise ValueError(f"KD beta must be >= 0, got {self.beta}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

"""What ``automcu compress`` is asked to do (plain data, validated before any work starts)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from automcu.hardware.spec import HardwareSpec


@dataclass
class CompressRequest:
    arch: str
    dataset: str
    out_dir: Path
    hardware: HardwareSpec | None = None
    data_path: str | None = None
    C: int = 8
    N: int = 1
    epochs: int = 5
    batch_size: int = 128
    lr: float = 0.05
    label_smoothing: float = 0.0  # cross-entropy against smoothed labels (the recipe's regularizer; 0: off)
    seed: int = 0
    teacher: str | list[str] | None = None  # NB201/mcu arch(s) (trained here first) or automcu checkpoint(s)
    teacher_C: int | None = None  # teacher width when ``teacher`` is an arch; default 2·C
    teacher_N: int | None = None
    kd_temperature: float = 4.0
    kd_alpha: float = 0.7
    kd_beta: float = 0.0
    teacher_weighting: str = "mean"  # several teachers: mean | entropy (per-sample, from predictive entropy)
    label_mix: str | None = None  # hard-label weight: W | A:B (linear) | auto (automcu.train.label_mix)
    feature_kd: bool = False  # intermediate-layer term, learned 1x1 projection to the teacher's width
    feature_kd_weight: float = 1.0
    precision: str = "int8"  # int8 | mixed (per-layer choice among what TFLite Micro runs)
    mixed_tolerance: float = 0.3  # mixed: least Flash within this many pp of int8 on the sensitivity images
    n_sensitivity: int = 500  # mixed: images the per-layer sensitivity is measured on (never the test set)
    soup: int = 0  # N >= 2: N fine-tuned runs from the trained network, greedy soup on a validation split
    soup_epochs: int | None = None  # epochs of each fine-tuned run; default max(1, epochs // 2)
    val_fraction: float = 0.1  # with --soup / --best-checkpoint: training images held out for validation
    best_checkpoint: bool = False  # keep the epoch that scores best on the held-out split, not the last one
    compare_no_kd: bool = True  # with a teacher: also train the student without KD (same epochs) → kd_gain
    qat: bool = False
    qat_epochs: int | None = None  # default max(1, epochs // 2)
    n_calibration: int = 256
    n_reference: int = 4
    train_limit: int | None = None  # seeded subset of the training split (None = all)
    test_limit: int | None = None  # seeded subset of the test split (None = all)
    image_size: int = 32  # image folders only
    channels: int = 3  # image folders only
    threads: int = 1
    job_id: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir).expanduser()
        checks = [("--epochs", self.epochs, 1), ("--batch-size", self.batch_size, 1), ("--C", self.C, 1),
                  ("--N", self.N, 0), ("--calibration", self.n_calibration, 1), ("--reference", self.n_reference, 0),
                  ("--threads", self.threads, 1)]
        for flag, value, low in checks:
            if value < low:
                raise ValueError(f"{flag} must be >= {low}, got {value}")
        if self.qat_epochs is not None and self.qat_epochs < 1:
            raise ValueError(f"--qat-epochs must be >= 1, got {self.qat_epochs}")
        for flag, value in (("--train-limit", self.train_limit), ("--test-limit", self.test_limit)):
            if value is not None and value < 1:
                raise ValueError(f"{flag} must be >= 1, got {value}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        self._check_methods()

    def _check_methods(self) -> None:
        from automcu.train.label_mix import parse_label_mix

        if isinstance(self.teacher, str):
            self.teacher = [self.teacher]
        self.teacher = [t for t in (self.teacher or []) if t] or None
        if self.teacher_weighting not in ("mean", "entropy"):
            raise ValueError(f"--teacher-weighting must be mean or entropy, got {self.teacher_weighting!r}")
        if self.teacher_weighting == "entropy" and len(self.teachers) < 2:
            raise ValueError("--teacher-weighting entropy weighs several teachers: give --teacher at least twice")
        if not self.teachers:
            for flag, on in (("--label-mix", self.label_mix is not None), ("--feature-kd", self.feature_kd)):
                if on:
                    raise ValueError(f"{flag} is a distillation term: give --teacher")
        if self.label_mix is not None:
            self.label_mix = parse_label_mix(self.label_mix).to_string()
        if self.feature_kd_weight < 0:
            raise ValueError(f"--feature-kd-weight must be >= 0, got {self.feature_kd_weight}")
        if self.precision not in ("int8", "mixed"):
            raise ValueError(f"--precision must be int8 or mixed, got {self.precision!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.mixed_tolerance < 0:
            raise ValueError(f"--mixed-tolerance must be >= 0 pp, got {self.mixed_tolerance}")
        if self.n_sensitivity < 10:
            raise ValueError(f"--sensitivity-images must be >= 10, got {self.n_sensitivity}")
        if self.soup == 1 or self.soup < 0:
            raise ValueError(f"--soup N averages N >= 2 fine-tuned runs, got {self.soup}")
        if self.soup_epochs is not None and self.soup_epochs < 1:
            raise ValueError(f"--soup-epochs must be >= 1, got {self.soup_epochs}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ValueError(f"--val-fraction must be in (0, 0.5), got {self.val_fraction}")

    @property
    def teachers(self) -> list[str]:
        if self.teacher is None:
            return []
        return [self.teacher] if isinstance(self.teacher, str) else list(self.teacher)

    @property
    def effective_soup_epochs(self) -> int:
        return self.soup_epochs if self.soup_epochs is not None else max(1, self.epochs // 2)

    @property
    def effective_qat_epochs(self) -> int:
        return self.qat_epochs if self.qat_epochs is not None else max(1, self.epochs // 2)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["hardware"] = self.hardware.model_dump() if self.hardware is not None else None
        d.pop("progress")
        return d

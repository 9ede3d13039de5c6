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
    seed: int = 0
    teacher: str | None = None  # an NB201 arch (trained here first) or an automcu checkpoint file
    teacher_C: int | None = None  # teacher width when ``teacher`` is an arch; default 2·C
    teacher_N: int | None = None
    kd_temperature: float = 4.0
    kd_alpha: float = 0.7
    kd_beta: float = 0.0
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

    @property
    def effective_qat_epochs(self) -> int:
        return self.qat_epochs if self.qat_epochs is not None else max(1, self.epochs // 2)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d["hardware"] = self.hardware.model_dump() if self.hardware is not None else None
        d.pop("progress")
        return d

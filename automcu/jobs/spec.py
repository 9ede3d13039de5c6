"""The validated description of one search: what the CLI flags, the REST body and batch files say."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from automcu.core.fidelity import (
    DEFAULT_MIN_DATA_FRACTION,
    DEFAULT_MIN_EPOCHS,
    DEFAULT_REDUCTION_FACTOR,
    Fidelity,
    rung_schedule,
)
from automcu.data.realdata import DEFAULT_TRAIN_EPOCHS, REAL_DATASETS, real_dataset_name
from automcu.hardware.spec import HardwareSpec
from search_spaces.nb201.table import DATASETS
from search_spaces.spaces import SpaceName

#: a proposer name: ``auto`` or one registered in :mod:`agents.proposers.registry` (built-in or plug-in)
ProposerName = str


class CustomHardware(BaseModel):
    """Custom limits; alone they need sram/flash/clock, next to a board they override its figures."""

    model_config = {"extra": "forbid"}

    sram_kb: float | None = Field(default=None, gt=0)
    flash_kb: float | None = Field(default=None, gt=0)
    clock_mhz: float | None = Field(default=None, gt=0)
    core: str | None = None


#: a teacher arch as the compress body names it (an NB201 or mcu string, checked when the backend builds it)
TeacherArch = Annotated[str, Field(min_length=1, max_length=400)]
MAX_TEACHERS = 4

MIXED_TOLERANCE = 0.3  # pp; the `automcu compress --mixed-tolerance` default

#: lookup datasets whose real images the backend can train on (the user's python-pickle batches)
TRAINABLE_LOOKUPS = ("cifar10", "cifar100")


class CompressSpec(BaseModel):
    """What the hand-off does with the winner (the `automcu compress` defaults)."""

    model_config = {"extra": "forbid"}

    epochs: int = Field(default=5, ge=1, le=200)
    qat: bool = Field(default=False, description="QAT fine-tuning (with a teacher: quantization-aware distillation)")
    teacher: TeacherArch | list[TeacherArch] | None = Field(
        default=None, description="NB201 or mcu arch(s) to distil from (trained first); a list for several teachers")
    teacher_weighting: Literal["mean", "entropy"] = Field(
        default="mean", description="several teachers: their mean, or per-sample weights from each teacher's "
        "predictive entropy (needs at least two teachers)")
    label_mix: str | None = Field(
        default=None, max_length=32, description="hard-label weight with a teacher: W, A:B (linear from A to B "
        "over training) or auto (0.5:0.1); default 1 - kd_alpha")
    feature_kd: bool = Field(default=False, description="intermediate-layer distillation term (needs a teacher)")
    soup: int = Field(default=0, ge=0, le=8, description="N >= 2: N fine-tuned runs merged by a greedy soup on a "
                      "held-out split (0: none)")
    label_smoothing: float = Field(default=0.0, ge=0, lt=1, description="cross-entropy against smoothed labels")
    best_checkpoint: bool = Field(default=False, description="hold out a tenth of the training images and keep the "
                                  "epoch that scores best on them")
    precision: Literal["int8", "mixed"] = Field(
        default="int8", description="int8, or mixed: per layer int8, 4-bit weights (CONV_2D) or 16x8, chosen by "
        "sensitivity measured in TFLite Micro (least Flash within mixed_tolerance pp of int8)")
    mixed_tolerance: float = Field(default=MIXED_TOLERANCE, ge=0, le=100,
                                   description="mixed: accuracy (pp, on held-out images) it may give up for Flash")
    data_path: str | None = Field(default=None, max_length=1024,
                                  description="the dataset's folder (required for cifar10/cifar100 batches)")
    train_limit: int | None = Field(default=None, ge=1)
    test_limit: int | None = Field(default=None, ge=1)

    @field_validator("label_mix")
    @classmethod
    def _label_mix_parses(cls, value: str | None) -> str | None:
        from automcu.train.label_mix import parse_label_mix

        return None if value is None else parse_label_mix(value).to_string()

    @model_validator(mode="after")
    def _methods_fit(self) -> CompressSpec:
        teachers = [self.teacher] if isinstance(self.teacher, str) else list(self.teacher or [])
        if len(teachers) > MAX_TEACHERS:
            raise ValueError(f"at most {MAX_TEACHERS} teachers, got {len(teachers)}")
        if self.teacher_weighting == "entropy" and len(teachers) < 2:
            raise ValueError("teacher_weighting entropy weighs several teachers: give a list of at least two")
        for name, on in (("label_mix", self.label_mix is not None), ("feature_kd", self.feature_kd)):
            if on and not teachers:
                raise ValueError(f"{name} is a distillation term: give a teacher")
        if self.soup == 1:
            raise ValueError("soup N averages N >= 2 fine-tuned runs, got 1")
        if self.precision == "int8" and self.mixed_tolerance != MIXED_TOLERANCE:  # (a stored body holds the default)
            raise ValueError("mixed_tolerance applies to precision mixed only")
        return self


def check_compress_spec(dataset: str, spec: CompressSpec) -> None:
    """ValueError when the job's winner could not be trained on real images."""
    if dataset in REAL_DATASETS:
        return
    if dataset in TRAINABLE_LOOKUPS and spec.data_path:
        return
    raise ValueError(f"compressing a {dataset} winner needs real images: give compress.data_path "
                     f"(the CIFAR python batches folder) for cifar10/cifar100; ImageNet16-120 is lookup-only")


class JobSpec(BaseModel):
    """One search. ``board`` or ``hardware`` (custom limits) or neither (unconstrained)."""

    model_config = {"extra": "forbid"}

    dataset: str
    board: str | None = None
    hardware: CustomHardware | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)
    task: str | None = Field(default=None, max_length=4000)
    budget: int = Field(default=100, gt=0, le=15625, description="evaluations (accuracy queries)")
    proposer: ProposerName = Field(default="auto", max_length=64,
                                   description="auto, or a registered proposer (agents.proposers.registry)")
    seed: int = Field(default=0, ge=0)
    space: SpaceName = Field(default="nb201", description="nb201: the NAS-Bench-201 cell space (lookups or real "
                             "data at a fixed macro); mcu: the NB201 cell with a depthwise-separable 3x3 op and "
                             "the macro (channels C, cells per stage N, stem stride), real data only")
    epochs: int | None = Field(default=None, ge=1, le=200, description="lookups: the NB201 schedule (12 or 200, "
                               "default 200); real data: training epochs per evaluation (digits 10, (fashion-)mnist 1)")
    data_path: str | None = Field(default=None, max_length=1024,
                                  description="real data: the dataset's folder (MNIST/Fashion-MNIST IDX files)")
    verify: Literal["none", "near", "all"] = "none"
    max_sim_seconds: float | None = Field(default=None, gt=0)
    max_wall_seconds: float | None = Field(default=None, gt=0)
    patience: int | None = Field(default=None, gt=0)
    batch_size: int = Field(default=1, ge=1, le=64)
    compress: CompressSpec | None = Field(default=None, description="hand the winner to the compression backend "
                                          "(train on real data, int8, TFLite Micro) when the search ends")
    fidelity: Fidelity = Field(default="full", description="real data: full trains every candidate for `epochs` on "
                               "the whole training split; asha screens candidates on cheap rungs (few epochs, a "
                               "data fraction) and promotes the best (Optuna's SuccessiveHalvingPruner); the top "
                               "rung is `epochs` on all the data")
    min_epochs: int | None = Field(default=None, ge=1, le=200, description=f"asha: epochs of the first rung "
                                   f"(default {DEFAULT_MIN_EPOCHS})")
    reduction_factor: int | None = Field(default=None, ge=2, le=10, description=f"asha: eta, 1 in eta candidates "
                                         f"promoted per rung; rungs grow by eta (default {DEFAULT_REDUCTION_FACTOR})")
    min_data_fraction: float | None = Field(default=None, gt=0, le=1, description="asha: fraction of the training "
                                            f"images on the first rung, scaled up by eta to 1.0 (default "
                                            f"{DEFAULT_MIN_DATA_FRACTION})")

    @field_validator("proposer")
    @classmethod
    def _known_proposer(cls, value: str) -> str:
        from agents.proposers.registry import names

        if value not in names():
            raise ValueError(f"unknown proposer {value!r}; choose {', '.join(names())}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        for name in DATASETS:
            if value.lower() == name.lower():
                return name
        real = real_dataset_name(value)
        if real is not None:
            return real
        raise ValueError(f"unknown dataset {value!r}; NAS-Bench-201 lookups know {', '.join(DATASETS)}, "
                         f"real-data training knows {', '.join(REAL_DATASETS)}")

    @property
    def real_data(self) -> bool:
        return self.dataset in REAL_DATASETS

    @model_validator(mode="after")
    def _epochs_for_the_evaluator(self) -> JobSpec:
        if self.real_data:
            self.epochs = self.epochs or DEFAULT_TRAIN_EPOCHS[self.dataset]
        else:
            if self.epochs is None:
                self.epochs = 200
            if self.epochs not in (12, 200):
                raise ValueError(f"NAS-Bench-201 lookups have 12- and 200-epoch results, not {self.epochs}")
            if self.data_path is not None:
                raise ValueError(f"data_path is for real-data training ({', '.join(REAL_DATASETS)}), "
                                 f"not the {self.dataset} lookup")
        if self.compress is not None:
            check_compress_spec(self.dataset, self.compress)
        return self

    @model_validator(mode="after")
    def _space_fits_the_job(self) -> JobSpec:
        if self.space == "nb201":
            return self
        if not self.real_data:
            raise ValueError(f"space 'mcu' trains every candidate on real data ({', '.join(REAL_DATASETS)}); "
                             f"{self.dataset} is a NAS-Bench-201 lookup (use space nb201)")
        from agents.proposers.registry import names, supports

        if not supports(self.proposer, self.space):
            fit = ", ".join(n for n in names() if supports(n, self.space))
            raise ValueError(f"proposer {self.proposer!r} searches the nb201 space only; for space "
                             f"{self.space!r} choose {fit}")
        return self

    @model_validator(mode="after")
    def _fidelity_fits_the_job(self) -> JobSpec:
        options = {"min_epochs": self.min_epochs, "reduction_factor": self.reduction_factor,
                   "min_data_fraction": self.min_data_fraction}
        if self.fidelity == "full":
            given = [k for k, v in options.items() if v is not None]
            if given:
                raise ValueError(f"{', '.join(given)} set the rungs of fidelity asha; this job's fidelity is full "
                                 "(add fidelity asha, or drop them)")
            return self
        if not self.real_data:
            raise ValueError(f"fidelity 'asha' screens candidates by training them on real data "
                             f"({', '.join(REAL_DATASETS)}) at low fidelity first; {self.dataset} is a NAS-Bench-201 "
                             "lookup, whose accuracies are read, not trained (use fidelity full)")
        self.min_epochs = self.min_epochs or DEFAULT_MIN_EPOCHS
        self.reduction_factor = self.reduction_factor or DEFAULT_REDUCTION_FACTOR
        self.min_data_fraction = self.min_data_fraction or DEFAULT_MIN_DATA_FRACTION
        assert self.epochs is not None
        rung_schedule(self.epochs, self.min_epochs, self.reduction_factor, self.min_data_fraction)
        return self

    @model_validator(mode="after")
    def _custom_is_complete(self) -> JobSpec:
        hw = self.hardware
        if hw is not None and self.board is None and None in (hw.sram_kb, hw.flash_kb, hw.clock_mhz):
            raise ValueError("a custom hardware spec needs sram_kb, flash_kb and clock_mhz (core is optional)")
        return self

    def resolve_hardware(self, board_files: bool = True) -> HardwareSpec | None:
        """The target the search must fit (None = unconstrained). Raises ValueError for unknown boards.

        ``board_files=False`` (the server): ``board`` is a catalog name only, never the path of a file.
        """
        from automcu.hardware.catalog import resolve_hardware

        custom = self.hardware
        return resolve_hardware(
            self.board,
            custom.sram_kb if custom else None,
            custom.flash_kb if custom else None,
            custom.clock_mhz if custom else None,
            custom.core if custom else None,
            board_files=board_files,
        )

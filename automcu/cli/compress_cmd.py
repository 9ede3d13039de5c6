"""`automcu compress`: train a winner on real data, (distil,) int8 PTQ/QAT, export, measure in TFLite Micro, bundle."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from automcu.cli.common import UserError, emit_json, guarded

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]


def _job_winner(db_url: str | None, job_id: str) -> tuple[Any, str, Any, str]:
    """(database, the job's best arch, the job's hardware or None, the job's full id); ``job_id`` may be a
    unique prefix."""
    from automcu.cli.common import open_db, resolve_job
    from automcu.storage.repository import best_candidate, candidates_of

    db = open_db(db_url)
    job = resolve_job(db, job_id)
    best = best_candidate(candidates_of(db, job.id))
    if best is None:
        raise UserError(f"job {job.id} has no evaluated candidate to compress (status {job.status})")
    return db, best.arch, _job_hardware(job), job.id


def _job_hardware(job: Any) -> Any:
    from automcu.hardware.catalog import UnknownBoardError, get_board
    from automcu.hardware.spec import HardwareSpec

    if job.board:
        try:
            return get_board(job.board)
        except UnknownBoardError:
            return None
    if isinstance(job.hardware, dict):
        try:
            return HardwareSpec(**{k: v for k, v in job.hardware.items() if k in HardwareSpec.model_fields})
        except ValueError:
            return None
    return None


def _print_human(s: dict[str, Any]) -> None:
    from automcu.cli.render import out

    out.print(f"{s['dataset']}: float {s['float_acc']:.2f} %, int8 {s['int8_acc']:.2f} % "
              f"(measured in TFLite Micro, {s['deployed'].upper()})"
              + (f", PTQ {s['ptq_int8_acc']:.2f} %" if s["qat_int8_acc"] is not None else ""))
    if s["kd_gain"] is not None:
        out.print(f"knowledge distillation gain: {s['kd_gain']:+.2f} pp")
        from automcu.compress.report import kd_loss_note

        note = kd_loss_note(s["kd_gain"])
        if note:
            out.print(f"[yellow]warning:[/] {note}")
    from automcu.cli.render import memory_text

    for region, part in (("flash", "flash_model_bytes"), ("sram", "sram_arena_bytes")):
        if part in s:
            scratch = s.get("sram_kernel_scratch_bytes", 0) if region == "sram" else 0
            out.print(memory_text(region, s[part], s[f"{region}_runtime_bytes"], s[f"{region}_total_bytes"],
                                  s[f"{region}_limit_bytes"], scratch=scratch), soft_wrap=True, highlight=False)
    verdict = "no board: runtime not counted" if s["fits"] is None else \
        ("fits" if s["fits"] else "does NOT fit") + f" on {s['board']}"
    out.print(f"latency ≈ {s['latency_ms']:.2f} ms (estimated); {verdict}", highlight=False)
    out.print(f"bundle: {s['artifacts']['dir']} (report: {s['artifacts']['report']})")


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def compress(
        out_dir: Annotated[Path, typer.Option("--out", help="folder for the artifact bundle")],
        dataset: Annotated[str, typer.Option("--dataset", help="digits | mnist | fashion-mnist | cifar10 | "
                                                               "cifar100 | folder | an image folder path")],
        job: Annotated[str | None, typer.Option("--job", help="compress this finished job's winner")] = None,
        arch: Annotated[str | None, typer.Option("--arch", help="NB201 arch string or index, or an mcu-space arch "
                                                                "(C<ch>-N<cells>-S<stride>:<cell>)")] = None,
        data: Annotated[str | None, typer.Option("--data", help="dataset folder (IDX files, CIFAR batches, "
                                                                "images); default where the OS installs it")] = None,
        board: Annotated[str | None, typer.Option("--board", help="catalog board name or board YAML file")] = None,
        sram_kb: Annotated[float | None, typer.Option("--sram-kb")] = None,
        flash_kb: Annotated[float | None, typer.Option("--flash-kb")] = None,
        clock_mhz: Annotated[float | None, typer.Option("--clock-mhz")] = None,
        core: Annotated[str | None, typer.Option("--core")] = None,
        teacher: Annotated[list[str] | None, typer.Option(
            "--teacher", help="KD teacher: NB201/mcu arch (trained first, NB201 at --teacher-C) or an automcu .pt "
                              "checkpoint; repeat for several teachers")] = None,
        teacher_weighting: Annotated[str, typer.Option(
            "--teacher-weighting", help="several teachers: mean, or entropy (per-sample weights from each "
                                        "teacher's predictive entropy)")] = "mean",
        label_mix: Annotated[str | None, typer.Option(
            "--label-mix", help="hard-label weight: W, A:B (linear over training) or auto (= 0.5:0.1); "
                                "default 1 - kd-alpha")] = None,
        feature_kd: Annotated[bool, typer.Option(
            "--feature-kd", help="intermediate-layer KD term (end of stage 2, learned 1x1 projection)")] = False,
        feature_kd_weight: Annotated[float, typer.Option("--feature-kd-weight")] = 1.0,
        precision: Annotated[str, typer.Option(
            "--precision", help="int8, or mixed: per layer int8, 4-bit weights or 16x8, chosen by measured "
                                "sensitivity (least Flash within --mixed-tolerance of int8)")] = "int8",
        mixed_tolerance: Annotated[float, typer.Option(
            "--mixed-tolerance", help="mixed: accuracy (pp, on the sensitivity images) it may give up for "
                                      "Flash")] = 0.3,
        sensitivity_images: Annotated[int, typer.Option(
            "--sensitivity-images", help="mixed: images the per-layer sensitivity is measured on (training "
                                         "images, never the test set)")] = 500,
        soup: Annotated[int, typer.Option(
            "--soup", help="N >= 2 fine-tuned runs merged by a greedy soup on a validation split (0: off)")] = 0,
        soup_epochs: Annotated[int | None, typer.Option("--soup-epochs", help="default epochs // 2")] = None,
        best_checkpoint: Annotated[bool, typer.Option(
            "--best-checkpoint", help="hold out --val-fraction of the training images and keep the epoch that "
                                      "scores best on them (not the last)")] = False,
        val_fraction: Annotated[float, typer.Option(
            "--val-fraction", help="training images held out for --best-checkpoint / --soup")] = 0.1,
        teacher_C: Annotated[int | None, typer.Option("--teacher-C", help="teacher width (default 2×C)")] = None,
        teacher_N: Annotated[int | None, typer.Option("--teacher-N", help="teacher cells/stage (default N)")] = None,
        kd_temperature: Annotated[float, typer.Option("--kd-temperature")] = 4.0,
        kd_alpha: Annotated[float, typer.Option("--kd-alpha", help="weight of the KL term")] = 0.7,
        kd_beta: Annotated[float, typer.Option("--kd-beta", help="weight of the cosine feature term")] = 0.0,
        no_kd_compare: Annotated[bool, typer.Option("--no-kd-compare", help="skip the no-KD baseline")] = False,
        qat: Annotated[bool, typer.Option("--qat", help="QAT fine-tuning; deploy the QAT model")] = False,
        qat_epochs: Annotated[int | None, typer.Option("--qat-epochs", help="default epochs // 2")] = None,
        epochs: Annotated[int, typer.Option("--epochs")] = 5,
        C: Annotated[int, typer.Option("--C", help="stem channels")] = 8,
        N: Annotated[int, typer.Option("--N", help="cells per stage")] = 1,
        batch_size: Annotated[int, typer.Option("--batch-size")] = 128,
        lr: Annotated[float, typer.Option("--lr")] = 0.05,
        label_smoothing: Annotated[float, typer.Option(
            "--label-smoothing", help="cross-entropy against smoothed labels, e.g. 0.1 (0: off)")] = 0.0,
        seed: Annotated[int, typer.Option("--seed")] = 0,
        train_limit: Annotated[int | None, typer.Option("--train-limit", help="seeded training subset")] = None,
        test_limit: Annotated[int | None, typer.Option("--test-limit", help="seeded test subset")] = None,
        calibration: Annotated[int, typer.Option("--calibration", help="int8 calibration images")] = 256,
        reference: Annotated[int, typer.Option("--reference", help="reference input/output pairs")] = 4,
        image_size: Annotated[int, typer.Option("--image-size", help="image folders: resize to this")] = 32,
        channels: Annotated[int, typer.Option("--channels", help="image folders: 1 gray, 3 RGB")] = 3,
        threads: Annotated[int, typer.Option("--threads", help="torch threads (1 is fastest for these "
                                                               "tiny convs on a shared box)")] = 1,
        db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (with --job)")] = None,
        baseline: Annotated[bool, typer.Option(
            "--baseline", help="instead of an arch: the hand-designed DS-CNN baseline, scaled to the board")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Train, distil, quantize and export a network for a board.

        Accuracy, arena and Flash of the int8 model are measured in TensorFlow Lite Micro.
        """
        from automcu.cli.verify_cmd import _hardware

        if baseline and (job is not None or arch is not None):
            raise UserError("--baseline compresses the DS-CNN baseline: give it without --job/--arch")
        if baseline and (teacher or soup):
            raise UserError("--baseline trains the DS-CNN by the plain recipe: --teacher and --soup do not apply "
                            "to it")
        if not baseline and (job is None) == (arch is None):
            raise UserError("give either --job JOB_ID or --arch ARCH (not both), or --baseline")
        hardware = _hardware(board, sram_kb, flash_kb, clock_mhz, core)
        if baseline and hardware is None:
            raise UserError("--baseline is scaled to a board's limits: give --board (or --sram-kb, --flash-kb, "
                            "--clock-mhz and --core)")
        database = None
        if job is not None:
            database, arch, job_hw, job = _job_winner(db, job)
            hardware = hardware or job_hw
        assert arch is not None or baseline
        req = _request(
            arch=arch, dataset=dataset, out_dir=out_dir, hardware=hardware, data_path=data, C=C, N=N,
            epochs=epochs, batch_size=batch_size, lr=lr, label_smoothing=label_smoothing, seed=seed, teacher=teacher,
            teacher_C=teacher_C,
            teacher_N=teacher_N, teacher_weighting=teacher_weighting, label_mix=label_mix, feature_kd=feature_kd,
            feature_kd_weight=feature_kd_weight, precision=precision, mixed_tolerance=mixed_tolerance,
            n_sensitivity=sensitivity_images, soup=soup, soup_epochs=soup_epochs,
            best_checkpoint=best_checkpoint, val_fraction=val_fraction,
            kd_temperature=kd_temperature, kd_alpha=kd_alpha, kd_beta=kd_beta,
            compare_no_kd=not no_kd_compare, qat=qat, qat_epochs=qat_epochs, n_calibration=calibration,
            n_reference=reference, train_limit=train_limit, test_limit=test_limit, image_size=image_size,
            channels=channels, threads=threads, job_id=job, progress=not quiet)
        report = _run(req, baseline=baseline)
        from automcu.compress.pipeline import contract_summary

        summary = contract_summary(report)
        if database is not None and job is not None:
            from automcu.engine.handoff import record_compress_result

            record_compress_result(database, job, report, summary)
        if json_out:
            emit_json(summary)
        else:
            _print_human(summary)


def _request(*, arch: str | None, out_dir: Path, **fields: Any) -> Any:
    """The :class:`~automcu.compress.request.CompressRequest` for ``arch`` (a string or an index; None: the
    DS-CNN baseline), its KD settings checked; a bad value is a :class:`UserError`, and so is an ``--out``
    that is a file."""
    from automcu.compress.networks import canonical_arch
    from automcu.compress.request import CompressRequest

    try:
        arch = canonical_arch(arch) if arch is not None else "dscnn-baseline"
        req = CompressRequest(arch=arch, out_dir=out_dir, **fields)
        if req.precision != "int8":
            from automcu.compress.precision import check_precision_supported

            check_precision_supported(req.precision)
        from automcu.train.config import KDConfig

        KDConfig(temperature=fields["kd_temperature"], alpha=fields["kd_alpha"], beta=fields["kd_beta"])
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a folder")
    return req


def _run(req: Any, baseline: bool = False) -> dict[str, Any]:
    """The pipeline's report (``baseline``: the DS-CNN baseline's, :func:`automcu.compress.baseline.run_baseline`);
    a missing extra and the pipeline's own failures are :class:`UserError`."""
    from automcu.data.dataset import DatasetError
    from automcu.deploy.extras import MissingExtraError, require_extra

    try:
        require_extra("torch", "litert_torch", "ai_edge_quantizer", "tflite_micro", "onnx", "onnxscript")
        from automcu.cli.noise import preload_quietly

        preload_quietly()  # converter start-up lines (torchao, absl, TF) only with --verbose
        from automcu.compress.pipeline import run_compress
        from automcu.compress.teacher import TeacherError
        from automcu.deploy.exporter import ExportError
        from automcu.deploy.tflm import ModelError

        try:
            with contextlib.redirect_stdout(sys.stderr):  # converter chatter must not mix into --json
                if baseline:
                    from automcu.compress.baseline import run_baseline

                    try:
                        return run_baseline(req)
                    except ValueError as exc:  # no DS-CNN fits the board
                        raise UserError(str(exc)) from None
                return run_compress(req)
        except (DatasetError, TeacherError, ModelError, FloatingPointError) as exc:
            raise UserError(str(exc)) from None
        except ExportError as exc:
            raise UserError(f"export failed: {exc}") from None
    except MissingExtraError as exc:
        raise UserError(str(exc)) from None

"""`automcu search`: one feasibility-first search, printed as the contract's JSON with --json."""

from __future__ import annotations

from typing import Annotated

import typer

from agents.proposers.registry import choices_text as proposer_choices
from automcu.cli.common import emit_json, guarded
from automcu.cli.render import print_summary
from automcu.cli.search_run import prepare_job, run_with_progress, space_fit
from automcu.jobs.spec import CustomHardware, JobSpec


def build_spec(
    dataset: str, board: str | None, sram_kb: float | None, flash_kb: float | None, clock_mhz: float | None,
    core: str | None, max_latency_ms: float | None, task: str | None, budget: int, proposer: str, seed: int,
    epochs: int | None = None, verify: str = "none", data_path: str | None = None,
    compress: dict | None = None, space: str = "nb201", fidelity: str = "full", min_epochs: int | None = None,
    reduction_factor: int | None = None, min_data_fraction: float | None = None,
) -> JobSpec:
    spec: dict = {"dataset": dataset, "board": board, "max_latency_ms": max_latency_ms, "task": task,
                  "budget": budget, "proposer": proposer, "seed": seed, "epochs": epochs, "verify": verify,
                  "data_path": data_path, "compress": compress, "space": space, "fidelity": fidelity,
                  "min_epochs": min_epochs, "reduction_factor": reduction_factor,
                  "min_data_fraction": min_data_fraction}
    custom = {"sram_kb": sram_kb, "flash_kb": flash_kb, "clock_mhz": clock_mhz, "core": core}
    if any(v is not None for v in custom.values()):
        spec["hardware"] = CustomHardware(**custom)
    return JobSpec(**spec)


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def search(
        dataset: Annotated[str, typer.Option(help="lookups: cifar10 | cifar100 | ImageNet16-120; "
                                                  "real training: digits | mnist | fashion-mnist")],
        board: Annotated[str | None, typer.Option(help="catalog board name or a board YAML file")] = None,
        sram_kb: Annotated[float | None, typer.Option(help="custom spec: usable SRAM (KiB)")] = None,
        flash_kb: Annotated[float | None, typer.Option(help="custom spec: Flash (KiB)")] = None,
        clock_mhz: Annotated[float | None, typer.Option(help="custom spec: core clock (MHz)")] = None,
        core: Annotated[str | None, typer.Option(help="custom spec: core, e.g. cortex-m7")] = None,
        max_latency_ms: Annotated[float | None, typer.Option(help="latency limit (ms)")] = None,
        task: Annotated[str | None, typer.Option(help="the task in words")] = None,
        budget: Annotated[int, typer.Option(help="evaluations (accuracy queries)")] = 100,
        proposer: Annotated[str, typer.Option(help=proposer_choices())] = "auto",
        seed: Annotated[int, typer.Option()] = 0,
        space: Annotated[str, typer.Option(
            help="nb201: the NAS-Bench-201 cell space; mcu: the cell plus a depthwise-separable 3x3 op and the "
                 "macro (channels, cells per stage, stem stride), real data only")] = "nb201",
        epochs: Annotated[int | None, typer.Option(
            help="lookups: NB201 schedule 200 (default) or 12; "
                 "real data: training epochs per evaluation (digits 10, (fashion-)mnist 1)",
            show_default=False)] = None,
        data: Annotated[str | None, typer.Option(help="real data: the dataset's folder (MNIST/Fashion-MNIST IDX)",
                                                 show_default=False)] = None,
        fidelity: Annotated[str, typer.Option(
            help="real data: full trains every candidate for --epochs; asha screens them on cheap rungs (few "
                 "epochs, a share of the images) and promotes the best 1/eta (Optuna's SuccessiveHalvingPruner), "
                 "the top rung being --epochs on all the images")] = "full",
        min_epochs: Annotated[int | None, typer.Option(help="asha: epochs of the first rung [default: 1]",
                                                       show_default=False)] = None,
        reduction_factor: Annotated[int | None, typer.Option(
            help="asha: eta, rungs grow by eta and 1 in eta is promoted [default: 3]", show_default=False)] = None,
        min_data_fraction: Annotated[float | None, typer.Option(
            help="asha: share of the training images on the first rung, scaled up by eta to 1.0 [default: 0.25]",
            show_default=False)] = None,
        verify: Annotated[str, typer.Option(help="TFLite Micro check of candidates: none|near|all")] = "none",
        compress: Annotated[bool, typer.Option(
            "--compress", help="hand the winner to the compression backend when the search ends (real data)")] = False,
        compress_epochs: Annotated[int, typer.Option(help="with --compress: training epochs of the winner")] = 5,
        qat: Annotated[bool, typer.Option("--qat", help="with --compress: quantization-aware training")] = False,
        db: Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: per-user SQLite)")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    ) -> None:
        """Search for the most accurate network that fits the target.

        Feasibility first: every candidate's int8 Flash, peak SRAM and latency are estimated before its
        accuracy is paid for (NAS-Bench-201 lookups, or real training for digits/mnist/fashion-mnist).
        """
        spec = build_spec(dataset, board, sram_kb, flash_kb, clock_mhz, core, max_latency_ms, task, budget,
                          proposer, seed, epochs, verify, data,
                          {"epochs": compress_epochs, "qat": qat} if compress else None, space, fidelity,
                          min_epochs, reduction_factor, min_data_fraction)
        database, job = prepare_job(spec, db)
        if compress or verify != "none":
            from automcu.cli.noise import preload_quietly

            preload_quietly()  # the converter stack's start-up lines, shown only with --verbose
        summary = run_with_progress(database, job, quiet=quiet)
        summary.update(space_fit(job))
        if compress:
            from automcu.engine.handoff import handoff_outcome

            summary["compress"] = handoff_outcome(database, job.id)
        if json_out:
            emit_json(summary)
        else:
            print_summary(summary, spec)
        if summary["status"] == "failed":
            raise typer.Exit(1)

"""`automcu estimate`: int8 Flash / peak SRAM / latency of one arch, or of the whole space to CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from automcu.cli.common import UserError, check_arch_index, emit_json, guarded, positive

CSV_FIELDS = ("arch", "index", "flash_bytes", "peak_sram_bytes", "latency_ms", "macs", "params", "feasible",
              "violations", "flash_model_bytes", "flash_runtime_bytes", "sram_arena_bytes", "sram_runtime_bytes")


def _hardware(board: str | None, sram_kb: float | None, flash_kb: float | None, clock_mhz: float | None,
              core: str | None) -> Any:
    from automcu.hardware.catalog import resolve_hardware

    try:
        return resolve_hardware(board, sram_kb, flash_kb, clock_mhz, core)
    except ValueError as exc:  # UnknownBoardError, BoardFileError, bad numbers
        raise UserError(str(exc)) from None


def _dataset(name: str) -> str:
    from automcu.hardware.estimator import DATASET_MACROS

    for known in DATASET_MACROS:
        if known.lower() == name.lower():
            return known
    raise UserError(f"unknown dataset {name!r}; estimate knows {', '.join(DATASET_MACROS)}")


def _mcu_dataset(name: str) -> str:
    """A lookup dataset (its input shape) or a real-data one, for an mcu-space arch."""
    from automcu.data.realdata import REAL_DATASETS, real_dataset_name

    real = real_dataset_name(name)
    if real is not None:
        return real
    try:
        return _dataset(name)
    except UserError:
        raise UserError(f"unknown dataset {name!r}; an mcu arch is estimated on the input of "
                        f"{', '.join(REAL_DATASETS)} or a lookup dataset") from None


def _write_all(out: Path, hw: Any, dataset: str, max_latency_ms: float | None) -> int:
    import numpy as np

    from agents.feasibility import macro_for
    from automcu.hardware.estimator import estimate_all
    from search_spaces.nb201.index import all_ops
    from search_spaces.nb201.space import Arch

    fig = estimate_all(hw, macro_for(dataset))
    n = len(fig["flash_bytes"])
    flash_over = fig["flash_bytes"] > hw.flash_bytes if hw else np.zeros(n, bool)
    sram_over = fig["peak_sram_bytes"] > hw.sram_bytes if hw else np.zeros(n, bool)
    lat_over = fig["latency_ms"] > max_latency_ms if max_latency_ms is not None else np.zeros(n, bool)
    ops = all_ops()
    rt_flash = int(hw.runtime_flash_kb * 1024) if hw else 0
    rt_sram = int(hw.runtime_sram_kb * 1024) if hw else 0
    try:
        fh = out.open("w", newline="")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    with fh:
        w = csv.writer(fh)
        w.writerow(CSV_FIELDS)
        for i in range(n):
            v = [name for name, bad in (("flash", flash_over[i]), ("sram", sram_over[i]), ("latency", lat_over[i]))
                 if bad]
            w.writerow((Arch(tuple(int(o) for o in ops[i])).to_string(), i, int(fig["flash_bytes"][i]),
                        int(fig["peak_sram_bytes"][i]), f"{fig['latency_ms'][i]:.4f}", int(fig["macs"][i]),
                        int(fig["params"][i]), not v, ";".join(v), int(fig["flash_bytes"][i]) - rt_flash, rt_flash,
                        int(fig["arena_bytes"][i]), rt_sram))
    return n


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def estimate(
        arch: Annotated[str | None, typer.Option(
            help="NB201 arch string or official index 0..15624, or an mcu-space arch C<ch>-N<cells>-S<stride>:<cell>"
        )] = None,
        all_archs: Annotated[bool, typer.Option("--all", help="every arch of the space, to --out CSV")] = False,
        board: Annotated[str | None, typer.Option(help="board name (automcu boards) or path of a board YAML")] = None,
        dataset: Annotated[str, typer.Option(help="cifar10 | cifar100 | ImageNet16-120 (macro); an mcu arch "
                                                  "also digits | mnist | fashion-mnist (input)")] = "cifar10",
        sram_kb: Annotated[float | None, typer.Option(help="custom spec: usable SRAM (KB)")] = None,
        flash_kb: Annotated[float | None, typer.Option(help="custom spec: Flash (KB)")] = None,
        clock_mhz: Annotated[float | None, typer.Option(help="custom spec: clock (MHz)")] = None,
        core: Annotated[str | None, typer.Option(help="custom spec: core, e.g. cortex-m7")] = None,
        max_latency_ms: Annotated[float | None, typer.Option(help="latency budget (ms)")] = None,
        out: Annotated[Path | None, typer.Option(help="CSV file for --all")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
    ) -> None:
        """Estimate int8 Flash, peak SRAM and latency of an arch.

        Flash (model + runtime code), peak SRAM (TFLM arena + runtime RAM) and latency; says what does not
        fit and by how much.
        """
        positive(max_latency_ms, "--max-latency-ms")
        mcu = arch is not None and arch.strip()[:1] == "C"  # the mcu space's grammar
        if not mcu:
            check_arch_index(arch)
        dataset = _mcu_dataset(dataset) if mcu else _dataset(dataset)
        hw = _hardware(board, sram_kb, flash_kb, clock_mhz, core)
        if all_archs:
            if arch is not None:
                raise UserError("give either --arch or --all, not both")
            if out is None:
                raise UserError("--all needs --out FILE.csv")
            n = _write_all(out, hw, dataset, max_latency_ms)
            if json_out:
                emit_json({"out": str(out), "rows": n, "board": hw.name if hw else None, "dataset": dataset})
            else:
                Console(stderr=True).print(f"wrote {n} archs to {out}")
            return
        if arch is None:
            raise UserError("give --arch ARCH (NB201 string or index) or --all --out FILE.csv")
        report_dict = _one(arch, hw, dataset, max_latency_ms)
        if json_out:
            emit_json(report_dict)
        else:
            _print(report_dict)


def _one(arch_text: str, hw: Any, dataset: str, max_latency_ms: float | None) -> dict[str, Any]:
    from agents.feasibility import FeasibilityAgent, macro_for
    from agents.messages import FeasibilityRequest
    from automcu.hardware.estimator import estimate
    from search_spaces.nb201.space import parse_arch

    if arch_text.strip()[:1] == "C":  # an mcu-space arch, on the dataset's input
        from automcu.hardware.mcu import estimate_mcu
        from search_spaces.mcu.space import MCUArchError, parse_mcu_arch

        try:
            march = parse_mcu_arch(arch_text)
        except MCUArchError as exc:
            raise UserError(str(exc)) from None
        text = march.to_string()
        m = macro_for(dataset)
        est = estimate_mcu(march, hw, m.in_ch, m.hw, m.classes)
    else:
        arch = parse_arch(arch_text)
        text = arch.to_string()
        est = estimate(arch, hw, macro_for(dataset))
    report = FeasibilityAgent().check(FeasibilityRequest(arch=text, dataset=dataset, hardware=hw,
                                                         max_latency_ms=max_latency_ms))
    return {
        "arch": report.arch,
        "index": report.index,
        "flash_bytes": report.flash_bytes,
        "peak_sram_bytes": report.peak_sram_bytes,
        "latency_ms": round(report.latency_ms, 4),
        "macs": report.macs,
        "params": report.params,
        "feasible": report.feasible,
        "violations": [v.model_dump() | {"message": v.describe()} for v in report.violations],
        "margins": report.margins,
        "board": hw.name if hw else None,
        "dataset": dataset,
        "breakdown": {"flash": est.flash, "sram": est.sram, "peak_layer": est.peak_layer,
                      "slowest_layer": est.slowest_layer, "nb201_params": est.nb201_params,
                      "nb201_macs": est.nb201_macs, "n_ops": est.n_ops},
        "left_out": est.left_out,
        # Flash and SRAM as model/arena + runtime = total, against the limit (None without hardware)
        "flash_model_bytes": est.flash["model_total"], "flash_runtime_bytes": est.flash["runtime_code"],
        "flash_total_bytes": est.flash_bytes, "flash_limit_bytes": hw.flash_bytes if hw else None,
        "sram_arena_bytes": est.sram["arena"], "sram_runtime_bytes": est.sram["runtime"],
        "sram_total_bytes": est.peak_sram_bytes, "sram_limit_bytes": hw.sram_bytes if hw else None,
    }


def _print(r: dict[str, Any]) -> None:
    con = Console()
    con.print(f"[bold]{r['arch']}[/] (index {r['index']}) on {r['board'] or 'no board (unconstrained)'}",
              soft_wrap=True, highlight=False)
    t = Table(show_header=True)
    t.add_column("region")
    t.add_column("bytes", justify="right")
    for k, v in r["breakdown"]["flash"].items():
        t.add_row(f"flash: {k}", f"{v:,}")
    for k, v in r["breakdown"]["sram"].items():
        t.add_row(f"sram: {k}", f"{v:,}")
    con.print(t)
    from automcu.cli.render import memory_text

    con.print(memory_text("flash", r["flash_model_bytes"], r["flash_runtime_bytes"], r["flash_total_bytes"],
                          r["flash_limit_bytes"]), soft_wrap=True, highlight=False)
    con.print(memory_text("sram", r["sram_arena_bytes"], r["sram_runtime_bytes"], r["sram_total_bytes"],
                          r["sram_limit_bytes"]) + f", peak at {r['breakdown']['peak_layer']}",
              soft_wrap=True, highlight=False)
    con.print(f"latency {r['latency_ms']:.2f} ms · MACs {r['macs']:,} · params {r['params']:,}")
    if r["feasible"]:
        con.print("[green]fits[/] " + ", ".join(f"{k} margin {v:.0%}" for k, v in r["margins"].items()))
    else:
        for v in r["violations"]:  # Flash/SRAM overflows are in the memory lines above
            if v.get("resource") not in ("flash", "sram"):
                con.print(f"[red]does not fit:[/] {v['message']}", soft_wrap=True)
        con.print("[red]does not fit[/]: " + ", ".join(str(v.get("resource")) for v in r["violations"]))
    con.print("[dim]not counted: " + "; ".join(r["left_out"]) + "[/]")

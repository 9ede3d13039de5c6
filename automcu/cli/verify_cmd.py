"""`automcu verify`: run a `.tflite` (or an arch exported on the fly) in the real TFLite Micro interpreter."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from automcu.cli.common import UserError, emit_json, guarded

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]


def _hardware(board: str | None, sram_kb: float | None, flash_kb: float | None, clock_mhz: float | None,
              core: str | None) -> Any:
    from automcu.hardware.catalog import BoardFileError, UnknownBoardError, resolve_hardware

    try:
        return resolve_hardware(board, sram_kb=sram_kb, flash_kb=flash_kb, clock_mhz=clock_mhz, core=core)
    except (UnknownBoardError, BoardFileError, ValueError) as exc:
        raise UserError(str(exc)) from None


def _macro(dataset: str, C: int | None, N: int | None, in_ch: int | None, hw: int | None,
           classes: int | None) -> Any:
    from automcu.hardware.estimator import Macro

    try:
        base = Macro.for_dataset(dataset)
    except (KeyError, ValueError) as exc:
        raise UserError(f"unknown dataset {dataset!r}: {exc}") from None
    updates = {k: v for k, v in (("C", C), ("N", N), ("in_ch", in_ch), ("hw", hw), ("classes", classes))
               if v is not None}
    if not updates:
        return base
    fields = {k: getattr(base, k) for k in ("C", "N", "in_ch", "hw", "classes")}
    fields.update(updates)
    try:
        return Macro(**fields)
    except ValueError as exc:
        raise UserError(f"invalid macro: {exc}") from None


def _verify_mcu(arch: str, dataset: str, C: int | None, N: int | None, in_ch: int | None, hw: int | None,
                classes: int | None, hardware: Any, keep: Path | None, seed: int) -> Any:
    from automcu.data.realdata import real_dataset_name, search_macro
    from automcu.deploy.verify_mcu import verify_mcu_arch
    from search_spaces.mcu.space import MCUArchError, parse_mcu_arch

    if C is not None or N is not None:
        raise UserError("an mcu arch carries its own C and N (C<ch>-N<cells>-S<stride>:...); drop --C/--N")
    try:
        parsed = parse_mcu_arch(arch)
    except MCUArchError as exc:
        raise UserError(str(exc)) from None
    base = search_macro(dataset) if real_dataset_name(dataset) is not None else _macro(dataset, None, None,
                                                                                         None, None, None)
    shape = (in_ch or base.in_ch, hw or base.hw, classes or base.classes)
    try:
        return verify_mcu_arch(parsed, hardware, *shape, seed=seed, keep_dir=keep)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _print_human(res: Any) -> None:
    from automcu.cli.render import out

    if res.arch:
        out.print(f"arch {res.arch} (index {res.index}) at {res.macro}")
    out.print(f"tensor arena (smallest that runs in TFLM): {res.arena_bytes:,} B "
              f"(head {res.arena.head:,} + tail {res.arena.tail:,})")
    out.print(f"model Flash (.tflite): {res.flash_bytes:,} B; {res.op_count} ops: {', '.join(res.ops)}")
    for msg in res.messages:
        out.print(msg)
    if res.fits is not None:
        out.print(f"[bold]{'fits' if res.fits else 'does NOT fit'}[/] on {res.board}")
    if res.error_pct is not None:
        out.print(f"estimator error: SRAM {res.error_pct['sram']:+.2f} %, Flash {res.error_pct['flash']:+.2f} %")
    if res.tflite:
        out.print(f".tflite: {res.tflite}")


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def verify(
        model: Annotated[Path | None, typer.Argument(help="a .tflite file to run (or use --arch)")] = None,
        arch: Annotated[str | None, typer.Option(
            "--arch", help="NB201 arch string or index, or an mcu-space arch: export, run")] = None,
        dataset: Annotated[str, typer.Option(
            "--dataset", help="macro of this dataset (with --arch; an mcu arch also digits | mnist | fashion-mnist)")
        ] = "cifar10",
        board: Annotated[str | None, typer.Option("--board", help="catalog board name or board YAML file")] = None,
        sram_kb: Annotated[float | None, typer.Option("--sram-kb")] = None,
        flash_kb: Annotated[float | None, typer.Option("--flash-kb")] = None,
        clock_mhz: Annotated[float | None, typer.Option("--clock-mhz")] = None,
        core: Annotated[str | None, typer.Option("--core")] = None,
        C: Annotated[int | None, typer.Option("--C", help="stem channels (default: the dataset's macro)")] = None,
        N: Annotated[int | None, typer.Option("--N", help="cells per stage")] = None,
        in_ch: Annotated[int | None, typer.Option("--in-ch", help="input channels")] = None,
        hw: Annotated[int | None, typer.Option("--hw", help="input height = width")] = None,
        classes: Annotated[int | None, typer.Option("--classes", help="output classes")] = None,
        keep: Annotated[Path | None, typer.Option("--keep", help="keep model.tflite (and ops.json) in DIR")] = None,
        seed: Annotated[int, typer.Option("--seed", help="seed of the random weights and calibration set")] = 0,
        json_out: JsonOpt = False,
    ) -> None:
        """Measure a model's TFLM arena and Flash, and whether it fits.

        Runs the .tflite (or the arch exported with calibrated random weights) in TensorFlow Lite Micro:
        the smallest arena it allocates and runs with, the model's Flash, the verdict against the board.
        """
        from automcu.deploy.exporter import ExportError
        from automcu.deploy.extras import MissingExtraError
        from automcu.deploy.tflm import ModelError

        if (model is None) == (arch is None):
            raise UserError("give either a MODEL.tflite or --arch ARCH (not both)")
        hardware = _hardware(board, sram_kb, flash_kb, clock_mhz, core)
        try:
            from automcu.cli.noise import preload_quietly

            preload_quietly()  # converter start-up lines (torchao, absl, TF) only with --verbose
            if model is not None:
                from automcu.deploy.verify import copy_tflite, verify_tflite

                if not model.is_file():
                    raise UserError(f"no such .tflite file: {model}")
                res = verify_tflite(model, hardware)
                if keep is not None:
                    res.tflite = str(copy_tflite(model, keep.expanduser()))
            elif arch is not None and arch.strip()[:1] == "C":  # mcu arch: macro in the string, input from dataset
                res = _verify_mcu(arch, dataset, C, N, in_ch, hw, classes, hardware, keep, seed)
            else:
                from automcu.deploy.verify import verify_arch
                from search_spaces.nb201.space import parse_arch

                assert arch is not None
                parsed = parse_arch(arch)
                macro = _macro(dataset, C, N, in_ch, hw, classes)
                res = verify_arch(parsed, macro, hardware, keep_dir=keep, seed=seed)
        except MissingExtraError as exc:
            raise UserError(str(exc)) from None
        except ModelError as exc:
            raise UserError(str(exc)) from None
        except ExportError as exc:
            raise UserError(f"export failed: {exc}") from None
        if json_out:
            payload = res.model_dump(mode="json")
            regions = {r["name"]: r for r in payload.get("regions") or []}
            for region, part, key in (("flash", "flash_model_bytes", "flash_bytes"),
                                      ("sram", "sram_arena_bytes", "arena_bytes")):
                reg = regions.get(region)  # model/arena + runtime = total against the limit
                payload[part] = payload[key]
                payload[f"{region}_runtime_bytes"] = reg["runtime_bytes"] if reg else 0
                payload[f"{region}_total_bytes"] = reg["total_bytes"] if reg else payload[key]
                payload[f"{region}_limit_bytes"] = reg["limit_bytes"] if reg else None
            if arch is None:
                for key in ("estimate", "error_pct", "arch", "index", "macro"):
                    payload.pop(key, None)
            emit_json(payload)
        else:
            _print_human(res)

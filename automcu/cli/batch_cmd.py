"""`automcu batch FILE`: many searches from a YAML or JSON list, with one progress bar and a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automcu.cli.common import UserError, console, emit_json, guarded
from automcu.cli.render import out
from automcu.cli.search_run import prepare_job, run_with_progress
from automcu.jobs.spec import JobSpec


def load_batch(path: Path) -> list[JobSpec]:
    """Parse and validate every entry before anything runs; errors name the entry."""
    if not path.is_file():
        raise UserError(f"batch file {path} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if isinstance(data, dict) and "searches" in data:
        data = data["searches"]
    if not isinstance(data, list) or not data:
        raise UserError(f"{path} must hold a non-empty list of searches (or {{searches: [...]}})")
    specs = []
    for i, entry in enumerate(data, 1):
        if not isinstance(entry, dict):
            raise UserError(f"search #{i} in {path} is not a mapping")
        try:
            spec = JobSpec(**entry)
            spec.resolve_hardware()
        except ValidationError as exc:
            errs = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise UserError(f"search #{i} in {path}: {errs}") from None
        except ValueError as exc:
            raise UserError(f"search #{i} in {path}: {exc}") from None
        specs.append(spec)
    return specs


def _target(spec: dict[str, Any]) -> str:
    """Board (or ``custom``) and latency limit of one batch entry, or ``unconstrained``."""
    parts = [spec["board"]] if spec.get("board") else (["custom"] if spec.get("hardware") else [])
    if spec.get("max_latency_ms") is not None:
        parts.append(f"<= {spec['max_latency_ms']:g} ms")
    return ", ".join(parts) or "unconstrained"


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def batch(
        file: Annotated[Path, typer.Argument(help="YAML or JSON list of searches (same fields as the REST job body)")],
        db: Annotated[str | None, typer.Option(help="SQLAlchemy URL (default: per-user SQLite)")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
    ) -> None:
        """Run many searches from a YAML or JSON list, one after another.

        Every entry is checked before any search starts: one invalid entry (unknown field, bad value,
        unknown board) rejects the whole file, names the entry, and nothing runs or is stored. Once the
        searches run, one that fails does not stop the others; the exit status is 1 if any failed.
        """
        specs = load_batch(file)
        results: list[dict[str, Any]] = []
        with Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("batch", total=len(specs))
            for spec in specs:
                try:
                    database, job = prepare_job(spec, db)
                    summary = run_with_progress(database, job, quiet=True)
                except UserError as exc:
                    summary = {"job_id": None, "status": "failed", "error": str(exc), "best": None}
                results.append({"spec": spec.model_dump(exclude_none=True), **summary})
                bar.advance(task)
        if json_out:
            emit_json(results)
        else:
            table = Table(title=f"batch {file.name} (accuracy %)", box=box.SIMPLE_HEAD, show_edge=False,
                          pad_edge=False, collapse_padding=True)
            # ids, datasets and statuses are copied next: never cut; the target folds
            for col in ("#", "job", "dataset", "target", "status", "evals", "val", "test"):
                table.add_column(col, no_wrap=col != "target", overflow="fold",
                                 justify="right" if col in ("#", "evals", "val", "test") else "left")
            for i, r in enumerate(results, 1):
                best = r.get("best") or {}
                table.add_row(str(i), r.get("job_id") or "-", r["spec"]["dataset"], _target(r["spec"]), r["status"],
                              str(r.get("n_evaluated", 0)), f"{best['val_acc']:.2f}" if best else "-",
                              f"{best['test_acc']:.2f}" if best else "-")
            out.print(table)
        if any(r["status"] == "failed" for r in results):
            raise typer.Exit(1)

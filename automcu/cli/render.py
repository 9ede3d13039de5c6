"""Human-readable output (rich) for search results and job lists; JSON goes through emit_json."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

out = Console()


def _kib(v: float | None) -> str:
    return "-" if v is None else f"{v / 1024:,.1f} KiB"


def target_line(spec: Any) -> str:
    """Which board and limits a search ran against, or that it ran without any."""
    limits = []
    if spec.board:
        limits.append(f"board {spec.board}")
    hw = getattr(spec, "hardware", None)
    if hw is not None:
        limits.append(", ".join(f"{k} {v}" for k, v in hw.model_dump().items() if v is not None))
    if spec.max_latency_ms is not None:
        limits.append(f"latency <= {spec.max_latency_ms:g} ms")
    return "target: " + "; ".join(limits) if limits else ""


def print_summary(summary: dict[str, Any], spec: Any = None) -> None:
    best = summary.get("best")
    real = spec is not None and spec.dataset in ("digits", "mnist", "fashion-mnist")
    train = (f"measured training {summary['simulated_train_seconds']:.1f} s" if real
             else f"simulated training {summary['simulated_train_seconds'] / 3600:.2f} GPU-h")
    out.print(f"job [bold]{summary['job_id']}[/] {summary['status']}: {summary['n_evaluated']} evaluated, "
              f"{summary['n_infeasible']} infeasible of {summary['n_proposed']} proposed; "
              f"{train}, wall {summary['wall_seconds']:.1f} s", soft_wrap=True)
    if spec is not None:
        target = target_line(spec)
        if target:
            n_fit = summary["n_proposed"] - summary["n_infeasible"]
            out.print(f"{target}; {n_fit} of {summary['n_proposed']} proposed fit", soft_wrap=True)
        else:
            out.print("unconstrained: no board or limits were given; add --board NAME (see `automcu boards`) "
                      "and --max-latency-ms MS", soft_wrap=True)
    if summary.get("stop_reason"):
        out.print(f"stopped: {summary['stop_reason']}", soft_wrap=True, highlight=False)
    if not best:
        out.print("no candidate was evaluated")
        return
    table = Table(title="best feasible candidate", show_header=False)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("arch", best["arch"])
    table.add_row("index", str(best["index"]))
    table.add_row("val / test acc", f"{best['val_acc']:.2f} % / {best['test_acc']:.2f} %")
    table.add_row("flash", _kib(best["flash_bytes"]))
    table.add_row("peak SRAM", _kib(best["peak_sram_bytes"]))
    table.add_row("latency", "-" if best["latency_ms"] is None else f"{best['latency_ms']:,.1f} ms")
    out.print(table)


def print_jobs(rows: list[dict[str, Any]]) -> None:
    table = Table(title="jobs (newest first; test accuracy in `automcu show`)", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True)
    table.add_column("id", no_wrap=True, min_width=12)
    for col in ("status", "dataset", "board", "proposer", "evals", "val acc", "created"):
        table.add_column(col, overflow="fold", no_wrap=col not in ("board", "proposer", "dataset", "created"),
                         min_width={"board": 9, "dataset": 7, "proposer": 9, "created": 5}.get(col))
    for r in rows:
        best = r.get("best") or {}
        table.add_row(r["id"], r["status"], r["dataset"], r["board"] or "-", r.get("proposer_used") or r["proposer"],
                      f"{r.get('n_evaluated', 0)}/{r['budget']}",
                      f"{best['val_acc']:.2f}" if best else "-",
                      str(r["created_at"])[5:16])
    out.print(table)


def print_lineage(chain: list[dict[str, Any]]) -> None:
    """root → … → the arch, one row per proposal."""
    table = Table(title="lineage (oldest first)")
    for col in ("#", "step", "proposer", "val acc", "arch", "why"):
        table.add_column(col, overflow="fold")
    for i, link in enumerate(chain):
        if link.get("external"):
            table.add_row(str(i), "–", "–", "–", link["arch"], "parent named by the proposer, not a candidate")
            continue
        acc = f"{link['val_acc']:.2f}" if link.get("val_acc") is not None else link.get("status", "")
        table.add_row(str(i), str(link["step"]), str(link["proposer"]), acc, link["arch"], str(link["reason"] or ""))
    out.print(table)

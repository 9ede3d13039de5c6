"""Human-readable output (rich) for search results and job lists; JSON goes through emit_json."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

out = Console()


def _kib(v: float | None) -> str:
    return "-" if v is None else f"{v / 1024:,.1f} KiB"


def print_summary(summary: dict[str, Any]) -> None:
    best = summary.get("best")
    out.print(f"job [bold]{summary['job_id']}[/] {summary['status']}: {summary['n_evaluated']} evaluated, "
              f"{summary['n_infeasible']} infeasible of {summary['n_proposed']} proposed; "
              f"simulated training {summary['simulated_train_seconds'] / 3600:.2f} GPU-h, "
              f"wall {summary['wall_seconds']:.1f} s")
    if not best:
        out.print("no candidate was evaluated")
        return
    table = Table(title="best feasible candidate", show_header=False)
    table.add_row("arch", best["arch"])
    table.add_row("index", str(best["index"]))
    table.add_row("val / test acc", f"{best['val_acc']:.2f} % / {best['test_acc']:.2f} %")
    table.add_row("flash", _kib(best["flash_bytes"]))
    table.add_row("peak SRAM", _kib(best["peak_sram_bytes"]))
    table.add_row("latency", "-" if best["latency_ms"] is None else f"{best['latency_ms']:,.1f} ms")
    out.print(table)


def print_jobs(rows: list[dict[str, Any]]) -> None:
    table = Table(title="jobs (newest first)")
    for col in ("id", "status", "dataset", "board", "proposer", "evaluated", "best val", "best test", "created"):
        table.add_column(col)
    for r in rows:
        best = r.get("best") or {}
        table.add_row(r["id"], r["status"], r["dataset"], r["board"] or "-", r.get("proposer_used") or r["proposer"],
                      f"{r.get('n_evaluated', 0)}/{r['budget']}",
                      f"{best['val_acc']:.2f}" if best else "-", f"{best['test_acc']:.2f}" if best else "-",
                      str(r["created_at"])[:19])
    out.print(table)


def print_lineage(chain: list[dict[str, Any]]) -> None:
    """root → … → the arch, one row per proposal."""
    table = Table(title="lineage (oldest first)")
    for col in ("#", "step", "proposer", "val acc", "arch", "why"):
        table.add_column(col)
    for i, link in enumerate(chain):
        if link.get("external"):
            table.add_row(str(i), "–", "–", "–", link["arch"], "parent named by the proposer, not a candidate")
            continue
        acc = f"{link['val_acc']:.2f}" if link.get("val_acc") is not None else link.get("status", "")
        table.add_row(str(i), str(link["step"]), str(link["proposer"]), acc, link["arch"], str(link["reason"] or ""))
    out.print(table)

"""Human-readable output (rich) for search results and job lists; JSON goes through emit_json."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

out = Console()


def _kib(v: float | None) -> str:
    return "-" if v is None else f"{v / 1024:,.1f} KiB"


def _bytes(v: float | None) -> str:
    return "-" if v is None else f"{int(v):,} B"


def memory_text(region: str, part: int | None, runtime: int | None, total: int | None, limit: int | None,
                unit: str = "B", scratch: int = 0) -> str:
    """The one wording of a memory figure: ``Flash: model X + runtime code Y = Z of L (F free)`` (SRAM:
    ``arena X + runtime RAM Y``), or ``overflows by N`` when it does not fit; ``unit`` "B" or "KiB"."""
    fmt = _bytes if unit == "B" else _kib
    label, part_name, rt_name = (("Flash", "model", "runtime code") if region == "flash"
                                 else ("SRAM", "arena", "runtime RAM"))
    if total is None:
        return f"{label}: -"
    extra = f" + kernel scratch {fmt(scratch)} (est.)" if scratch else ""
    summed = f"{part_name} {fmt(part)}{extra} + {rt_name} {fmt(runtime or 0)} = {fmt(total)}"
    if limit is None:
        return f"{label}: {summed} (no limit given)"
    free = limit - total
    if free >= 0:
        return f"{label}: {summed} of {fmt(limit)} ({fmt(free)} free)"
    return f"{label}: overflows by {fmt(-free)} ({summed} > {fmt(limit)})"


def best_memory_lines(best: dict[str, Any], unit: str = "KiB") -> list[str]:
    """Flash and SRAM of a candidate brief (``flash_model_bytes`` … from ``candidate_brief``)."""
    if "flash_model_bytes" not in best:  # an older summary: totals only
        return [f"Flash: {_kib(best.get('flash_bytes'))} (model + runtime code)",
                f"SRAM: {_kib(best.get('peak_sram_bytes'))} (arena + runtime RAM)"]
    return [memory_text("flash", best["flash_model_bytes"], best["flash_runtime_bytes"], best["flash_total_bytes"],
                        best["flash_limit_bytes"], unit),
            memory_text("sram", best["sram_arena_bytes"], best["sram_runtime_bytes"], best["sram_total_bytes"],
                        best["sram_limit_bytes"], unit)]


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


def record_target_line(record: dict[str, Any]) -> str:
    """``target: …`` of a stored job (``job_record``), or that it ran unconstrained."""
    limits = []
    if record.get("board"):
        limits.append(f"board {record['board']}")
    elif record.get("hardware"):
        hw = record["hardware"]
        limits.append(", ".join(f"{k} {hw[k]:g}" if isinstance(hw[k], float) else f"{k} {hw[k]}"
                                for k in ("sram_kb", "flash_kb", "clock_mhz", "core") if hw.get(k) is not None))
    if record.get("max_latency_ms") is not None:
        limits.append(f"latency <= {record['max_latency_ms']:g} ms")
    return "target: " + "; ".join(limits) if limits else "target: none (unconstrained search)"


def print_summary(summary: dict[str, Any], spec: Any = None, dataset: str | None = None) -> None:
    """A search's outcome; ``spec`` (a fresh search) adds its target, ``dataset`` (a stored job) says whether
    the training time was measured (real data) or simulated (the NB201 lookup)."""
    from automcu.data.realdata import REAL_DATASETS

    best = summary.get("best")
    real = (spec.dataset if spec is not None else dataset) in REAL_DATASETS
    train = (f"measured training {summary['simulated_train_seconds']:.1f} s" if real
             else f"simulated training {summary['simulated_train_seconds'] / 3600:.2f} GPU-h")
    out.print(f"job [bold]{summary['job_id']}[/] {summary['status']}: {summary['n_evaluated']} evaluated, "
              f"{summary['n_infeasible']} infeasible of {summary['n_proposed']} proposed; "
              f"{train}, wall {summary['wall_seconds']:.1f} s", soft_wrap=True)
    if spec is not None:
        target = target_line(spec)
        if target:
            n_fit = summary["n_proposed"] - summary["n_infeasible"]
            space = ""
            if summary.get("space_feasible") is not None:
                space = (f"{summary['space_feasible']:,} of {summary['space_size']:,} archs of the space fit "
                         "(every arch estimated); ")
            out.print(f"{target}; {space}{n_fit} of {summary['n_proposed']} proposed fit", soft_wrap=True,
                      highlight=False)
        else:
            out.print("unconstrained: no board or limits were given; add --board NAME (see `automcu boards`) "
                      "and --max-latency-ms MS", soft_wrap=True)
    if summary.get("stop_reason"):
        out.print(f"stopped: {summary['stop_reason']}", soft_wrap=True, highlight=False)
    if not best:
        out.print("no candidate was evaluated")
        return
    lat = "-" if best["latency_ms"] is None else f"{best['latency_ms']:,.1f} ms"
    test = "-" if best.get("test_acc") is None else f"{best['test_acc']:.2f} %"
    lines = [f"[bold]best feasible candidate[/]: index {best['index']}, val {best['val_acc']:.2f} % / test {test}, "
             f"latency {lat}", f"  arch  {best['arch']}"]
    lines += [f"  {line}" for line in best_memory_lines(best)]
    for line in lines:  # one value per line, never cut: the terminal wraps what is wider
        out.print(line, soft_wrap=True, highlight=False)


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


def print_candidates(rows: list[dict[str, Any]], job_id: str, sort: str = "acc", sort_text: str = "",
                     limit: int = 20, page: int = 1) -> None:
    """One page of candidates: a row of figures each (fits 80 columns), the arch on its own line, never cut."""
    total = len(rows)
    pages = max(1, -(-total // limit))
    chunk = rows[(page - 1) * limit: page * limit]
    out.print(f"candidates of job {job_id}: {total} (page {min(page, pages)} of {pages}, {limit} per page; "
              f"sorted by {sort_text or sort})", soft_wrap=True, highlight=False)
    if not chunk:
        out.print("no candidate on this page" if total else "no candidate yet", highlight=False)
        return
    head = f"{'#':>4} {'index':>5} {'status':<10} {'val %':>6} {'test %':>6} {'Flash KiB':>9} {'SRAM KiB':>8} " \
           f"{'lat ms':>8} proposer"
    out.print(head, highlight=False, soft_wrap=True)
    first = (page - 1) * limit
    for i, r in enumerate(chunk, first + 1):
        acc = "-" if r["val_acc"] is None else f"{r['val_acc']:.2f}"
        test = "-" if r["test_acc"] is None else f"{r['test_acc']:.2f}"
        flash = "-" if r["flash_bytes"] is None else f"{r['flash_bytes'] / 1024:,.1f}"
        sram = "-" if r["peak_sram_bytes"] is None else f"{r['peak_sram_bytes'] / 1024:,.1f}"
        lat = "-" if r["latency_ms"] is None else f"{r['latency_ms']:,.1f}"
        out.print(f"{i:>4} {r['index']:>5} {r['status']:<10} {acc:>6} {test:>6} {flash:>9} {sram:>8} {lat:>8} "
                  f"{r['proposer']}", highlight=False, soft_wrap=True)
        why = ""
        if r.get("violations"):
            why = "  (over: " + ", ".join(str(v.get("resource", "?")) for v in r["violations"]
                                          if isinstance(v, dict)) + ")"
        out.print(f"     {r['arch']}{why}", highlight=False, soft_wrap=True)
    if page < pages:
        out.print(f"next page: automcu show {job_id} --candidates --limit {limit} --page {page + 1}"
                  f"{'' if sort == 'acc' else ' --sort ' + sort}", highlight=False, soft_wrap=True)
    out.print("Flash and SRAM are totals (model/arena + the board's runtime); `--json` gives the split",
              highlight=False, soft_wrap=True)

"""`automcu boards`: the board catalog with its limits.

Reading the catalog validates every board file with pydantic (and parses YAML): ~0.2 s of CPU at start-up,
for a list that changes only when a board file or the catalog's code does. The validated listing is kept in
``<data dir>/cache/boards.json`` under a key of those files' paths, sizes and modification times (packaged and
``AUTOMCU_BOARDS_DIR`` boards, ``spec.py``/``catalog.py``/``core_names.py``, the Python version); a run whose
key matches prints from it without importing either. A missing, unreadable or stale cache, or an unusual
environment, reads the catalog as before (and refreshes the cache when the data dir is writable).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from automcu.cli.common import emit_json, guarded

CODE_FILES = ("spec.py", "catalog.py", "core_names.py")  # what shapes a validated board, in automcu/hardware


def _cache_file() -> Path | None:
    from automcu.core.quick_settings import quick_settings

    quick = quick_settings()
    return None if quick is None else quick.data_dir / "cache" / "boards.json"


def cache_key() -> list[Any]:
    """The board files and the catalog's code, each as [path, size, mtime_ns], plus the Python version."""
    from automcu.hardware.board_files import BOARDS_ENV, package_board_files, user_board_files

    code = Path(__file__).resolve().parents[1] / "hardware"
    key: list[Any] = [sys.version, os.environ.get(BOARDS_ENV, "")]
    for path in [*package_board_files(), *user_board_files(), *(code / name for name in CODE_FILES)]:
        st = path.stat()
        key.append([str(path), st.st_size, st.st_mtime_ns])
    return key


def _cached(path: Path | None, key: list[Any]) -> list[dict[str, Any]] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("boards"), list):
        return None
    return data["boards"]


def _store(path: Path | None, key: list[Any], boards: list[dict[str, Any]]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key, "boards": boards}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only data dir: no cache, same output


def board_dicts() -> list[dict[str, Any]]:
    """Every board as ``HardwareSpec.model_dump()``, sorted by name: from the cache when it is current."""
    path = _cache_file()
    try:
        key: list[Any] | None = cache_key()
    except OSError:  # a file went away while listing: read the catalog, cache nothing
        key, path = None, None
    boards = _cached(path, key) if key is not None else None
    if boards is not None:
        return boards
    from automcu.hardware.catalog import list_boards

    boards = [s.model_dump() for s in list_boards()]
    if key is not None:
        _store(path, key, boards)
    return boards


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def boards(
        json_out: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
    ) -> None:
        """List the known boards with their memory and clock.

        The packaged catalog plus the board files in AUTOMCU_BOARDS_DIR.
        """
        specs = board_dicts()
        if json_out:
            emit_json(specs)
            return
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Boards (KB; rt = the TFLM runtime's code / RAM)",
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        # name and core are what a user types next (--board, --core): never cut; the vendor folds
        for col, justify, cut in (("name", "left", False), ("core", "left", False), ("MHz", "right", False),
                                  ("SRAM", "right", False), ("Flash", "right", False),
                                  ("rt code", "right", False), ("rt RAM", "right", False),
                                  ("vendor", "left", True)):
            table.add_column(col, justify=justify, no_wrap=not cut, overflow="fold")  # type: ignore[arg-type]
        for s in specs:
            table.add_row(s["name"], s["core"], f"{s['clock_mhz']:g}", f"{s['sram_kb']:g}", f"{s['flash_kb']:g}",
                          f"{s['runtime_flash_kb']:g}", f"{s['runtime_sram_kb']:g}", s["vendor"])
        Console().print(table)
        Console().print("[dim]SRAM = usable contiguous arena memory; datasheets: automcu boards --json "
                        "(field 'datasheet')[/]")

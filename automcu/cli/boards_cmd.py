"""`automcu boards`: the board catalog with its limits."""

from __future__ import annotations

from typing import Annotated

import typer

from automcu.cli.common import emit_json, guarded


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def boards(
        json_out: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
    ) -> None:
        """List the known boards with their memory and clock.

        The packaged catalog plus the board files in AUTOMCU_BOARDS_DIR.
        """
        from automcu.hardware.catalog import list_boards

        specs = list_boards()
        if json_out:
            emit_json([s.model_dump() for s in specs])
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
            table.add_row(s.name, s.core, f"{s.clock_mhz:g}", f"{s.sram_kb:g}", f"{s.flash_kb:g}",
                          f"{s.runtime_flash_kb:g}", f"{s.runtime_sram_kb:g}", s.vendor)
        Console().print(table)
        Console().print("[dim]SRAM = usable contiguous arena memory; datasheets: automcu boards --json "
                        "(field 'datasheet')[/]")

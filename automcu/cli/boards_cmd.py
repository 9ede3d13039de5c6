"""`automcu boards`: the board catalog with its limits."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from automcu.cli.common import emit_json, guarded


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def boards(
        json_out: Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")] = False,
    ) -> None:
        """List the known boards (packaged + AUTOMCU_BOARDS_DIR) with their memory and clock."""
        from automcu.hardware.catalog import list_boards

        specs = list_boards()
        if json_out:
            emit_json([s.model_dump() for s in specs])
            return
        table = Table(title="Boards (SRAM = usable contiguous arena memory)")
        for col, justify in (("name", "left"), ("core", "left"), ("MHz", "right"), ("SRAM KB", "right"),
                             ("Flash KB", "right"), ("runtime code KB", "right"), ("runtime SRAM KB", "right"),
                             ("vendor", "left")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for s in specs:
            table.add_row(s.name, s.core, f"{s.clock_mhz:g}", f"{s.sram_kb:g}", f"{s.flash_kb:g}",
                          f"{s.runtime_flash_kb:g}", f"{s.runtime_sram_kb:g}", s.vendor)
        Console().print(table)
        Console().print("[dim]datasheets: automcu boards --json (field 'datasheet')[/]")

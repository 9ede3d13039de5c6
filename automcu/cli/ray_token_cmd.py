"""`automcu ray-token PATH`: make the Ray cluster's auth token file (once) and say how to share it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from automcu.cli.common import UserError, emit_json, guarded


def register(app: typer.Typer) -> None:
    @app.command("ray-token")
    @guarded
    def ray_token(
        path: Annotated[Path, typer.Argument(help="token file to create (kept if it already holds a token)")],
        json_out: Annotated[bool, typer.Option("--json", help="print {path, created} on stdout")] = False,
    ) -> None:
        """Create a Ray auth token file (for RAY_AUTH_MODE=token).

        The head, the Ray workers and the automcu workers all point RAY_AUTH_TOKEN_PATH at the same file
        (or a copy of it).
        """
        from automcu.executors.ray_auth import ensure_token_file

        target = path.expanduser().resolve()
        try:
            created = ensure_token_file(target)
        except OSError as exc:
            raise UserError(f"cannot write the token file {target}: {exc.strerror}") from None
        if json_out:
            emit_json({"path": str(target), "created": created})
            return
        typer.echo(f"{'created' if created else 'kept the existing'} Ray auth token {target}; on the head and on "
                   f"every worker: export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH={target}", err=True)

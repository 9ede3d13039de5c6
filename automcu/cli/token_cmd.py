"""`automcu token create|list|revoke`: per-user API tokens (stored as SHA-256 hashes)."""

from __future__ import annotations

from typing import Annotated

import typer

from automcu.cli.common import UserError, emit_json, guarded, open_db
from automcu.cli.render import out

DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: per-user SQLite)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]

token_app = typer.Typer(help="API tokens for the REST API and dashboard.", no_args_is_help=True,
                        rich_markup_mode=None)


@token_app.command("create")
@guarded
def create(
    name: Annotated[str, typer.Argument(help="who the token is for; its jobs are owned by this name")],
    admin: Annotated[bool, typer.Option("--admin", help="sees every user's jobs")] = False,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a token. It is printed once and stored only as a hash: keep it."""
    from api.core.security import TokenError, create_token

    try:
        token = create_token(open_db(db), name, admin=admin)
    except TokenError as exc:
        raise UserError(str(exc)) from None
    if json_out:
        emit_json({"name": name.strip(), "token": token, "admin": admin})
    else:
        out.print(f"token for {name.strip()}{' (admin)' if admin else ''}, shown once:", highlight=False)
        out.print(token, highlight=False, soft_wrap=True)


@token_app.command("list")
@guarded
def list_(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Token names (never the tokens)."""
    from api.core.security import list_tokens

    rows = [{"name": t.name, "admin": t.admin, "created_at": t.created_at} for t in list_tokens(open_db(db))]
    if json_out:
        emit_json(rows)
    else:
        for r in rows:
            out.print(f"{r['name']}{'  (admin)' if r['admin'] else ''}  created {r['created_at']:%Y-%m-%d %H:%M}",
                      highlight=False)
        out.print(f"{len(rows)} token(s)")


@token_app.command("revoke")
@guarded
def revoke(name: Annotated[str, typer.Argument(help="the token's name")], db: DbOpt = None,
           json_out: JsonOpt = False) -> None:
    """Delete a token; requests with it get 401 from then on."""
    from api.core.security import TokenError, revoke_token

    try:
        revoke_token(open_db(db), name)
    except TokenError as exc:
        raise UserError(str(exc)) from None
    if json_out:
        emit_json({"name": name, "revoked": True})
    else:
        out.print(f"revoked {name}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")

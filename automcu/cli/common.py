"""Shared CLI helpers: JSON output, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from pydantic import ValidationError

    from automcu.storage.db import Database
    from automcu.storage.models import Job

console = Console(stderr=True)
T = TypeVar("T")


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 2."""


def fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected errors into a one-line message and a non-zero exit, never a traceback."""
    from pydantic import ValidationError

    from search_spaces.nb201.space import ArchError

    try:
        yield
    except (UserError, ArchError, FileNotFoundError, PermissionError) as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail(f"invalid input: {validation_message(exc, flags=True)}")


def _positive_rule(err: Any) -> bool:
    """A bound that means "positive": ``> 0`` (numbers) or ``>= 1`` (counts)."""
    ctx = err.get("ctx") or {}
    return (err.get("type") == "greater_than" and ctx.get("gt") == 0) or \
        (err.get("type") == "greater_than_equal" and ctx.get("ge") == 1)


#: Spec fields whose CLI flag is not ``--`` + the field name with dashes.
FLAG_OF: dict[str, str] = {"data_path": "--data"}


def validation_message(exc: ValidationError, flags: bool = False) -> str:
    """Pydantic errors in the CLI's wording: ``--sram-kb must be a positive number, got 0.0`` (``flags``) or
    ``sram_kb must be a positive number, got 0.0`` (file fields); other errors as ``field: message``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p != "hardware")
        if not loc:  # a rule over several fields: its message says which
            parts.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        name = FLAG_OF.get(loc, f"--{loc.replace('_', '-')}") if flags and "." not in loc else loc
        if _positive_rule(err):
            parts.append(f"{name} must be a positive number, got {err.get('input')}")
        else:
            parts.append(f"{name}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def positive(value: float | None, flag: str) -> None:
    """The one wording of the rule across the CLI: ``--flag must be a positive number, got V``."""
    if value is not None and not value > 0:
        raise UserError(f"{flag} must be a positive number, got {value}")


def open_db(url: str | None) -> Database:
    """The database (schema made or upgraded); a bad URL or unwritable file is a one-line error."""
    from automcu.storage.db import StorageError, open_database

    try:
        return open_database(url)
    except StorageError as exc:
        raise UserError(str(exc)) from None


def resolve_job(db: Database, ref: str) -> Job:
    """The job named by its full id or by a prefix unique in the database (``automcu jobs`` lists the ids).
    An unknown id or an ambiguous prefix is a :class:`UserError` (exit 2) naming the choices."""
    from sqlalchemy import select

    from automcu.storage.models import Job

    text = ref.strip()
    if not text:
        raise UserError("the job id is empty (see `automcu jobs`)")
    with db.read_session() as s:
        exact = s.get(Job, text)
        if exact is not None:
            return exact
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = list(s.scalars(select(Job).where(Job.id.like(f"{escaped}%", escape="\\"))
                                 .order_by(Job.created_at.desc()).limit(6)))
    if not matches:
        raise UserError(f"no job {text!r} (see `automcu jobs`)")
    if len(matches) > 1:
        shown = ", ".join(j.id for j in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise UserError(f"job id prefix {text!r} is ambiguous: it matches {shown}; give more characters")
    return matches[0]


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.flush()


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of :func:`user_errors` for command functions."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with user_errors():
            return fn(*args, **kwargs)

    return wrapper


def check_arch_index(arch: str | None) -> None:
    """A negative number given as ``--arch`` is an index out of range, not a malformed arch string."""
    if arch is not None and arch.strip().startswith("-") and arch.strip()[1:].isdigit():
        raise UserError(f"--arch {arch.strip()} is out of range: an arch index is 0..15624 (or give an arch string)")

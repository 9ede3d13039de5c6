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
    from automcu.storage.sqlite_reads import Reader

console = Console(stderr=True)
T = TypeVar("T")


class UserError(Exception):
    """An error caused by the user's input; printed as one line, exit code 2."""


def fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected errors into a one-line message and a non-zero exit, never a traceback.

    pydantic's ``ValidationError`` and the arch parser's ``ArchError`` are recognised without importing their
    modules: when a module is not loaded, nothing raised its error (start-up time of the read commands)."""
    try:
        yield
    except (UserError, FileNotFoundError, PermissionError) as exc:
        fail(str(exc))
    except Exception as exc:
        space = sys.modules.get("search_spaces.nb201.cell")  # where ArchError is defined
        if space is not None and isinstance(exc, space.ArchError):
            fail(str(exc))
        core = sys.modules.get("pydantic_core")
        if core is not None and isinstance(exc, core.ValidationError):
            fail(f"invalid input: {validation_message(exc, flags=True)}")
        raise


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

    text = job_ref(ref)
    with db.read_session() as s:
        exact = s.get(Job, text)
        if exact is not None:
            return exact
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = list(s.scalars(select(Job).where(Job.id.like(f"{escaped}%", escape="\\"))
                                 .order_by(Job.created_at.desc()).limit(6)))
    return only_match(text, matches)


def job_ref(ref: str) -> str:
    """A JOB_ID argument stripped; an empty one is a :class:`UserError`."""
    text = ref.strip()
    if not text:
        raise UserError("the job id is empty (see `automcu jobs`)")
    return text


def only_match(text: str, matches: list[Any]) -> Any:
    """The one job an id prefix matched (``matches``: up to 6, newest first, with an ``id``), else a
    :class:`UserError` saying there is none or naming the choices."""
    if not matches:
        raise UserError(f"no job {text!r} (see `automcu jobs`)")
    if len(matches) > 1:
        shown = ", ".join(j.id for j in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise UserError(f"job id prefix {text!r} is ambiguous: it matches {shown}; give more characters")
    return matches[0]


def fast_reader(url: str | None) -> Reader | None:
    """The stdlib-sqlite3 reader of ``--db`` (default: the settings' database) when it applies (a SQLite file
    at the newest schema: ``automcu.storage.sqlite_reads``); None: take :func:`open_db` (SQLAlchemy)."""
    from automcu.storage.sqlite_reads import open_reader

    return open_reader(url or settings_values()[0])


def settings_values() -> tuple[str, float]:
    """``(database_url, lease_seconds)`` of the settings; from the environment alone when it is plain
    (``automcu.core.quick_settings``: no pydantic-settings import), else from ``get_settings()``."""
    from automcu.core.quick_settings import quick_settings

    quick = quick_settings()
    if quick is not None:
        return quick.database_url, quick.lease_seconds
    from automcu.core.config import get_settings

    settings = get_settings()
    return settings.database_url, settings.lease_seconds


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

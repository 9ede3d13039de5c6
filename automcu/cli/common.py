"""Shared CLI helpers: JSON output, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

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
        errs = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        fail(f"invalid input: {errs}")


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

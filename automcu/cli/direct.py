"""Run ``jobs``, ``show`` and ``boards`` without Typer's argument parsing when their arguments are simple.

Typer 0.29 coerces every parameter through a pydantic ``TypeAdapter`` (its ``--help`` option included), so any
command run through it imports pydantic first: ~0.1 s of CPU, a third of these read commands' start-up. Their
arguments are few, so :func:`parse` reads the plain forms itself: the command first, its flags (``--json``),
options with a separate value (``--db URL``, ``--limit 5``), each at most once, and the positional JOB_ID.
Anything else (``--opt=value``, ``--verbose``, ``--help``, a value starting with ``-``, a count that is not a
plain positive number, an unknown or repeated option) answers None and Typer parses the command as before,
errors and help included. The command run is the same function Typer would call, with the same values (an
omitted option takes the function's default, as Typer does), so the output is the same byte for byte;
``tests/test_cli_fast_reads.py`` checks that every option named here is the command's.
"""

from __future__ import annotations

import errno
import inspect
import re
import sys
from typing import Any, NoReturn

import typer

#: command -> (its positional parameters, in order; option -> (parameter, kind: "flag" | "text" | "count"))
SIMPLE: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, str]]]] = {
    "jobs": ((), {"--json": ("json_out", "flag"), "--db": ("db", "text"), "--limit": ("limit", "count")}),
    "show": (("job_id",), {"--json": ("json_out", "flag"), "--db": ("db", "text"),
                           "--candidates": ("candidates", "flag"), "--limit": ("limit", "count"),
                           "--page": ("page", "count"), "--sort": ("sort", "text")}),
    "boards": ((), {"--json": ("json_out", "flag")}),
}
_COUNT = re.compile(r"[1-9][0-9]{0,8}")


def parse(args: list[str]) -> tuple[str, dict[str, Any]] | None:
    """``(command, keyword arguments)`` when ``args`` is a simple form of a :data:`SIMPLE` command, else None."""
    if not args or args[0] not in SIMPLE:
        return None
    command, rest = args[0], args[1:]
    positional, options = SIMPLE[command]
    kwargs: dict[str, Any] = {}
    given: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg.startswith("-"):
            if arg not in options:
                return None
            param, kind = options[arg]
            if param in kwargs:
                return None
            if kind == "flag":
                kwargs[param] = True
                i += 1
                continue
            if i + 1 >= len(rest) or rest[i + 1].startswith("-"):
                return None
            value = rest[i + 1]
            if kind == "count":
                if _COUNT.fullmatch(value) is None:
                    return None
                kwargs[param] = int(value)
            else:
                kwargs[param] = value
            i += 2
            continue
        given.append(arg)
        i += 1
    if len(given) != len(positional):
        return None
    kwargs.update(zip(positional, given, strict=True))
    return command, kwargs


def command_function(app: typer.Typer, command: str) -> Any:
    """The function registered on ``app`` as ``command`` (what Typer calls)."""
    for info in app.registered_commands:
        if info.callback is not None and (info.name or info.callback.__name__.replace("_", "-")) == command:
            return info.callback
    raise LookupError(command)


def run(app: typer.Typer, command: str, kwargs: dict[str, Any]) -> NoReturn:
    """Call the command as Typer's standalone mode does: exit 0 after it, ``typer.Exit`` -> its code, a
    closed pipe -> 1 quietly, Ctrl-C -> 130."""
    fn = command_function(app, command)
    params = inspect.signature(fn).parameters
    if not set(kwargs) <= set(params):
        raise LookupError(f"{command}: no parameter {sorted(set(kwargs) - set(params))}")
    try:
        fn(**kwargs)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        from typer._click.utils import PacifyFlushWrapper

        sys.stdout = PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
        sys.stderr = PacifyFlushWrapper(sys.stderr)  # type: ignore[assignment]
        sys.exit(1)
    sys.exit(0)


__all__ = ["SIMPLE", "command_function", "parse", "run"]

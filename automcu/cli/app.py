"""The ``automcu`` Typer app. Each command lives in its own module with a ``register(app)``.

``main()`` imports only the module of the command being run (start-up time); ``app`` (the attribute,
used by tests and documentation tools) has every command registered.
"""

from __future__ import annotations

import importlib
import sys
from functools import lru_cache
from typing import Any

import typer

#: Command modules under automcu.cli, each exposing ``register(app)``.
COMMAND_MODULES: list[str] = [
    "search_cmd",
    "batch_cmd",
    "jobs_cmd",
    "serve_cmd",
    "worker_cmd",
    "ray_token_cmd",
    "token_cmd",
    "verify_cmd",
    "boards_cmd",
    "estimate_cmd",
    "compress_cmd",
]

#: Command name -> the module that registers it (so one command's run imports one module).
COMMAND_OF: dict[str, str] = {
    "search": "search_cmd", "batch": "batch_cmd", "jobs": "jobs_cmd", "show": "jobs_cmd", "resume": "jobs_cmd",
    "cancel": "jobs_cmd", "serve": "serve_cmd", "worker": "worker_cmd", "ray-token": "ray_token_cmd",
    "token": "token_cmd", "verify": "verify_cmd", "boards": "boards_cmd", "estimate": "estimate_cmd",
    "compress": "compress_cmd",
}


def build_app(modules: list[str]) -> typer.Typer:
    """A Typer app with the commands of ``modules``; always a command group, even with one module."""
    new = typer.Typer(
        name="automcu",
        help="Feasibility-first neural architecture search for microcontrollers.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @new.callback()
    def _group() -> None:
        """Feasibility-first neural architecture search for microcontrollers."""

    for name in modules:
        importlib.import_module(f"automcu.cli.{name}").register(new)
    return new


@lru_cache(maxsize=1)
def full_app() -> typer.Typer:
    return build_app(COMMAND_MODULES)


def __getattr__(name: str) -> Any:
    if name == "app":
        return full_app()
    raise AttributeError(name)


def main() -> None:
    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    module = COMMAND_OF.get(words[0]) if words else None
    (build_app([module]) if module else full_app())()


if __name__ == "__main__":
    main()

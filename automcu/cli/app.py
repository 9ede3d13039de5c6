"""The ``automcu`` Typer app. Each command lives in its own module with a ``register(app)``."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="automcu",
    help="Feasibility-first neural architecture search for microcontrollers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"automcu.cli.{name}").register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()

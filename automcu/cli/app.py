"""The ``automcu`` Typer app. Each command lives in its own module with a ``register(app)``.

``main()`` imports only the module of the command being run (start-up time): ``automcu --help`` (or no
command) builds a stand-in app from :data:`COMMAND_HELP` without importing any command module; ``app``
(the attribute, used by tests and documentation tools) has every command registered.
"""

from __future__ import annotations

import importlib
import sys
from functools import lru_cache
from typing import Annotated, Any

import typer

from automcu.cli import noise

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

#: The one-line help of every command, in the order ``automcu --help`` lists them (groups last). A test
#: checks that the stand-in help equals the full app's, so these cannot drift from the docstrings.
COMMAND_HELP: dict[str, str] = {
    "search": "Search for the most accurate network that fits the target.",
    "batch": "Run many searches from a YAML or JSON list, one after another.",
    "jobs": "List jobs, newest first.",
    "show": "One job: spec, status, best candidate; --candidates lists them.",
    "resume": "Finish a job whose process died (or that failed).",
    "cancel": "Ask a queued or running job to stop.",
    "serve": "Serve the REST API and dashboard; jobs run in worker processes.",
    "worker": "Run queued jobs (and those whose worker died) from a database.",
    "ray-token": "Create a Ray auth token file (for RAY_AUTH_MODE=token).",
    "verify": "Measure a model's TFLM arena and Flash, and whether it fits.",
    "boards": "List the known boards with their memory and clock.",
    "estimate": "Estimate int8 Flash, peak SRAM and latency of an arch.",
    "compress": "Train, distil, quantize and export a network for a board.",
    "token": "API tokens for the REST API and dashboard.",
}
GROUPS = ("token",)
APP_HELP = "Feasibility-first neural architecture search for microcontrollers."
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", help="show third-party log lines and warnings (TensorFlow, absl, torch), hidden by default; "
                      "may also follow the command")]


def _new_app() -> typer.Typer:
    # plain (click) help and usage errors: typer's rich formatter alone costs ~0.2-0.3 s of start-up
    # (rich.markdown, markdown_it), and plain text fits any terminal or log
    new = typer.Typer(name="automcu", help=APP_HELP, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, rich_markup_mode=None)

    @new.callback()
    def _group(verbose: VerboseOpt = False) -> None:
        """Feasibility-first neural architecture search for microcontrollers."""
        noise.configure(verbose)

    return new


def build_app(modules: list[str]) -> typer.Typer:
    """A Typer app with the commands of ``modules``; always a command group, even with one module."""
    new = _new_app()
    for name in modules:
        importlib.import_module(f"automcu.cli.{name}").register(new)
    return new


def help_app() -> typer.Typer:
    """A stand-in app for ``automcu --help``: every command's name and help, no command module imported."""
    new = _new_app()
    for name, text in COMMAND_HELP.items():
        if name in GROUPS:
            new.add_typer(typer.Typer(), name=name, help=text)
        else:
            new.command(name, help=text)(lambda: None)
    return new


@lru_cache(maxsize=1)
def full_app() -> typer.Typer:
    return build_app(COMMAND_MODULES)


def __getattr__(name: str) -> Any:
    if name == "app":
        return full_app()
    raise AttributeError(name)


def _argv(args: list[str]) -> list[str]:
    """``--verbose`` anywhere before ``--`` moves to the front, where the group option reads it."""
    head, sep, tail = (args[:args.index("--")], ["--"], args[args.index("--") + 1:]) if "--" in args \
        else (args, [], [])
    if "--verbose" not in head:
        return args
    return ["--verbose", *[a for a in head if a != "--verbose"], *sep, *tail]


def main() -> None:
    args = _argv(sys.argv[1:])
    noise.configure("--verbose" in args[:1])
    words = [a for a in args if not a.startswith("-")]
    module = COMMAND_OF.get(words[0]) if words else None
    if module:
        from automcu.cli import direct

        simple = direct.parse(args)  # jobs/show/boards with plain arguments: no Typer parsing (start-up time)
        if simple is not None:
            direct.run(build_app([module]), *simple)
    (build_app([module]) if module else help_app())(args=args, prog_name="automcu")


if __name__ == "__main__":
    main()

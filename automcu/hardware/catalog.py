"""Board catalog: one YAML file per board, in the package and in user folders.

Boards ship as data (``automcu/hardware/boards/*.yaml``); a user adds one by passing the path of
a YAML file wherever a board name is accepted, or by pointing ``AUTOMCU_BOARDS_DIR`` at a folder
of them (``os.pathsep``-separated for several). A custom spec (SRAM, Flash, clock, core) works the
same way through :func:`resolve_hardware`.
"""

from __future__ import annotations

import difflib
import os
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from automcu.hardware.board_files import BOARDS_ENV, package_board_files, user_board_files
from automcu.hardware.core_names import canonical_core
from automcu.hardware.spec import HardwareSpec

#: Cores the cycle model knows (``automcu.hardware.cycles``); a custom spec must name one.
KNOWN_CORES: tuple[str, ...] = (
    "cortex-m0plus",
    "cortex-m4f",
    "cortex-m7",
    "cortex-m33",
    "cortex-m55",
    "xtensa-lx7",
)


class UnknownBoardError(ValueError):
    """A board name that is neither in the catalog nor a readable board file."""


class BoardFileError(ValueError):
    """A board YAML file that cannot be read or does not describe a board."""


_package_board_files = package_board_files
_user_board_files = user_board_files


def load_board_file(path: str | Path) -> HardwareSpec:
    """Read one board YAML file into a :class:`HardwareSpec`."""
    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BoardFileError(f"cannot read board file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise BoardFileError(f"board file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise BoardFileError(f"board file {path} must hold a mapping of fields (name, core, clock_mhz, ...)")
    data.setdefault("name", path.stem)
    try:
        spec = HardwareSpec(**data)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise BoardFileError(f"board file {path}: {errs}") from exc
    try:
        return spec.model_copy(update={"core": _check_core(spec.core, where=f"board file {path}")})
    except ValueError as exc:
        raise BoardFileError(str(exc)) from exc


@lru_cache(maxsize=8)
def _catalog(user_dirs: str) -> dict[str, HardwareSpec]:
    boards: dict[str, HardwareSpec] = {}
    for path in [*_package_board_files(), *_user_board_files()]:
        spec = load_board_file(path)
        boards[spec.name.lower()] = spec  # a user file of the same name overrides the packaged one
    return boards


def _boards() -> dict[str, HardwareSpec]:
    return _catalog(os.environ.get(BOARDS_ENV, ""))


def list_boards() -> list[HardwareSpec]:
    """Every known board (packaged and from ``AUTOMCU_BOARDS_DIR``), sorted by name."""
    return sorted(_boards().values(), key=lambda b: b.name.lower())


def _normalize(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def get_board(name: str, board_files: bool = True) -> HardwareSpec:
    """A board by name (case-insensitive; ``-``/``_`` ignored) or by the path of a YAML board file.

    ``board_files=False`` (a server): catalog names only. Anything else, a path or not, existing or
    not, gets the same "unknown board" error and no file is opened.
    """
    key = name.strip()
    if not key:
        raise UnknownBoardError("empty board name; known boards: " + ", ".join(b.name for b in list_boards()))
    path_like = os.sep in key or "/" in key or "\\" in key or ".." in key
    boards = {} if path_like and not board_files else _boards()
    if key.lower() in boards:
        return boards[key.lower()].model_copy()
    by_norm = {_normalize(k): v for k, v in boards.items()}
    if _normalize(key) in by_norm:
        return by_norm[_normalize(key)].model_copy()
    if board_files and (key.endswith((".yaml", ".yml")) or os.sep in key or "/" in key):
        if Path(key).expanduser().is_file():
            return load_board_file(key)
        raise UnknownBoardError(f"board file {key} does not exist")
    names = [b.name for b in list_boards()]
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5) or difflib.get_close_matches(
        _normalize(key), [_normalize(n) for n in names], n=3, cutoff=0.5
    )
    hint = f" Did you mean {', '.join(close)}?" if close and not path_like else ""
    other = ("or pass the path of a board YAML file, or --sram-kb/--flash-kb/--clock-mhz/--core" if board_files
             else "a board is a catalog name, see GET /boards, or give --sram-kb/--flash-kb/--clock-mhz/--core")
    raise UnknownBoardError(f"unknown board {name!r}.{hint} Known boards: {', '.join(names)} ({other})")


def _check_core(core: str, where: str) -> str:
    return canonical_core(core, where=where)


def _check_positive(label: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{label} must be a positive number, got {value}")


def resolve_hardware(
    board: str | None = None,
    sram_kb: float | None = None,
    flash_kb: float | None = None,
    clock_mhz: float | None = None,
    core: str | None = None,
    board_files: bool = True,
) -> HardwareSpec | None:
    """The hardware a command targets, or ``None`` when nothing is given (unconstrained).

    A board name/file alone gives that board; numbers given with a board override its fields;
    without a board, a custom spec needs all of ``sram_kb``, ``flash_kb``, ``clock_mhz`` and ``core``.
    ``board_files=False`` accepts catalog names only (see :func:`get_board`).
    """
    for label, value in (("--sram-kb", sram_kb), ("--flash-kb", flash_kb), ("--clock-mhz", clock_mhz)):
        _check_positive(label, value)
    if core is not None:
        core = _check_core(core, where="--core")
    overrides = {
        k: v
        for k, v in (("sram_kb", sram_kb), ("flash_kb", flash_kb), ("clock_mhz", clock_mhz), ("core", core))
        if v is not None
    }
    if board is not None and board.strip():
        spec = get_board(board, board_files=board_files)
        if overrides:
            spec = spec.model_copy(update=overrides)
            spec.notes = (spec.notes + " " if spec.notes else "") + "overridden: " + ", ".join(sorted(overrides))
        return spec
    if not overrides:
        return None
    missing = [flag for flag, key in (("--sram-kb", "sram_kb"), ("--flash-kb", "flash_kb"),
                                      ("--clock-mhz", "clock_mhz"), ("--core", "core")) if key not in overrides]
    if missing:
        raise ValueError(
            "a custom hardware spec needs --sram-kb, --flash-kb, --clock-mhz and --core; missing "
            + ", ".join(missing) + " (or give --board)"
        )
    return HardwareSpec(name="custom", **overrides)

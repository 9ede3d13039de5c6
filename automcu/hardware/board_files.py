"""Where board YAML files are: the packaged catalog and the folders of ``AUTOMCU_BOARDS_DIR``.

Standard library only, so a caller can list (and stat) the files without importing the YAML parser or
pydantic (``automcu boards`` checks its cached listing this way); ``automcu.hardware.catalog`` reads them.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

BOARDS_ENV = "AUTOMCU_BOARDS_DIR"


def package_board_files() -> list[Path]:
    root = Path(str(resources.files("automcu.hardware") / "boards"))
    return sorted(root.glob("*.yaml"))


def user_board_files() -> list[Path]:
    value = os.environ.get(BOARDS_ENV, "").strip()
    files: list[Path] = []
    for part in filter(None, value.split(os.pathsep)):
        folder = Path(part).expanduser()
        if folder.is_dir():
            files.extend(sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]))
    return files


__all__ = ["BOARDS_ENV", "package_board_files", "user_board_files"]

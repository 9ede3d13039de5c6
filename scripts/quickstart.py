#!/usr/bin/env python3
"""Set up a local virtualenv and run AutoMCU. Needs only python3 on PATH.

    python3 scripts/quickstart.py search [automcu search flags]   # core install (no torch), default search
    python3 scripts/quickstart.py test   [pytest args]            # every extra + test deps, ruff, whole suite

The virtualenv is ``.venv`` at the repository root; re-running reuses it (installs are idempotent).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
TORCH = "torch==2.13.0"  # the CPU build; an unpinned torch pulls a multi-GB CUDA build


def sh(*cmd: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check, env=env).returncode


def ensure_venv() -> None:
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
        sh(PY, "-m", "pip", "install", "-q", "--upgrade", "pip")


def pip(*args: str) -> None:
    sh(PY, "-m", "pip", "install", "-q", *args)


def system_packages() -> None:
    """Debian packages the full suite uses (Chromium for the dashboard test, PostgreSQL for storage tests,
    the docker-compose client to validate docker-compose.yml, Fashion-MNIST's IDX files for the real-data
    end-to-end test; no Docker engine is needed)."""
    wanted = {"chromium": "/usr/bin/chromium", "postgresql": "/usr/lib/postgresql",
              "docker-compose": "/usr/bin/docker-compose",
              "dataset-fashion-mnist": "/usr/share/datasets/fashion-mnist"}
    missing = [pkg for pkg, path in wanted.items() if not Path(path).exists()]
    if not missing or not shutil.which("apt-get"):
        return
    if os.geteuid() != 0:
        print(f"note: install {' '.join(missing)} with apt-get for the browser/PostgreSQL/IDX tests", file=sys.stderr)
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sh("apt-get", "update", "-qq", check=False, env=env)
    sh("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, check=False, env=env)


def cmd_search(args: list[str]) -> int:
    ensure_venv()
    pip("-e", ".")
    if not args:
        args = ["--dataset", "cifar10", "--board", "STM32F411", "--max-latency-ms", "300", "--budget", "100",
                "--seed", "0"]
    return sh(BIN / "automcu", "search", *args, check=False)


def cmd_test(args: list[str]) -> int:
    ensure_venv()
    pip(TORCH)
    pip("-e", ".[train,tflite,benchmarks,api-test,dev,ray,postgres]")
    system_packages()
    if sh(BIN / "ruff", "check", "--no-cache", ".", check=False) != 0:
        return 1
    # every component the suite uses is installed above: a test skipped for a missing one fails instead
    env = {**os.environ, "AUTOMCU_STRICT_SKIPS": "1"}
    return sh(PY, "-m", "pytest", "-q", "-ra", *args, check=False, env=env)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("search", "test"):
        print(__doc__, file=sys.stderr)
        return 2
    return {"search": cmd_search, "test": cmd_test}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

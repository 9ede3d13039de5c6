"""Shared fixtures: an isolated data dir and SQLite database per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own AUTOMCU data dir; no LLM endpoint unless the test sets one."""
    from automcu.core.config import get_settings

    monkeypatch.setenv("AUTOMCU_DATA_DIR", str(tmp_path / "data"))
    for var in ("AUTOMCU_DB_URL", "AUTOMCU_LLM_BASE_URL", "AUTOMCU_LLM_API_KEY", "AUTOMCU_LLM_MODEL",
                "AUTOMCU_VERBOSE"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def benchmark_module(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """Import a script of ``benchmarks/`` afresh, as when it runs: its folder on ``sys.path``."""
    import importlib
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))

    def load(name: str) -> Any:
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'automcu.db'}"


@pytest.fixture
def alice_api(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, str]]]:
    """The REST app on ``db_url`` (a TestClient, started) and the headers of a token for user ``alice``."""
    from fastapi.testclient import TestClient

    from api.core.security import create_token
    from api.main import create_app
    from automcu.core.config import get_settings
    from automcu.storage.db import open_database

    monkeypatch.setenv("AUTOMCU_DB_URL", db_url)
    get_settings.cache_clear()
    headers = {"Authorization": f"Bearer {create_token(open_database(db_url), 'alice')}"}
    with TestClient(create_app()) as client:
        yield client, headers


# ----- no silent skips in a full set-up ---------------------------------------------------------------
# `scripts/quickstart.py test` installs every extra and system package the suite uses and sets
# AUTOMCU_STRICT_SKIPS=1: a test skipped there for a missing component is a missing set-up step, so it fails.
# A skip for an optional external resource stays a skip; its reason starts with OPTIONAL.
OPTIONAL = "optional resource:"


def _strict_skips() -> bool:
    import os

    return os.environ.get("AUTOMCU_STRICT_SKIPS") == "1"


def _skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_unless_optional(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = _skip_reason(report.longrepr)
    if not reason.removeprefix("Skipped: ").startswith(OPTIONAL):
        report.outcome = "failed"
        report.longrepr = f"skipped in a full set-up (AUTOMCU_STRICT_SKIPS=1), a missing set-up step: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if _strict_skips() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_unless_optional(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if _strict_skips() and report.skipped:
        _fail_unless_optional(report)

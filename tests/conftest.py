"""Shared fixtures: an isolated data dir and SQLite database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own AUTOMCU data dir; no LLM endpoint unless the test sets one."""
    from automcu.config import get_settings

    monkeypatch.setenv("AUTOMCU_DATA_DIR", str(tmp_path / "data"))
    for var in ("AUTOMCU_DB_URL", "AUTOMCU_LLM_BASE_URL", "AUTOMCU_LLM_API_KEY", "AUTOMCU_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'automcu.db'}"

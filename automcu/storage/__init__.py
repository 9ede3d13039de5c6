"""Persistence: SQLAlchemy models and a small repository API. SQLite (WAL) by default, any URL.

The names below load on first use, so a submodule that needs no SQLAlchemy (``summaries``, ``sqlite_reads``,
``migrate``'s revision check) imports without it (the CLI's start-up time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automcu.storage.db import Database, open_database
    from automcu.storage.models import AgentMessage, Candidate, Event, Job

_HOME = {"Database": "db", "open_database": "db", "AgentMessage": "models", "Candidate": "models",
         "Event": "models", "Job": "models"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"automcu.storage.{_HOME[name]}"), name)
    raise AttributeError(f"module 'automcu.storage' has no attribute {name!r}")


__all__ = ["AgentMessage", "Candidate", "Database", "Event", "Job", "open_database"]

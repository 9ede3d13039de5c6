"""Read-only job and candidate rows of a SQLite database through the stdlib ``sqlite3``: the CLI's fast path.

``automcu jobs`` and ``automcu show`` start in a fraction of the time SQLAlchemy takes to import. They read
through here only when the database is a plain SQLite file that already exists, is writable (as the full path
requires) and whose schema is at the newest migration (``migrate.linear_head``, no Alembic); :func:`open_reader`
answers None otherwise (PostgreSQL, a URL with options, an old or unknown schema, no file yet) and the caller
takes the SQLAlchemy path, which creates or upgrades the database. Rows come back as :class:`Row` objects with
the ORM models' attribute names and values converted the way SQLAlchemy's SQLite types convert them
(``DATETIME`` by ``datetime.fromisoformat``, ``JSON`` by ``json.loads``, ``BOOLEAN`` to ``bool``), so the pure
helpers of ``automcu.storage.summaries`` give the same records. Anything unexpected while reading raises
:class:`FastReadUnavailable`, before the caller has printed anything, and the caller falls back.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

PLAIN_PREFIX = "sqlite:///"


class FastReadUnavailable(RuntimeError):
    """The fast path can't answer this read; take the SQLAlchemy path."""


class Row:
    """One row: every column an attribute, named as in ``automcu.storage.models``."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only for names the row lacks (typing: columns are dynamic)
        raise AttributeError(name)


def _loads(value: Any) -> Any:
    return None if value is None else json.loads(value)


def _datetime(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


#: declared column type (as the migrations write it) -> SQLAlchemy's SQLite result conversion
CONVERT: dict[str, Callable[[Any], Any]] = {"DATETIME": _datetime, "JSON": _loads, "BOOLEAN": _boolean}


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (no driver, options, escapes, ``~`` or memory); else None."""
    if not url.startswith(PLAIN_PREFIX):
        return None
    name = url[len(PLAIN_PREFIX):]
    if not name or name == ":memory:" or name.startswith(("file:", "~")) or any(ch in name for ch in "?#%"):
        return None
    return Path(name)


def open_reader(url: str) -> Reader | None:
    """A reader of the database at ``url`` when the fast path applies (see the module text); else None."""
    from automcu.storage.migrate import linear_head

    path = sqlite_file(url)
    if path is None or not path.is_file() or not os.access(path, os.W_OK):
        return None
    head = linear_head()
    if head is None:
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        if [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")] != [head]:
            conn.close()
            return None
        return Reader(conn)
    except (sqlite3.Error, FastReadUnavailable):
        conn.close()
        return None


class Reader:
    """Jobs and candidates as the repository reads them (same statements, same order), in one connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._columns: dict[str, list[tuple[str, Callable[[Any], Any] | None]]] = {}
        for table in ("jobs", "candidates"):
            cols = [(str(r[1]), CONVERT.get(str(r[2]).upper())) for r in conn.execute(f"PRAGMA table_info({table})")]
            if not cols:
                raise FastReadUnavailable(f"no table {table}")
            self._columns[table] = cols

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def _rows(self, table: str, where: str, params: tuple[Any, ...]) -> list[Row]:
        cols = self._columns[table]
        names = ", ".join(f'"{name}"' for name, _ in cols)
        try:
            cur = self.conn.execute(f"SELECT {names} FROM {table} {where}", params)
            return [Row({name: (conv(v) if conv is not None else v) for (name, conv), v in zip(cols, raw, strict=True)})
                    for raw in cur]
        except (sqlite3.Error, ValueError, TypeError) as exc:  # locked, malformed value: the full path decides
            raise FastReadUnavailable(str(exc)) from None

    def jobs(self, limit: int, offset: int = 0) -> tuple[list[Row], int]:
        """Newest first, and how many there are (``repository.list_jobs`` without an owner)."""
        rows = self._rows("jobs", "ORDER BY created_at DESC, id LIMIT ? OFFSET ?", (limit, offset))
        try:
            total = int(self.conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
        except sqlite3.Error as exc:
            raise FastReadUnavailable(str(exc)) from None
        return rows, total

    def job(self, job_id: str) -> Row | None:
        rows = self._rows("jobs", "WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def jobs_with_prefix(self, prefix: str, limit: int = 6) -> list[Row]:
        """Jobs whose id starts with ``prefix`` (SQL ``LIKE``, as ``cli.common.resolve_job``), newest first."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._rows("jobs", "WHERE id LIKE ? ESCAPE '\\' ORDER BY created_at DESC LIMIT ?",
                          (f"{escaped}%", limit))

    def candidates(self, job_id: str) -> list[Row]:
        """The job's candidates in id order (``repository.candidates_of``)."""
        return self._rows("candidates", "WHERE job_id = ? ORDER BY id", (job_id,))


__all__ = ["FastReadUnavailable", "Reader", "Row", "open_reader", "sqlite_file"]

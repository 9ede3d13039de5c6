"""Engine and sessions. SQLite gets WAL, a busy timeout and foreign keys; other URLs (PostgreSQL) pass through.

The schema is made and upgraded by Alembic migrations (``automcu.storage.migrate``), never by ``create_all``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker


class StorageError(RuntimeError):
    """The database can't be opened or written; the message says which and why."""


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _check_sqlite_writable(path: Path) -> None:
    parent = path.expanduser().resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create database folder {parent}: {exc.strerror or exc}") from None
    target = path if path.exists() else parent
    if not os.access(target, os.W_OK):
        raise StorageError(f"database path {path} is not writable")


class Database:
    """One engine + session factory for a URL."""

    def __init__(self, url: str) -> None:
        try:
            make_url(url)
        except ArgumentError:
            raise StorageError(f"not a database URL: {url!r} (e.g. sqlite:///path/automcu.db)") from None
        sqlite_path = _sqlite_path(url)
        if sqlite_path is not None:
            _check_sqlite_writable(sqlite_path)
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {"future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except Exception as exc:  # missing driver, bad options
            raise StorageError(f"cannot open database {url!r}: {exc}") from None
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        #: a plain session for reads (``with db.read_session() as s``); writes go through ``transaction()``
        self.read_session = sessionmaker(self.engine, expire_on_commit=False)

    def create_schema(self) -> list[str]:
        """Apply the schema migrations this database lacks (see ``automcu.storage.migrate``); the steps taken."""
        from automcu.storage.migrate import SchemaError, upgrade_to_head

        try:
            return upgrade_to_head(self.engine)
        except (OperationalError, ProgrammingError) as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StorageError(f"cannot open database {self.safe_url}: {first}") from None
        except SchemaError as exc:
            raise StorageError(f"database {self.safe_url}: {exc}") from None

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A short transaction: commit on success, roll back on error. For reads use ``read_session()``."""
        with self.read_session() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    # fewer, larger checkpoints: a page rewritten at every step (the job's row, index tails) is copied once each
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.execute("PRAGMA journal_size_limit=67108864")  # the WAL file is cut back to 64 MB after a checkpoint
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


_cache: dict[str, Database] = {}


def open_database(url: str | None = None) -> Database:
    """The database at ``url`` (default: settings), schema created; cached per URL."""
    from automcu.core.config import get_settings

    url = url or get_settings().database_url
    if url not in _cache:
        db = Database(url)
        db.create_schema()
        _cache[url] = db
    return _cache[url]

"""Schema management through Alembic: bring any AutoMCU database to the newest revision.

- A new database gets every revision in order (SQLite and PostgreSQL alike).
- A database made by ``create_all`` before migrations existed (tables, no ``alembic_version``) is
  stamped at the initial revision, whose schema it has, and upgraded from there.
- Several processes starting at once (API + workers) migrate one at a time: a transaction-scoped
  advisory lock on PostgreSQL, a lock file beside the database on SQLite; the others find it done.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Alembic is imported only when a database needs migrating (start-up time of the CLI)
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine
    # SQLAlchemy is imported inside the functions that use it: linear_head() (the CLI's fast reads) needs none

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BASELINE = "0001"  # the schema create_all made before migrations existed
BASELINE_TABLES = ("jobs", "candidates", "agent_messages", "events", "api_tokens")
PG_LOCK_KEY = 0x6175746F6D6375  # "automcu": serializes migrations of one PostgreSQL database


class SchemaError(RuntimeError):
    """The database holds tables this code can't adopt (not an AutoMCU database, or a newer one)."""


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _sqlite_lock_path(engine: Engine) -> Path | None:
    name = engine.url.database
    if engine.dialect.name != "sqlite" or not name or name == ":memory:":
        return None
    return Path(name).expanduser().resolve().with_name(Path(name).name + ".migrate.lock")


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    import fcntl

    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _upgrade_locked(conn: Connection) -> list[str]:
    """Inside the lock: adopt a create_all database if needed, then upgrade; the steps taken."""
    from alembic import command
    from sqlalchemy import inspect

    steps: list[str] = []
    current = current_revision(conn)
    if current == head_revision():
        return steps
    if current is not None and current not in _known_revisions():
        raise SchemaError(f"database is at schema revision {current!r}, newer than this AutoMCU "
                          f"(knows up to {head_revision()!r}); upgrade AutoMCU")
    if current is None:
        tables = set(inspect(conn).get_table_names())
        present = [t for t in BASELINE_TABLES if t in tables]
        if present and len(present) < len(BASELINE_TABLES):
            missing = sorted(set(BASELINE_TABLES) - tables)
            raise SchemaError(f"database has tables {present} but not {missing}; not an AutoMCU database?")
        if present:
            command.stamp(alembic_config(conn), BASELINE)
            steps.append(f"stamped {BASELINE} (made before migrations)")
    command.upgrade(alembic_config(conn), "head")
    steps.append(f"upgraded to {head_revision()}")
    return steps


_REVISION = re.compile(r"""^revision\s*(?::[^=]*)?=\s*["']([^"']+)["']\s*$""", re.M)
_DOWN = re.compile(r"""^down_revision\s*(?::[^=]*)?=\s*(?:None|["']([^"']+)["'])\s*$""", re.M)


@lru_cache(maxsize=1)
def linear_head() -> str | None:
    """The newest revision, read from the version files without importing Alembic, when they form one
    linear chain (one root, each revision the parent of at most one); None otherwise (ask Alembic)."""
    parents: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        source = path.read_text()
        rev = _REVISION.search(source)
        if rev is None:
            continue  # not a revision file (``__init__.py``)
        down = _DOWN.search(source)
        if down is None or rev.group(1) in parents:
            return None
        parents[rev.group(1)] = down.group(1)
    children = [p for p in parents.values() if p is not None]
    if not parents or list(parents.values()).count(None) != 1 or len(set(children)) != len(children) \
            or not set(children) <= set(parents):
        return None
    heads = [r for r in parents if r not in set(children)]
    return heads[0] if len(heads) == 1 else None


def is_at_head_fast(engine: Engine) -> bool:
    """True when the database's ``alembic_version`` holds exactly :func:`linear_head` (plain SQL, no
    Alembic import); False when unsure, so the caller takes the full path."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    head = linear_head()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:  # no such table yet, or no rights: the full path decides
        return False
    return rows == [head]


def upgrade_to_head(engine: Engine) -> list[str]:
    """Bring the database at ``engine`` to the newest schema; what was done (empty when it already was)."""
    from sqlalchemy import text

    if is_at_head_fast(engine):
        return []
    with engine.connect() as conn:
        if current_revision(conn) == head_revision():
            return []
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # DDL is transactional: all revisions or none
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
            return _upgrade_locked(conn)
    with _file_lock(_sqlite_lock_path(engine)), engine.begin() as conn:
        return _upgrade_locked(conn)


__all__ = ["MIGRATIONS_DIR", "SchemaError", "alembic_config", "current_revision", "head_revision",
           "is_at_head_fast", "linear_head", "upgrade_to_head"]

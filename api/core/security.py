"""API tokens: random secrets shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from automcu.storage.db import Database
from automcu.storage.models import ApiToken

TOKEN_PREFIX = "amcu_"


class TokenError(ValueError):
    """A token name that is taken, unknown or malformed."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name (the owner of the jobs it creates) and whether it is an admin."""

    name: str
    admin: bool = False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 128:
        raise TokenError("a token name must be 1 to 128 characters")
    return name


def create_token(db: Database, name: str, admin: bool = False) -> str:
    """Store a new token under ``name`` and return its secret (the only time it is seen)."""
    name = _check_name(name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with db.transaction() as s:
            if s.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
                raise TokenError(f"a token named {name!r} exists already; revoke it first or pick another name")
            s.add(ApiToken(name=name, token_hash=hash_token(token), admin=admin))
    except IntegrityError:
        raise TokenError(f"a token named {name!r} exists already; revoke it first or pick another name") from None
    return token


def list_tokens(db: Database) -> list[ApiToken]:
    with db.read_session() as s:
        return list(s.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)))


def revoke_token(db: Database, name: str) -> None:
    with db.transaction() as s:
        res = s.execute(delete(ApiToken).where(ApiToken.name == name))
        if not res.rowcount:
            raise TokenError(f"no token named {name!r} (see `automcu token list`)")
    principal_cache.clear()


class _PrincipalCache:
    """Known tokens' principals for a few seconds, so a read costs no token query.

    Only hits are kept (a new token works at once); a revoked token keeps working for at most
    ``ttl`` seconds in API processes other than the one that revoked it.
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Principal | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._items[key]
                return None
            return hit[1]

    def put(self, key: tuple[str, str], principal: Principal, ttl: float) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = (time.monotonic() + ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


principal_cache = _PrincipalCache()


def cached_principal(db: Database, token: str, cache_seconds: float) -> Principal | None:
    """The principal of a token checked less than ``cache_seconds`` ago (no query), else None."""
    if cache_seconds <= 0 or not token or len(token) > 256:
        return None
    return principal_cache.get((db.url, hash_token(token)))


def authenticate(db: Database, token: str, cache_seconds: float = 0.0) -> Principal | None:
    """The principal a presented token belongs to, or None (cached ``cache_seconds`` when > 0)."""
    if not token or len(token) > 256:
        return None
    key = (db.url, hash_token(token))
    if cache_seconds > 0 and (hit := principal_cache.get(key)) is not None:
        return hit
    with db.read_session() as s:
        row = s.execute(select(ApiToken.name, ApiToken.admin).where(ApiToken.token_hash == key[1])).first()
    if row is None:
        return None
    principal = Principal(name=row.name, admin=bool(row.admin))
    if cache_seconds > 0:
        principal_cache.put(key, principal, cache_seconds)
    return principal

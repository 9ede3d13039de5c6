"""Request dependencies: settings, database and the calling principal (Bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.core.security import Principal, authenticate, cached_principal
from automcu.core.config import Settings
from automcu.storage.db import Database

bearer = HTTPBearer(auto_error=False, description="an API token from `automcu token create NAME`")


# async: FastAPI runs a plain ``def`` dependency in the thread pool, a thread hop per dependency and request
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def _principal(db: Database, settings: Settings, token: str | None) -> Principal:
    """A token checked within ``auth_cache_seconds`` is answered from memory; otherwise one query (in a thread)."""
    if not token:
        raise _unauthorized("missing Bearer token; create one with `automcu token create NAME`")
    principal = cached_principal(db, token, settings.api.auth_cache_seconds)
    if principal is None:
        principal = await run_in_threadpool(authenticate, db, token, settings.api.auth_cache_seconds)
    if principal is None:
        raise _unauthorized("invalid or revoked token")
    return principal


async def current_principal(
    db: DbDep, settings: SettingsDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    return await _principal(db, settings, creds.credentials if creds else None)


async def stream_principal(
    db: DbDep,
    settings: SettingsDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[str | None, Query(description="the API token, for clients (EventSource) that can't send headers")]
    = None,
) -> Principal:
    """The event stream also takes ``?token=``; every other route needs the header."""
    return await _principal(db, settings, creds.credentials if creds else token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
StreamPrincipalDep = Annotated[Principal, Depends(stream_principal)]


def owner_filter(principal: Principal) -> str | None:
    """The owner to restrict queries to: the token's own jobs, or all (None) for an admin."""
    return None if principal.admin else principal.name

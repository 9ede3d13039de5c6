"""Liveness and database reachability; the one route without a token."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import text

from api.deps import DbDep
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, responses={503: {"description": "the database is unreachable"}})
def health(db: DbDep) -> Health:
    from automcu import __version__

    try:
        with db.read_session() as s:
            s.execute(text("SELECT 1"))
    except Exception as exc:
        raise HTTPException(503, detail=f"database unreachable: {type(exc).__name__}") from None
    return Health(version=__version__, database=db.engine.dialect.name)

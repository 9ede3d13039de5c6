"""The FastAPI app: REST under ``/api/v1``, OpenAPI at ``/openapi.json`` (``/docs``, ``/redoc``), dashboard at ``/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import errors
from api.cache import ListCache, RenderedJobs, RenderedPages
from api.middleware import BodySizeLimit
from api.openapi_rules import declare_job_rules
from api.routes import boards, estimate, health, jobs
from api.schemas import ErrorOut
from automcu import __version__
from automcu.core.config import Settings, get_settings
from automcu.storage.db import open_database

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).parent / "static"

AUTH_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorOut, "description": "a body that is not JSON text (e.g. not UTF-8)"},
    401: {"model": ErrorOut, "description": "missing, invalid or revoked token"},
    413: {"model": ErrorOut, "description": "request body larger than the limit (64 KB by default)"},
}

DESCRIPTION = """Feasibility-first neural architecture search for microcontrollers.

Every route but `/health` needs `Authorization: Bearer <token>` (create one with `automcu token create NAME`).
A token sees only its own jobs; an admin token sees all. Jobs are run by worker processes
(`automcu serve` starts them, `automcu worker` adds more)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app over the database of ``settings`` (default: the ``AUTOMCU_*`` environment)."""
    cfg = settings or get_settings()
    # Swagger UI and ReDoc from the assets fastapi-offline ships: nothing loaded from a CDN
    app = FastAPIOffline(title="AutoMCU", version=__version__, description=DESCRIPTION,
                         openapi_url=f"{API_PREFIX}/openapi.json", docs_url="/docs", redoc_url="/redoc")
    app.state.settings = cfg
    app.state.db = open_database(cfg.database_url)
    app.state.api_prefix = API_PREFIX
    app.state.job_cache = RenderedJobs(cfg.api.job_cache_size)
    app.state.list_cache = ListCache(cfg.api.job_cache_size)
    app.state.page_cache = RenderedPages(cfg.api.page_cache_size)
    errors.install(app)

    v1 = APIRouter(prefix=API_PREFIX)
    v1.include_router(health.router)
    for module in (jobs, boards, estimate):
        v1.include_router(module.router, responses=AUTH_RESPONSES)
    app.include_router(v1)
    app.include_router(health.router, include_in_schema=False)  # also plain /health for probes

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())  # the same document as under /api/v1

    _declare_rules(app, cfg.api.page_max)
    app.add_middleware(BodySizeLimit, max_bytes=cfg.api.max_body_bytes)
    return app


def _declare_rules(app: FastAPI, page_max: int) -> None:
    """Rules the routes enforce beyond the models' own schemas: ``limit`` at most the configured ``page_max``,
    and the job body's cross-field rules (:mod:`api.openapi_rules`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        for item in doc.get("paths", {}).values():
            for op in item.values():
                for param in op.get("parameters", []) if isinstance(op, dict) else []:
                    if param.get("name") == "limit" and param.get("in") == "query":
                        param.setdefault("schema", {})["maximum"] = page_max
        declare_job_rules(doc)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]

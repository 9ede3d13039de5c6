"""The FastAPI app: REST under ``/api/v1``, OpenAPI at ``/docs``, the dashboard at ``/``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api import errors
from api.core.config import ApiSettings, api_settings
from api.middleware import BodySizeLimit
from api.routes import boards, estimate, health, jobs
from api.schemas import ErrorOut
from automcu import __version__
from automcu.config import Settings
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
    cfg: ApiSettings = api_settings(settings)
    app = FastAPI(title="AutoMCU", version=__version__, description=DESCRIPTION,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.settings = cfg
    app.state.db = open_database(cfg.database_url)
    app.state.api_prefix = API_PREFIX
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

    app.add_middleware(BodySizeLimit, max_bytes=cfg.max_body_bytes)
    return app

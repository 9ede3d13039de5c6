"""Error responses: 422 with a sentence a person can act on, 404 for other owners' jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from automcu.storage.repository import JobNotFound

#: CLI flag names in shared messages → the JSON fields of the request body
_FLAGS = {"--sram-kb/--flash-kb/--clock-mhz/--core": "hardware {sram_kb, flash_kb, clock_mhz, core}",
          "--sram-kb": "sram_kb", "--flash-kb": "flash_kb", "--clock-mhz": "clock_mhz", "--core": "core",
          "--board": "board", "--dataset": "dataset"}


def api_words(message: str) -> str:
    for flag, field in _FLAGS.items():
        message = message.replace(flag, field)
    return message


def validation_error(field: Sequence[str | int], message: str) -> RequestValidationError:
    """A 422 for a value that passed the schema but not the domain checks (unknown board, bad arch)."""
    return RequestValidationError([{"loc": tuple(field), "msg": api_words(message), "type": "value_error",
                                    "input": None}])


def _sentence(errors: Sequence[Any]) -> str:
    parts = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "extra_forbidden":
            msg = "unknown field (not part of the request body; see /docs)"
        elif e.get("type") == "missing":
            msg = "required"
        parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "; ".join(parts) or "invalid request"


def _jsonable(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        item = {k: e[k] for k in ("loc", "msg", "type") if k in e}
        item["msg"] = str(item.get("msg", "")).removeprefix("Value error, ")
        item["loc"] = [p if isinstance(p, int | str) else str(p) for p in item.get("loc", ())]
        out.append(item)
    return out


async def _on_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    return JSONResponse(status_code=422, content={"detail": _jsonable(errors), "message": _sentence(errors)})


async def _on_not_found(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc).replace(" (see `automcu jobs`)", "")})


async def _on_http_error(request: Request, exc: Exception) -> Any:
    """A 405's ``Allow`` lists every method of the path (Starlette names only the first matching route's)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        routes = request.app.router.routes
        allowed = {m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
                   if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)}
        if allowed:
            exc = StarletteHTTPException(405, exc.detail, headers={"Allow": ", ".join(sorted(allowed))})
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(JobNotFound, _on_not_found)

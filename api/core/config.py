"""API settings: the core ``AUTOMCU_*`` settings plus the server's own limits."""

from __future__ import annotations

from pydantic import Field

from automcu.core.config import Settings


class ApiSettings(Settings):
    auth_cache_seconds: float = Field(default=2.0, ge=0, description="how long a checked token is trusted without "
                                      "a query (a revocation reaches other API processes within this time)")
    max_body_bytes: int = Field(default=64 * 1024, gt=0, description="larger request bodies get 413")
    sse_poll_seconds: float = Field(default=0.5, gt=0, description="how often the event stream polls the DB")
    sse_ping_seconds: float = Field(default=15.0, gt=0, description="keep-alive comment period on idle streams")
    job_cache_size: int = Field(default=2048, ge=0, description="finished jobs' rendered reads kept per API "
                                "process (0: none)")
    list_counts_seconds: float = Field(default=1.0, ge=0, description="how old a running job's counts in a job "
                                       "list may be (0: always counted; a job read is always current)")
    page_max: int = Field(default=500, gt=0, description="largest page size of list endpoints")


def api_settings(settings: Settings | None = None) -> ApiSettings:
    """``settings`` as :class:`ApiSettings` (the API's own fields from the environment)."""
    if isinstance(settings, ApiSettings):
        return settings
    if settings is None:
        return ApiSettings()
    return ApiSettings(**settings.model_dump(exclude_unset=True))

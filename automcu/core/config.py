"""Settings from ``AUTOMCU_*`` environment variables (pydantic-settings): one root, one cached getter.

``get_settings()`` is the root: the core fields (data dir, database, LLM endpoint, leases) plus sections
built from the same environment on first use: ``settings.executors`` (where evaluations run) and
``settings.api`` (the REST server's limits). Environment names stay flat (``AUTOMCU_EXECUTOR``,
``AUTOMCU_PAGE_MAX``): a section is a namespace in code, not in the environment. A process that changes
``AUTOMCU_*`` variables after start-up calls ``get_settings.cache_clear()``.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ExecutorKind = Literal["auto", "inprocess", "process", "ray"]


class ExecutorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOMCU_", extra="ignore")

    # auto: Ray when AUTOMCU_RAY_ADDRESS is set, else in-process
    executor: ExecutorKind = "auto"
    # process pool size / CPUs of a Ray cluster started locally (no address); default: this machine's CPUs
    executor_workers: int | None = Field(default=None, ge=1)
    # a running cluster: "auto", "HOST:6379" (on a cluster node) or "ray://HOST:10001" (Ray Client)
    ray_address: str | None = None
    # Ray re-runs a task whose worker process or node died this many times before reporting it lost
    ray_task_retries: int = Field(default=2, ge=0)
    # dispatches of one candidate (counted in the database, across worker restarts) before it is marked failed
    eval_max_attempts: int = Field(default=3, ge=1)
    # how often a running batch checks for a cancel request
    executor_poll_seconds: float = Field(default=0.5, gt=0)

    @property
    def resolved_kind(self) -> Literal["inprocess", "process", "ray"]:
        if self.executor == "auto":
            return "ray" if self.ray_address else "inprocess"
        return self.executor


class ApiSettings(BaseSettings):
    """The REST server's own limits (the root's ``api`` section)."""

    model_config = SettingsConfigDict(env_prefix="AUTOMCU_", extra="ignore")

    auth_cache_seconds: float = Field(default=2.0, ge=0, description="how long a checked token is trusted without "
                                      "a query (a revocation reaches other API processes within this time)")
    max_body_bytes: int = Field(default=64 * 1024, gt=0, description="larger request bodies get 413")
    sse_poll_seconds: float = Field(default=0.5, gt=0, description="how often the event stream polls the DB")
    sse_ping_seconds: float = Field(default=15.0, gt=0, description="keep-alive comment period on idle streams")
    job_cache_size: int = Field(default=2048, ge=0, description="finished jobs' rendered reads kept per API "
                                "process (0: none)")
    list_counts_seconds: float = Field(default=1.0, ge=0, description="how old a running job's counts in a job "
                                       "list may be (0: always counted; a job read is always current)")
    page_cache_size: int = Field(default=256, ge=0, description="job lists' rendered pages kept per API process, "
                                 "reused while the page's jobs and states are unchanged (0: none)")
    page_max: int = Field(default=500, gt=0, description="largest page size of list endpoints")



class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTOMCU_", extra="ignore")

    data_dir: Path = Path(platformdirs.user_data_dir("automcu", appauthor=False))
    db_url: str | None = None  # default: sqlite:///<data_dir>/automcu.db

    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: str | None = None
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 3
    llm_retry_base_delay_s: float = 1.0  # backoff before retry k is base * 2**(k-1)
    llm_temperature: float | None = None  # None: the server's default

    lease_seconds: float = 30.0  # a running job whose heartbeat is older than this is stale
    # Lookups are instant; with a scale > 0 the evaluator sleeps train_seconds × scale, so a search
    # takes wall time like a real one would (demos, scheduler tests, load benchmarks). 0 = off.
    simulated_time_scale: float = 0.0
    # processes a TFLite Micro accuracy run splits its images over (automcu.deploy.tflm_pool); default: the CPUs
    tflm_workers: int | None = Field(default=None, ge=1)

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'automcu.db'}"

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url)

    @cached_property
    def executors(self) -> ExecutorSettings:
        """Where evaluations run (in-process, a process pool, Ray) and how they are dispatched."""
        return ExecutorSettings()

    @cached_property
    def api(self) -> ApiSettings:
        """The REST server's limits (page size, body size, caches, event-stream timing)."""
        return ApiSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

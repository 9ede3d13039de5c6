"""Executor settings from ``AUTOMCU_*`` environment variables (kept beside the executors they configure)."""

from __future__ import annotations

from typing import Literal

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

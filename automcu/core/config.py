"""Settings from ``AUTOMCU_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'automcu.db'}"

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""``data_dir``, ``database_url``, ``lease_seconds`` of :class:`automcu.core.config.Settings`, no pydantic-settings.

Importing pydantic-settings costs ~0.1 s (asyncio, dotenv, cloud providers), a fifth of the CLI's start-up
budget, and ``automcu jobs`` / ``show`` / ``boards`` need only these values. :func:`quick_settings` reads them from the
environment the way ``Settings`` does (prefix ``AUTOMCU_``, names case-insensitive, no ``.env`` file) but only
when the environment is plain: every ``AUTOMCU_*`` variable that is a ``Settings`` field has a value that
``Settings`` accepts as it stands (any text for the text fields, digits for the numbers). Anything else (a value
``Settings`` would reject or convert in its own way, a name spelled in two cases) answers None, and the caller
uses ``get_settings()``, so an invalid setting is reported exactly as before. ``tests/test_cli_fast_reads.py``
checks that :data:`FIELDS` names every ``Settings`` field and that the values agree with ``get_settings()``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PREFIX = "automcu_"
_INT = re.compile(r"[0-9]+")
_FLOAT = re.compile(r"[0-9]+(\.[0-9]+)?")
_COUNT = re.compile(r"0*[1-9][0-9]*")

#: every ``Settings`` field -> the kind of value taken as plain: "text" (any), "path" (non-empty), "int", "count"
#: (an int >= 1), "float"
FIELDS: dict[str, str] = {
    "data_dir": "path", "db_url": "text", "llm_base_url": "text", "llm_model": "text", "llm_api_key": "text",
    "llm_timeout_s": "float", "llm_max_retries": "int", "llm_retry_base_delay_s": "float",
    "llm_temperature": "float", "lease_seconds": "float", "simulated_time_scale": "float", "tflm_workers": "count",
}
DEFAULT_LEASE_SECONDS = 30.0  # Settings.lease_seconds


@dataclass(frozen=True)
class QuickSettings:
    data_dir: Path
    database_url: str
    lease_seconds: float


def _plain(kind: str, value: str) -> bool:
    if kind == "text":
        return True
    if kind == "path":
        return value != ""
    return {"int": _INT, "count": _COUNT}.get(kind, _FLOAT).fullmatch(value) is not None


def quick_settings() -> QuickSettings | None:
    """The values, or None when the environment is not plain (then ask ``get_settings()``)."""
    env: dict[str, str] = {}
    for name, value in os.environ.items():
        low = name.lower()
        if not low.startswith(PREFIX):
            continue
        field = low[len(PREFIX):]
        if low in env:  # the same name in two spellings: which one Settings takes is its business
            return None
        env[low] = value
        kind = FIELDS.get(field)
        if kind is not None and not _plain(kind, value):
            return None
    value = env.get(PREFIX + "data_dir")
    if value is None:
        import platformdirs

        value = platformdirs.user_data_dir("automcu", appauthor=False)
    data_dir = Path(value)
    db_url = env.get(PREFIX + "db_url") or f"sqlite:///{data_dir / 'automcu.db'}"
    lease = env.get(PREFIX + "lease_seconds")
    return QuickSettings(data_dir, db_url, float(lease) if lease is not None else DEFAULT_LEASE_SECONDS)


__all__ = ["FIELDS", "QuickSettings", "quick_settings"]

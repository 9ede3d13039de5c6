"""Property-based requests generated from the app's own OpenAPI schema: no 5xx, responses match the schema."""

from __future__ import annotations

import os
import tempfile
import zlib
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e .[api-test]")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.core.security import create_token  # noqa: E402
from api.main import create_app  # noqa: E402
from automcu.core.config import Settings  # noqa: E402
from automcu.engine.worker import Worker  # noqa: E402
from automcu.jobs.spec import JobSpec  # noqa: E402
from automcu.storage.db import open_database  # noqa: E402
from automcu.storage.repository import create_job  # noqa: E402

_tmp = Path(tempfile.mkdtemp(prefix="automcu-schemathesis-"))
_db_url = f"sqlite:///{_tmp / 'fuzz.db'}"
_db = open_database(_db_url)
TOKEN = create_token(_db, "fuzzer", admin=True)
_finished = create_job(_db, JobSpec(dataset="cifar10", budget=3), None, owner="fuzzer")
Worker(_db, poll_seconds=0.05).run(exit_when_idle=True)  # a finished job with candidates and events
JOB_IDS = [_finished.id, create_job(_db, JobSpec(dataset="cifar10", budget=3), None, owner="fuzzer").id]
app = create_app(Settings(db_url=_db_url, data_dir=_tmp))
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=int(os.environ.get("AUTOMCU_FUZZ_EXAMPLES", "25")), deadline=None, database=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
    if case.path_parameters and "job_id" in case.path_parameters:
        # real ids (a finished job, a queued one) on most cases, so the job routes are exercised, not only 404s
        pick = zlib.crc32(str(case.path_parameters["job_id"]).encode()) % 4
        if pick < len(JOB_IDS) + 1:
            case.path_parameters["job_id"] = JOB_IDS[pick % len(JOB_IDS)]
    case.call_and_validate(checks=CHECKS)

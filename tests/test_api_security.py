"""Security probes: a job body never makes the server read its files, bodies refuse unknown fields, docs are offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.core.security import create_token
from api.main import create_app
from automcu.core.config import get_settings
from automcu.storage.db import open_database
from automcu.storage.repository import list_jobs

API = "/api/v1"
SECRET = "name: leaked-secret-board\nsram_kb: 1\npassword: hunter2-do-not-echo\n"


@pytest.fixture
def client(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, dict[str, str]]]:
    monkeypatch.setenv("AUTOMCU_DB_URL", db_url)
    get_settings.cache_clear()
    token = create_token(open_database(db_url), "alice")
    with TestClient(create_app()) as c:
        yield c, {"Authorization": f"Bearer {token}"}


def _probes(tmp_path: Path) -> list[str]:
    secret = tmp_path / "secret.yaml"
    secret.write_text(SECRET)
    (tmp_path / "adir.yaml").mkdir()
    return [str(secret), "secret.yaml", f"{tmp_path}/../{tmp_path.name}/secret.yaml", "../../etc/passwd",
            str(tmp_path / "adir.yaml"), str(tmp_path / "missing.yaml"), "/etc/shadow", "pyproject.toml",
            "..\\secret.yaml"]


@pytest.mark.parametrize("route", ["/jobs", "/estimate"])
def test_path_like_boards_get_one_answer_that_reveals_nothing(
    client: tuple[TestClient, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str,
    db_url: str,
) -> None:
    c, h = client
    monkeypatch.chdir(tmp_path)  # "secret.yaml" exists relative to the server's working directory too
    body = {"dataset": "cifar10", "budget": 3} if route == "/jobs" else {"arch": 0}
    messages = set()
    for board in _probes(tmp_path):
        r = c.post(f"{API}{route}", json={**body, "board": board}, headers=h)
        assert r.status_code == 422, (board, r.text)
        message = r.json()["message"]
        assert "\n" not in message and "hunter2" not in message and "leaked" not in message
        assert "exist" not in message and "YAML" not in message and "file" not in message
        assert r.json()["detail"][0]["loc"] == ["body", "board"]
        messages.add(message.replace(repr(board), "<board>"))
    assert len(messages) == 1, messages  # the same answer for existing, missing, secret files and folders
    assert list_jobs(open_database(db_url))[1] == 0  # nothing stored


def test_catalog_names_and_the_operators_boards_dir_still_work(
    client: tuple[TestClient, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    c, h = client
    assert c.post(f"{API}/estimate", json={"arch": 0, "board": "ESP32-S3"}, headers=h).status_code == 200
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "labboard.yaml").write_text("name: labboard\ncore: cortex-m4f\nclock_mhz: 80\nsram_kb: 128\n"
                                          "flash_kb: 512\n")
    monkeypatch.setenv("AUTOMCU_BOARDS_DIR", str(boards))
    r = c.post(f"{API}/estimate", json={"arch": 0, "board": "labboard"}, headers=h)
    assert r.status_code == 200, r.text
    assert c.post(f"{API}/estimate", json={"arch": 0, "board": str(boards / "labboard.yaml")},
                  headers=h).status_code == 422


@pytest.mark.parametrize("route,body", [
    ("/jobs", {"dataset": "cifar10", "budgett": 9, "boardd": "x"}),
    ("/estimate", {"arch": 0, "budgett": 9, "boardd": "x"}),
])
def test_unknown_fields_are_refused_by_name(client: tuple[TestClient, dict[str, str]], route: str,
                                           body: dict[str, object]) -> None:
    c, h = client
    r = c.post(f"{API}{route}", json=body, headers=h)
    assert r.status_code == 422
    locs = {tuple(d["loc"]) for d in r.json()["detail"]}
    assert {("body", "budgett"), ("body", "boardd")} <= locs
    assert "budgett: unknown field" in r.json()["message"] and "boardd: unknown field" in r.json()["message"]
    assert "\n" not in r.json()["message"]


def test_a_boolean_is_not_an_arch_and_the_range_is_declared(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    for arch in (False, True, -1, 15625):
        assert c.post(f"{API}/estimate", json={"arch": arch}, headers=h).status_code == 422, arch
    assert c.post(f"{API}/estimate", json={"arch": 15624}, headers=h).status_code == 200
    doc = c.get("/openapi.json").json()
    arch = doc["components"]["schemas"]["EstimateRequest"]["properties"]["arch"]
    index = next(s for s in arch["anyOf"] if s.get("type") == "integer")
    assert (index["minimum"], index["maximum"]) == (0, 15624)


def test_openapi_at_the_root_and_docs_offline(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    assert c.get("/openapi.json").json() == c.get(f"{API}/openapi.json").json()
    for page in ("/docs", "/redoc"):
        html = c.get(page).text
        assert "cdn" not in html.lower() and "https://" not in html.split("<body")[0]
    assert c.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert c.get("/static-offline-docs/redoc.standalone.js").status_code == 200


def test_options_lists_every_method_of_the_path(client: tuple[TestClient, dict[str, str]]) -> None:
    c, h = client
    r = c.options(f"{API}/jobs", headers=h)
    assert r.status_code == 405 and {"GET", "POST"} <= {m.strip() for m in r.headers["allow"].split(",")}


def test_page_max_comes_from_the_settings(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMCU_DB_URL", db_url)
    monkeypatch.setenv("AUTOMCU_PAGE_MAX", "20")
    get_settings.cache_clear()
    token = create_token(open_database(db_url), "alice")
    with TestClient(create_app()) as c:
        h = {"Authorization": f"Bearer {token}"}
        assert c.get(f"{API}/jobs?limit=20", headers=h).status_code == 200
        r = c.get(f"{API}/jobs?limit=21", headers=h)
        assert r.status_code == 422 and "20" in r.json()["message"]
        limit = next(p for p in c.get("/openapi.json").json()["paths"][f"{API}/jobs"]["get"]["parameters"]
                     if p["name"] == "limit")
        assert limit["schema"]["maximum"] == 20


def test_data_path_errors_do_not_map_the_servers_files(client: tuple[TestClient, dict[str, str]],
                                                       tmp_path: Path) -> None:
    c, h = client
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    answers = set()
    for path in (str(tmp_path / "missing"), str(tmp_path), str(secret), "/etc"):
        r = c.post(f"{API}/jobs", json={"dataset": "mnist", "data_path": path, "budget": 2}, headers=h)
        assert r.status_code == 422, r.text
        message = r.json()["message"]
        assert "hunter2" not in message and "exist" not in message and path not in message
        answers.add(message)
    assert len(answers) == 1, answers

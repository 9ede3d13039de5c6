"""`jobs` and `show` read SQLite through the stdlib (``automcu.storage.sqlite_reads``) and run without Typer's
parsing (``automcu.cli.direct``): the output equals the SQLAlchemy + Typer path's byte for byte, and the fast
path imports neither SQLAlchemy nor pydantic."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from automcu.cli import direct
from automcu.core.config import Settings, get_settings
from automcu.core.quick_settings import FIELDS, quick_settings
from automcu.storage.db import open_database
from automcu.storage.models import Candidate, Job
from automcu.storage.sqlite_reads import open_reader, sqlite_file

ROOT = Path(__file__).resolve().parents[1]
FAST = "import sys; from automcu.cli.app import main; main()"
#: the path of today: Typer parses, SQLAlchemy reads (the fast reader is switched off)
SLOW = ("import automcu.cli.direct as d, automcu.storage.sqlite_reads as r; d.parse = lambda args: None; "
        "r.open_reader = lambda url: None; from automcu.cli.app import main; main()")
#: the fast path, then which heavy modules it loaded (on stderr, after the output)
PROBE = ("import sys, json\nfrom automcu.cli.app import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
         "sys.stderr.write('LOADED=' + json.dumps([m for m in ('sqlalchemy', 'pydantic', 'pydantic_core', "
         "'pydantic_settings', 'alembic') if m in sys.modules]))\n")

HW = {"name": "STM32F746", "core": "cortex-m7", "clock_mhz": 216.0, "sram_kb": 320.0, "flash_kb": 1024.0,
      "runtime_flash_kb": 96.0, "runtime_sram_kb": 12.0, "vendor": "ST"}
CUSTOM_HW = {"name": None, "core": "cortex-m4f", "clock_mhz": 80.0, "sram_kb": 64.0, "flash_kb": 256.0,
             "runtime_flash_kb": 0.0, "runtime_sram_kb": 0.0}


def _job(job_id: str, status: str, minutes_ago: float, **kw: Any) -> Job:
    now = datetime.now(timezone.utc)
    base: dict[str, Any] = dict(id=job_id, status=status, dataset="cifar10", budget=10, proposer="evolution",
                                created_at=now - timedelta(minutes=minutes_ago))
    return Job(**{**base, **kw})


def _cand(job_id: str, n: int, status: str, **kw: Any) -> Candidate:
    base: dict[str, Any] = dict(job_id=job_id, arch=f"|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~{n}|+|none~0|"
                                f"nor_conv_1x1~1|nor_conv_3x3~{n}|", index=100 + n, iso_key=f"k{n}", status=status,
                                step=n // 3, proposer="evolution")
    return Candidate(**{**base, **kw})


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reads.db'}"
    database = open_database(url)
    now = datetime.now(timezone.utc)
    with database.transaction() as s:
        s.add_all([
            _job("aaaa00000001", "queued", 50),
            _job("aaaa00000002", "running", 40, board="STM32F746", hardware=HW, heartbeat_at=now,
                 started_at=now - timedelta(minutes=39), lease_owner="host:1:1", max_latency_ms=300.0),
            _job("bbbb00000003", "running", 30, board="STM32F746", hardware=HW,
                 heartbeat_at=now - timedelta(hours=1), started_at=now - timedelta(minutes=29),
                 proposer_used="random", wall_seconds=12.5),
            _job("cccc00000004", "succeeded", 20, board="STM32F746", hardware=HW, proposer_used="evolution",
                 started_at=now - timedelta(minutes=19), finished_at=now - timedelta(minutes=18),
                 stop_reason="budget of 10 evaluations spent", wall_seconds=3.25, seed=7,
                 artifacts={"report": "/tmp/r.md"}, task="a tiny model", task_spec={"dataset": "cifar10"},
                 created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
            _job("dddd00000005", "failed", 10, hardware=CUSTOM_HW, error="boom: the evaluator raised",
                 max_latency_ms=150.5, dataset="cifar100", proposer="random"),
            _job("dddd00000006", "cancelled", 5, stop_reason="cancelled by user", cancel_requested=True),
        ])
        s.flush()
        for i in range(7):
            s.add(_cand("cccc00000004", i, "evaluated", eval_order=i + 1, val_acc=80.0 + (i % 3), test_acc=79.5 + i,
                        flash_bytes=500_000 + 1000 * i, peak_sram_bytes=100_000 + 10 * i, latency_ms=100.0 + i,
                        train_seconds=3600.0 * (i + 1), margins={"flash": 0.1}, parent=None if i == 0 else "x",
                        reason="mutated", macs=1000, params=200))
        s.add(_cand("cccc00000004", 7, "infeasible", flash_bytes=2_000_000, peak_sram_bytes=400_000,
                    latency_ms=900.0, violations=[{"resource": "flash", "over": 1}, {"resource": "sram"}]))
        s.add(_cand("cccc00000004", 8, "proposed"))
        s.add(_cand("cccc00000004", 9, "failed", error="lost"))
        s.add(_cand("bbbb00000003", 1, "evaluated", eval_order=1, val_acc=70.25, flash_bytes=1, peak_sram_bytes=2,
                    latency_ms=None, train_seconds=None))
        s.add(_cand("dddd00000005", 2, "evaluated", eval_order=1, val_acc=None))
    database.dispose()
    return url


def _run(code: str, args: list[str], url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTOMCU_DB_URL": url, "AUTOMCU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "100",
           "PYTHONPATH": str(ROOT)}
    env.pop("AUTOMCU_VERBOSE", None)
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


COMMANDS = [
    ["jobs", "--json"], ["jobs"], ["jobs", "--limit", "2"], ["jobs", "--json", "--limit", "3"],
    ["show", "cccc00000004", "--json"], ["show", "cccc00000004"], ["show", "cccc00000004", "--candidates"],
    ["show", "cccc00000004", "--candidates", "--json"],
    ["show", "cccc", "--candidates", "--sort", "flash", "--limit", "3", "--page", "2"],
    ["show", "bbbb00000003"], ["show", "bbbb00000003", "--json"], ["show", "aaaa00000001", "--json"],
    ["show", "aaaa00000002"], ["show", "dddd00000005", "--json", "--candidates"], ["show", "dddd00000005"],
    ["show", "dddd00000006"],
    # errors: unknown, ambiguous prefix, empty id, a bad --sort
    ["show", "ffff"], ["show", "aaaa"], ["show", " "], ["show", "cccc00000004", "--sort", "nope"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_fast_and_sqlalchemy_paths_print_the_same(db: str, tmp_path: Path, args: list[str]) -> None:
    fast = _run(FAST, args, db, tmp_path)
    slow = _run(SLOW, args, db, tmp_path)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert fast.returncode in (0, 2)
    if "--json" in args and fast.returncode == 0:
        json.loads(fast.stdout)


def test_the_records_are_what_the_database_holds(db: str, tmp_path: Path) -> None:
    rows = json.loads(_run(FAST, ["jobs", "--json"], db, tmp_path).stdout)
    assert [r["id"] for r in rows] == ["dddd00000006", "dddd00000005", "bbbb00000003", "aaaa00000002",
                                       "aaaa00000001", "cccc00000004"]
    status = {r["id"]: r["status"] for r in rows}
    assert status["bbbb00000003"] == "stale" and status["aaaa00000002"] == "running"
    shown = json.loads(_run(FAST, ["show", "cccc00000004", "--json", "--candidates"], db, tmp_path).stdout)
    assert shown["created_at"] == "2026-01-02 03:04:05" and shown["artifacts"] == {"report": "/tmp/r.md"}
    assert shown["n_proposed"] == 10 and shown["n_evaluated"] == 7 and shown["best"]["val_acc"] == 82.0
    assert len(shown["candidates"]) == 10


@pytest.mark.parametrize("args", [["jobs"], ["jobs", "--json"], ["show", "cccc00000004"],
                                  ["show", "cccc0", "--candidates", "--json"]])
def test_the_fast_path_imports_no_sqlalchemy_nor_pydantic(db: str, tmp_path: Path, args: list[str]) -> None:
    proc = _run(PROBE, args, db, tmp_path)
    assert proc.stdout and "LOADED=" in proc.stderr
    assert json.loads(proc.stderr.rsplit("LOADED=", 1)[1]) == []


def test_the_fast_reader_applies_only_to_a_sqlite_file_at_the_newest_schema(db: str, tmp_path: Path) -> None:
    reader = open_reader(db)
    assert reader is not None
    reader.close()
    assert open_reader(f"sqlite:///{tmp_path / 'none.db'}") is None  # no file: the full path creates it
    assert open_reader(db + "?mode=ro") is None and open_reader("sqlite://") is None
    assert open_reader("postgresql://u@localhost/automcu") is None
    assert sqlite_file("sqlite+pysqlite:///x.db") is None and sqlite_file("sqlite:///:memory:") is None
    path = sqlite_file(db)
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0003'")
    assert open_reader(db) is None  # an older schema: SQLAlchemy upgrades it
    fast = _run(FAST, ["show", "cccc00000004", "--json"], db, tmp_path)  # ... and still answers
    assert fast.returncode == 0 and json.loads(fast.stdout)["id"] == "cccc00000004"


def test_lineage_and_odd_arguments_take_the_typer_path() -> None:
    assert direct.parse(["jobs", "--json", "--limit", "5"]) == ("jobs", {"json_out": True, "limit": 5})
    assert direct.parse(["show", "abc", "--candidates"]) == ("show", {"job_id": "abc", "candidates": True})
    for args in (["jobs", "--limit=5"], ["jobs", "--limit", "0"], ["jobs", "--limit", "05"], ["jobs", "--help"],
                 ["jobs", "--json", "--json"], ["jobs", "--db"], ["jobs", "x"], ["show"], ["show", "a", "b"],
                 ["show", "a", "--lineage", "best"], ["--verbose", "jobs"], ["jobs", "--verbose"],
                 ["show", "-a"], ["show", "a", "--db", "--json"], ["search"], ["show", "a", "--no-candidates"]):
        assert direct.parse(args) is None, args


def test_every_simple_option_is_the_commands_own() -> None:
    import typer.main

    from automcu.cli.app import full_app

    group = typer.main.get_command(full_app())
    for name, (positional, options) in direct.SIMPLE.items():
        command = group.commands[name]  # type: ignore[attr-defined]
        opts = {opt: p.name for p in command.params for opt in p.opts}
        for opt, (param, kind) in options.items():
            assert opts.get(opt) == param, (name, opt)
            is_flag = getattr(command.params[[p.name for p in command.params].index(param)], "is_flag", False)
            assert is_flag == (kind == "flag"), (name, opt)
        args = [p.name for p in command.params if p.param_type_name == "argument"]
        assert tuple(args) == positional


def test_quick_settings_agree_with_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert set(FIELDS) == set(Settings.model_fields)
    cases: list[dict[str, str]] = [
        {}, {"AUTOMCU_DB_URL": "sqlite:////x/y.db"}, {"AUTOMCU_DB_URL": ""},
        {"automcu_lease_seconds": "12.5", "AUTOMCU_LLM_MODEL": "m"}, {"AUTOMCU_LEASE_SECONDS": "7"},
        {"AUTOMCU_DATA_DIR": str(tmp_path / "d2"), "AUTOMCU_EXECUTOR": "whatever"}, {"AUTOMCU_TFLM_WORKERS": "3"},
    ]
    for env in cases:
        for var in [v for v in os.environ if v.lower().startswith("automcu_")]:
            monkeypatch.delenv(var)
        monkeypatch.setenv("AUTOMCU_DATA_DIR", str(tmp_path / "data"))
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        quick = quick_settings()
        assert quick is not None, env
        settings = get_settings()
        assert (quick.data_dir, quick.database_url, quick.lease_seconds) == (
            settings.data_dir, settings.database_url, settings.lease_seconds), env
    for odd in ({"AUTOMCU_LEASE_SECONDS": "1e3"}, {"AUTOMCU_LEASE_SECONDS": "abc"},
                {"AUTOMCU_LLM_MAX_RETRIES": "2.5"}, {"AUTOMCU_DATA_DIR": ""}, {"AUTOMCU_TFLM_WORKERS": "0"}):
        for k, v in odd.items():
            monkeypatch.setenv(k, v)
        assert quick_settings() is None, odd
        for k in odd:
            monkeypatch.delenv(k)
    get_settings.cache_clear()


def test_an_invalid_setting_is_reported_as_before(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOMCU_LEASE_SECONDS", "abc")
    fast = _run(FAST, ["jobs"], db, tmp_path)
    slow = _run(SLOW, ["jobs"], db, tmp_path)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert fast.returncode == 2 and "lease-seconds" in fast.stderr  # (worded as a flag, as before)


# ----- boards: the validated catalog cached under the data dir ------------------------------------------------
def _boards(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "AUTOMCU_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "100", "PYTHONPATH": str(ROOT),
            **env}
    return subprocess.run([sys.executable, "-c", PROBE, *args], env=full, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def _loaded(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return list(json.loads(proc.stderr.rsplit("LOADED=", 1)[1]))


@pytest.mark.parametrize("args", [["boards"], ["boards", "--json"]])
def test_boards_from_the_cache_prints_what_the_catalog_gives(tmp_path: Path, args: list[str]) -> None:
    from automcu.hardware.catalog import list_boards

    uncached = _boards(args, tmp_path, AUTOMCU_LEASE_SECONDS="1e3")  # not a plain environment: no cache
    assert not (tmp_path / "data" / "cache" / "boards.json").exists()
    cold = _boards(args, tmp_path)
    warm = _boards(args, tmp_path)
    assert (tmp_path / "data" / "cache" / "boards.json").exists()
    assert uncached.returncode == cold.returncode == warm.returncode == 0
    assert uncached.stdout == cold.stdout == warm.stdout
    assert "pydantic" in _loaded(cold) and _loaded(warm) == []  # the cached run validates nothing
    if "--json" in args:
        assert json.loads(warm.stdout) == [s.model_dump() for s in list_boards()]


def test_a_changed_board_file_refreshes_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "myboards"
    folder.mkdir()
    board = folder / "myboard.yaml"
    board.write_text("name: MyBoard\ncore: cortex-m4\nclock_mhz: 64\nsram_kb: 96\nflash_kb: 512\n")
    env = {"AUTOMCU_BOARDS_DIR": str(folder)}
    first = json.loads(_boards(["boards", "--json"], tmp_path, **env).stdout)
    assert {b["name"]: b["sram_kb"] for b in first}["MyBoard"] == 96.0
    board.write_text("name: MyBoard\ncore: cortex-m4\nclock_mhz: 64\nsram_kb: 128\nflash_kb: 512\n")
    again = _boards(["boards", "--json"], tmp_path, **env)
    assert {b["name"]: b["sram_kb"] for b in json.loads(again.stdout)}["MyBoard"] == 128.0
    assert "pydantic" in _loaded(again)  # re-validated
    without = json.loads(_boards(["boards", "--json"], tmp_path).stdout)
    assert "MyBoard" not in {b["name"] for b in without}


def test_the_boards_cache_lists_the_catalogs_files() -> None:
    from automcu.cli.boards_cmd import cache_key
    from automcu.hardware import catalog

    files = [str(p) for p in [*catalog._package_board_files(), *catalog._user_board_files()]]
    assert [entry[0] for entry in cache_key()[2:2 + len(files)]] == files

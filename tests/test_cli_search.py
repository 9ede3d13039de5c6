"""The `automcu search` / `batch` / `jobs` / `show` contract, run as a user would."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automcu.cli.app import app
from search_spaces.nb201.index import index_of
from search_spaces.nb201.space import Arch
from search_spaces.nb201.table import load_table

runner = CliRunner()
SUMMARY_KEYS = {"job_id", "status", "best", "n_proposed", "n_infeasible", "n_evaluated",
                "simulated_train_seconds", "wall_seconds"}
BEST_KEYS = {"arch", "index", "val_acc", "test_acc", "flash_bytes", "peak_sram_bytes", "latency_ms"}


def search(*args: str) -> dict:
    result = runner.invoke(app, ["search", "--json", "--quiet", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def n_jobs(db: Path) -> int:
    if not db.exists():
        return 0
    return sqlite3.connect(db).execute("select count(*) from jobs").fetchone()[0]


def test_default_search_reports_the_tables_accuracy(db_url: str) -> None:
    out = search("--dataset", "cifar10", "--budget", "100", "--seed", "0", "--db", db_url)
    assert SUMMARY_KEYS <= set(out) and BEST_KEYS <= set(out["best"])  # the contract's keys (extensions allowed)
    assert out["status"] == "succeeded" and out["n_evaluated"] == 100
    best = out["best"]
    i = index_of(Arch.from_string(best["arch"]))
    assert best["index"] == i
    assert best["test_acc"] == pytest.approx(load_table().columns["cifar10_test"][i])
    assert out["simulated_train_seconds"] > 0


def test_same_seed_same_result(db_url: str) -> None:
    a = search("--dataset", "cifar100", "--budget", "30", "--seed", "7", "--db", db_url)
    b = search("--dataset", "cifar100", "--budget", "30", "--seed", "7", "--db", db_url)
    c = search("--dataset", "cifar100", "--budget", "30", "--seed", "8", "--db", db_url)
    assert a["best"] == b["best"] and a["n_proposed"] == b["n_proposed"]
    assert a["job_id"] != b["job_id"]
    shown = [json.loads(runner.invoke(app, ["show", j, "--json", "--candidates", "--db", db_url]).stdout)
             for j in (a["job_id"], b["job_id"], c["job_id"])]
    archs = [[x["arch"] for x in s["candidates"]] for s in shown]
    assert archs[0] == archs[1] != archs[2]


def test_constrained_search_only_evaluates_feasible(db_url: str) -> None:
    out = search("--dataset", "cifar10", "--board", "nRF52840", "--budget", "20", "--proposer", "random",
                 "--db", db_url)
    shown = json.loads(runner.invoke(app, ["show", out["job_id"], "--json", "--candidates", "--db", db_url]).stdout)
    evaluated = [c for c in shown["candidates"] if c["status"] == "evaluated"]
    infeasible = [c for c in shown["candidates"] if c["status"] == "infeasible"]
    assert len(evaluated) == 20 and out["n_infeasible"] == len(infeasible) > 0
    assert all(c["violations"] for c in infeasible)
    assert all(not c["violations"] for c in evaluated)
    assert shown["board"].lower() == "nrf52840"


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "mnist-9"], "unknown dataset"),
    (["--dataset", "cifar10", "--budget", "0"], "--budget must be a positive number"),
    (["--dataset", "cifar10", "--budget", "-5"], "budget"),
    (["--dataset", "cifar10", "--board", "no-such-board"], "no-such-board"),
    (["--dataset", "cifar10", "--sram-kb", "-1", "--flash-kb", "10", "--clock-mhz", "80"],
     "--sram-kb must be a positive number"),
    (["--dataset", "cifar10", "--sram-kb", "64"], "flash_kb"),
    (["--dataset", "cifar10", "--proposer", "genius"], "proposer"),
    (["--dataset", "cifar10", "--proposer", "llm"], "AUTOMCU_LLM_BASE_URL"),
])
def test_bad_input_is_one_line_and_stores_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "bad.db"
    result = runner.invoke(app, ["search", "--quiet", "--db", f"sqlite:///{db}", *args])
    assert result.exit_code != 0
    assert message.lower() in result.output.lower()
    assert "Traceback" not in result.output
    assert n_jobs(db) == 0


def test_unwritable_db_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["search", "--dataset", "cifar10", "--db", f"sqlite:///{blocker}/x/a.db"])
    assert result.exit_code != 0 and "cannot create database folder" in result.output
    assert "Traceback" not in result.output


def test_batch_yaml_and_jobs_listing(tmp_path: Path, db_url: str) -> None:
    f = tmp_path / "batch.yaml"
    f.write_text("- {dataset: cifar10, budget: 10, seed: 1}\n"
                 "- {dataset: ImageNet16-120, board: STM32F746, budget: 10, proposer: random}\n")
    result = runner.invoke(app, ["batch", str(f), "--json", "--db", db_url])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["succeeded", "succeeded"]
    assert rows[1]["spec"]["board"] == "STM32F746" and rows[1]["n_evaluated"] == 10
    listed = json.loads(runner.invoke(app, ["jobs", "--json", "--db", db_url]).stdout)
    assert [j["id"] for j in listed] == [rows[1]["job_id"], rows[0]["job_id"]]  # newest first
    assert {"id", "status", "dataset", "board", "created_at"} <= set(listed[0])


def test_batch_rejects_a_bad_entry_before_running_any(tmp_path: Path) -> None:
    f = tmp_path / "batch.json"
    f.write_text(json.dumps([{"dataset": "cifar10", "budget": 5}, {"dataset": "cifar10", "budget": -1}]))
    db = tmp_path / "b.db"
    result = runner.invoke(app, ["batch", str(f), "--db", f"sqlite:///{db}"])
    assert result.exit_code != 0 and "search #2" in result.output
    assert n_jobs(db) == 0


def test_show_unknown_job(db_url: str) -> None:
    result = runner.invoke(app, ["show", "nope", "--db", db_url])
    assert result.exit_code != 0 and "no job 'nope'" in result.output


def test_show_lineage_of_the_winner_walks_back_to_a_root(db_url: str) -> None:
    found = search("--dataset", "cifar10", "--budget", "40", "--seed", "3", "--db", db_url)
    shown = runner.invoke(app, ["show", found["job_id"], "--lineage", "best", "--json", "--db", db_url])
    assert shown.exit_code == 0, shown.output
    chain = json.loads(shown.stdout)["lineage"]
    assert chain[-1]["arch"] == found["best"]["arch"] and all(link["reason"] for link in chain)
    for older, newer in itertools.pairwise(chain):
        assert older["step"] <= newer["step"]  # a parent was proposed no later than its child
    assert runner.invoke(app, ["show", found["job_id"], "--lineage", "best", "--db", db_url]).exit_code == 0
    bad = runner.invoke(app, ["show", found["job_id"], "--lineage", "not-an-arch", "--db", db_url])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_the_default_search_path_never_imports_torch(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from automcu.cli.app import app; "
            "r = CliRunner().invoke(app, ['search', '--dataset', 'cifar10', '--budget', '10', '--board', 'STM32F746', "
            "'--json', '--quiet']); assert r.exit_code == 0, r.output; print('torch' in sys.modules)")
    env = {**os.environ, "AUTOMCU_DATA_DIR": str(tmp_path)}
    env.pop("AUTOMCU_DB_URL", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"

"""Searching on real data: the planner trains each feasible candidate (digits, bundled with scikit-learn)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agents.feasibility import macro_for
from automcu.cli.app import app
from automcu.data.realdata import TRAIN_C, TRAIN_N
from automcu.jobs.spec import JobSpec

pytest.importorskip("torch")
runner = CliRunner()


def test_digits_search_trains_every_evaluated_candidate(db_url: str) -> None:
    res = runner.invoke(app, ["search", "--dataset", "digits", "--board", "nRF52840", "--budget", "3", "--epochs", "3",
                              "--seed", "1", "--json", "--quiet", "--db", db_url])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["status"] == "succeeded" and out["n_evaluated"] == 3
    assert out["best"]["val_acc"] > 30  # ten classes: chance is 10 %
    assert out["simulated_train_seconds"] > 0  # measured training time, not a table's
    shown = json.loads(runner.invoke(app, ["show", out["job_id"], "--candidates", "--json", "--db", db_url]).stdout)
    evaluated = [c for c in shown["candidates"] if c["status"] == "evaluated"]
    assert len({c["val_acc"] for c in evaluated}) >= 2  # each arch really trained, not one number for all
    text = runner.invoke(app, ["show", out["job_id"], "--db", db_url]).output
    assert "measured training" in text and "GPU-h" not in text  # real training, not NAS-Bench-201's table


def test_real_data_feasibility_estimates_the_trained_network() -> None:
    m = macro_for("fashion-mnist")
    assert (m.C, m.N, m.in_ch, m.hw, m.classes) == (TRAIN_C, TRAIN_N, 1, 28, 10)
    assert macro_for("digits").hw == 8 and macro_for("cifar10").C == 16


@pytest.mark.parametrize(("spec", "words"), [
    ({"dataset": "cifar10", "epochs": 5}, "12- and 200-epoch"),
    ({"dataset": "cifar10", "data_path": "/tmp"}, "real-data training"),
    ({"dataset": "svhn"}, "digits"),
])
def test_bad_real_data_specs_are_refused(spec: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        JobSpec(**spec)


def test_a_missing_dataset_folder_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    res = runner.invoke(app, ["search", "--dataset", "fashion-mnist", "--data", str(tmp_path / "nope"),
                              "--budget", "2", "--db", f"sqlite:///{db}"])
    assert res.exit_code == 2 and "nope" in res.output and "Traceback" not in res.output
    assert not db.exists() or sqlite3.connect(db).execute("select count(*) from jobs").fetchone()[0] == 0

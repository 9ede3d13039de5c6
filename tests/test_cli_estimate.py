"""`automcu estimate` and `automcu boards` through the Typer app."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from automcu.cli.app import app

runner = CliRunner()
FIELDS = {"arch", "index", "flash_bytes", "peak_sram_bytes", "latency_ms", "macs", "params", "feasible", "violations"}


def test_estimate_json_contract() -> None:
    r = runner.invoke(app, ["estimate", "--arch", "1462", "--board", "stm32f411", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert FIELDS <= set(out)
    assert out["index"] == 1462 and out["feasible"] is False
    assert {v["resource"] for v in out["violations"]} == {"flash", "sram"}
    assert "breakdown" in out and out["breakdown"]["flash"]["runtime_code"] > 0


def test_estimate_custom_spec_equals_board_numbers() -> None:
    a = json.loads(runner.invoke(app, ["estimate", "--arch", "6111", "--sram-kb", "320", "--flash-kb", "1024",
                                       "--clock-mhz", "216", "--core", "cortex-m7", "--json"]).stdout)
    b = json.loads(runner.invoke(app, ["estimate", "--arch", "6111", "--board", "STM32F746", "--json"]).stdout)
    assert a["latency_ms"] == b["latency_ms"] and a["macs"] == b["macs"]
    # the board adds its runtime code/SRAM; the bare custom spec has none
    assert b["flash_bytes"] - a["flash_bytes"] == b["breakdown"]["flash"]["runtime_code"]


def test_estimate_all_csv(tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    r = runner.invoke(app, ["estimate", "--all", "--board", "RP2040", "--max-latency-ms", "2000", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 15625 and FIELDS <= set(rows[0])
    assert [int(x["index"]) for x in rows[:3]] == [0, 1, 2]
    assert any(x["feasible"] == "False" for x in rows) and any(x["feasible"] == "True" for x in rows)


def test_bad_input_one_line_nonzero(tmp_path: Path) -> None:
    cases = [
        ["estimate", "--arch", "1", "--board", "STM32F999"],
        ["estimate", "--arch", "|bogus|", "--board", "STM32F746"],
        ["estimate", "--arch", "99999", "--board", "STM32F746"],
        ["estimate", "--arch", "1", "--sram-kb", "-1", "--flash-kb", "1", "--clock-mhz", "1", "--core", "cortex-m7"],
        ["estimate", "--arch", "1", "--sram-kb", "100"],
        ["estimate", "--all", "--board", "STM32F746", "--out", str(tmp_path / "no" / "dir" / "x.csv")],
        ["estimate", "--arch", "1", "--board", "STM32F746", "--dataset", "imagenet-1k"],
    ]
    for args in cases:
        r = runner.invoke(app, args)
        assert r.exit_code != 0, args
        assert "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) <= 2, r.output


def test_boards_json() -> None:
    r = runner.invoke(app, ["boards", "--json"])
    assert r.exit_code == 0
    names = {b["name"] for b in json.loads(r.stdout)}
    assert {"STM32F746", "RP2040", "ESP32-S3"} <= names
    assert runner.invoke(app, ["boards"]).exit_code == 0

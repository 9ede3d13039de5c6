"""Text output a user meets: core spellings, out-of-range arch, the search's target line, ids at 80 columns."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from automcu.cli.app import app

runner = CliRunner()


def test_core_spellings_are_accepted_and_the_error_lists_them() -> None:
    base = ["estimate", "--arch", "6111", "--sram-kb", "64", "--flash-kb", "256", "--clock-mhz", "80", "--json"]
    a = runner.invoke(app, [*base, "--core", "cortex-m4"])
    b = runner.invoke(app, [*base, "--core", "cortex-m4f"])
    assert a.exit_code == 0 and json.loads(a.stdout) == json.loads(b.stdout)
    bad = runner.invoke(app, [*base, "--core", "m9"])
    assert bad.exit_code == 2 and "cortex-m4" in bad.output and "m7" in bad.output


def test_negative_arch_is_out_of_range() -> None:
    r = runner.invoke(app, ["estimate", "--arch", "-1", "--board", "STM32F746"])
    assert r.exit_code == 2 and "out of range" in r.output


def test_search_text_names_its_target_or_says_unconstrained(db_url: str) -> None:
    r = runner.invoke(app, ["search", "--dataset", "cifar10", "--board", "STM32F411", "--max-latency-ms", "300",
                            "--budget", "10", "--quiet", "--db", db_url], env={"COLUMNS": "80"})
    assert r.exit_code == 0 and "board STM32F411" in r.stdout and "latency <= 300 ms" in r.stdout
    assert "of 10 proposed fit" in r.stdout
    u = runner.invoke(app, ["search", "--dataset", "cifar10", "--budget", "5", "--quiet", "--db", db_url])
    assert u.exit_code == 0 and "unconstrained" in u.stdout
    ids = json.loads(runner.invoke(app, ["jobs", "--json", "--db", db_url]).stdout)
    listed = runner.invoke(app, ["jobs", "--db", db_url], env={"COLUMNS": "80"}).stdout
    rows = ids if isinstance(ids, list) else ids.get("jobs", ids.get("items", []))
    assert rows and all(row["id"] in listed for row in rows)

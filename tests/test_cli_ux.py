"""Issue 19, the CLI as a user meets it: lazy start-up, short ids, the candidates listing, one memory
wording (model/arena + runtime = total against the limit), stop reason and space count, tables at 80
columns, one "positive number" wording, third-party noise hidden unless --verbose."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from automcu.cli.app import _argv, full_app, help_app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _modules_after(args: list[str]) -> set[str]:
    """The modules a fresh ``automcu ARGS`` process has imported when it exits."""
    code = ("import sys\nsys.argv = ['automcu', *sys.argv[1:]]\nfrom automcu.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('\\n'.join(sorted(sys.modules)), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    return set(proc.stderr.split())


def _search(db_url: str, *args: str) -> dict[str, Any]:
    r = runner.invoke(full_app(), ["search", "--json", "--quiet", "--db", db_url, *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# ----- start-up ----------------------------------------------------------------------------------
def test_help_standin_lists_the_same_commands_as_the_full_app() -> None:
    env = {"COLUMNS": "100"}
    full = runner.invoke(full_app(), ["--help"], env=env)
    light = runner.invoke(help_app(), ["--help"], env=env)
    assert full.exit_code == light.exit_code == 0
    assert light.output == full.output


def test_help_imports_no_command_module_nor_the_database() -> None:
    mods = _modules_after(["--help"])
    assert "automcu.cli.app" in mods
    heavy = {m for m in mods if m.endswith("_cmd") or m.split(".")[0] in ("sqlalchemy", "numpy", "alembic", "agents")}
    assert not heavy, sorted(heavy)


def test_jobs_and_show_do_not_load_the_planner_or_alembic(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    job = _search(db_url, "--dataset", "cifar10", "--board", "STM32F411", "--budget", "5")["job_id"]
    monkeypatch.setenv("AUTOMCU_DB_URL", db_url)
    for args in (["jobs"], ["show", job[:6]]):
        mods = _modules_after(args)
        assert "automcu.storage.summaries" in mods  # the command really ran (either read path)
        loaded = {m for m in mods if m.split(".")[0] == "alembic" or m.startswith(("automcu.engine", "rich.progress",
                                                                                   "agents.proposers"))}
        assert not loaded, (args, sorted(loaded))


def test_verbose_after_the_command_moves_to_the_group() -> None:
    assert _argv(["compress", "--out", "d", "--verbose"]) == ["--verbose", "compress", "--out", "d"]
    assert _argv(["jobs"]) == ["jobs"]
    assert _argv(["show", "--", "--verbose"]) == ["show", "--", "--verbose"]


def test_fast_schema_check_agrees_with_alembic() -> None:
    from automcu.storage.migrate import head_revision, linear_head

    assert linear_head() == head_revision()


# ----- short ids ---------------------------------------------------------------------------------
def test_job_ids_accept_a_unique_prefix_and_refuse_an_ambiguous_one(db_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import automcu.storage.repository as repo
    from automcu.cli.common import open_db
    from automcu.jobs.spec import JobSpec

    ids = iter(["abc111000000", "abc222000000"])
    monkeypatch.setattr(repo, "new_job_id", lambda: next(ids))
    db = open_db(db_url)
    for _ in range(2):
        repo.create_job(db, JobSpec(dataset="cifar10", budget=5), None)
    app = full_app()
    amb = runner.invoke(app, ["show", "abc", "--db", db_url])
    assert amb.exit_code == 2 and "ambiguous" in amb.output and "abc111000000" in amb.output
    assert "Traceback" not in amb.output
    one = runner.invoke(app, ["show", "abc2", "--json", "--db", db_url])
    assert one.exit_code == 0 and json.loads(one.stdout)["id"] == "abc222000000"
    none = runner.invoke(app, ["show", "zzz", "--db", db_url])
    assert none.exit_code == 2 and "no job 'zzz'" in none.output
    cancel = runner.invoke(app, ["cancel", "abc1", "--json", "--db", db_url])
    assert cancel.exit_code == 0 and json.loads(cancel.stdout)["id"] == "abc111000000"
    wild = runner.invoke(app, ["show", "%", "--db", db_url])  # LIKE wildcards are literal
    assert wild.exit_code == 2 and "no job" in wild.output


# ----- show --candidates -------------------------------------------------------------------------
def test_show_candidates_text_lists_a_sorted_page_with_full_archs(db_url: str) -> None:
    out = _search(db_url, "--dataset", "cifar10", "--board", "nRF52840", "--budget", "12", "--proposer", "random")
    app = full_app()
    full = json.loads(runner.invoke(app, ["show", out["job_id"], "--json", "--candidates", "--db", db_url]).stdout)
    r = runner.invoke(app, ["show", out["job_id"][:5], "--candidates", "--limit", "4", "--db", db_url],
                      env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert f"candidates of job {out['job_id']}: {len(full['candidates'])}" in r.stdout and "page 1 of" in r.stdout
    evaluated = sorted((c for c in full["candidates"] if c["status"] == "evaluated"), key=lambda c: -c["val_acc"])
    listed = r.stdout.split("candidates of job", 1)[1]
    for c in evaluated[:4]:  # the best four, archs never cut
        assert c["arch"] in listed
    assert evaluated[4]["arch"] not in listed
    assert "--page 2" in r.stdout
    lat = runner.invoke(app, ["show", out["job_id"], "--candidates", "--sort", "latency", "--limit", "1",
                              "--db", db_url])
    fastest = min((c for c in full["candidates"] if c["latency_ms"] is not None), key=lambda c: c["latency_ms"])
    assert lat.exit_code == 0 and fastest["arch"] in lat.stdout.split("candidates of job", 1)[1]
    bad = runner.invoke(app, ["show", out["job_id"], "--candidates", "--sort", "fame", "--db", db_url])
    assert bad.exit_code == 2 and "--sort" in bad.output


# ----- memory, stop reason, space count ----------------------------------------------------------
def test_memory_is_model_plus_runtime_against_the_limit_everywhere(db_url: str) -> None:
    from automcu.hardware.catalog import get_board

    board = get_board("STM32F411")
    out = _search(db_url, "--dataset", "cifar10", "--board", "STM32F411", "--budget", "8")
    best = out["best"]
    assert best["flash_model_bytes"] + best["flash_runtime_bytes"] == best["flash_total_bytes"] == best["flash_bytes"]
    assert best["sram_arena_bytes"] + best["sram_runtime_bytes"] == best["sram_total_bytes"] == best["peak_sram_bytes"]
    assert best["flash_runtime_bytes"] == int(board.runtime_flash_kb * 1024) > 0
    assert best["flash_limit_bytes"] == board.flash_bytes and best["sram_limit_bytes"] == board.sram_bytes
    est = json.loads(runner.invoke(full_app(), ["estimate", "--arch", str(best["index"]), "--board", "STM32F411",
                                                "--json"]).stdout)
    for key in ("flash_model_bytes", "flash_runtime_bytes", "sram_arena_bytes", "sram_runtime_bytes"):
        assert est[key] == best[key]
    text = runner.invoke(full_app(), ["show", out["job_id"], "--db", db_url]).stdout
    assert "Flash: model " in text and "+ runtime code" in text and "SRAM: arena " in text and "free)" in text
    etext = runner.invoke(full_app(), ["estimate", "--arch", "6111", "--board", "STM32F411"]).stdout
    assert "Flash: overflows by" in etext and "+ runtime code 92,160 B" in etext


def test_search_says_why_it_stopped_and_counts_the_space(db_url: str) -> None:
    from agents.feasibility import feasible_set
    from automcu.hardware.catalog import get_board

    out = _search(db_url, "--dataset", "cifar10", "--board", "STM32F411", "--max-latency-ms", "300", "--budget", "6")
    assert out["stop_reason"] and "budget" in out["stop_reason"]
    hw = get_board("STM32F411")
    assert out["space_feasible"] == len(feasible_set("cifar10", hw, 300.0)) and out["space_size"] == 15625
    r = runner.invoke(full_app(), ["search", "--dataset", "cifar10", "--board", "STM32F411", "--max-latency-ms",
                                   "300", "--budget", "6", "--quiet", "--db", db_url])
    assert f"{out['space_feasible']:,} of 15,625 archs of the space fit" in r.stdout
    assert "stopped: budget" in r.stdout
    free = _search(db_url, "--dataset", "cifar10", "--budget", "3")
    assert free["space_feasible"] is None  # unconstrained: nothing counted, nothing guessed


# ----- tables, help, wording ---------------------------------------------------------------------
def test_boards_names_and_cores_are_whole_at_80_columns() -> None:
    from automcu.hardware.catalog import list_boards

    r = runner.invoke(full_app(), ["boards"], env={"COLUMNS": "80"})
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for b in list_boards():
        assert any(line.startswith(b.name + " ") and f" {b.core} " in line for line in lines), b.name


def test_batch_help_says_one_bad_entry_rejects_the_file() -> None:
    r = runner.invoke(full_app(), ["batch", "--help"], env={"COLUMNS": "200"})
    text = " ".join(r.stdout.split())
    assert "rejects the whole file" in text and "does not stop the others" in text


@pytest.mark.parametrize("args", [
    ["search", "--dataset", "cifar10", "--sram-kb", "0", "--flash-kb", "10", "--clock-mhz", "80"],
    ["search", "--dataset", "cifar10", "--max-latency-ms", "-1"],
    ["search", "--dataset", "cifar10", "--budget", "0"],
    ["estimate", "--arch", "1", "--max-latency-ms", "0"],
    ["estimate", "--arch", "1", "--sram-kb", "0", "--flash-kb", "10", "--clock-mhz", "80"],
])
def test_one_wording_for_positive_numbers(args: list[str], db_url: str) -> None:
    r = runner.invoke(full_app(), [*args, *(["--db", db_url] if args[0] == "search" else [])])
    assert r.exit_code == 2 and "must be a positive number, got" in r.output, r.output
    assert "Input should be" not in r.output


# ----- noise -------------------------------------------------------------------------------------
def test_converter_noise_is_captured_unless_verbose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    from automcu.cli import noise

    (tmp_path / "noisy_mod_a.py").write_text("import os\nos.write(2, b'WARNING: All log messages before absl\\n')\n")
    (tmp_path / "noisy_mod_b.py").write_text("import os\nos.write(2, b'loud b\\n')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("AUTOMCU_VERBOSE", raising=False)
    monkeypatch.setattr(noise, "_state", {"verbose": False})
    captured = noise.preload_quietly(("noisy_mod_a", "not_installed_xyz"))
    assert "absl" in captured and "absl" not in capfd.readouterr().err
    monkeypatch.setattr(noise, "_state", {"verbose": True})
    noise.preload_quietly(("noisy_mod_b",))
    assert "loud b" in capfd.readouterr().err
    for m in ("noisy_mod_a", "noisy_mod_b"):
        sys.modules.pop(m, None)


def test_configure_sets_levels_before_the_converter_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from automcu.cli import noise

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("AUTOMCU_VERBOSE", raising=False)
    monkeypatch.setattr(noise, "_state", {"verbose": False})
    noise.configure(False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert logging.getLogger("torchao").level == logging.ERROR
    noise.configure(True)
    assert logging.getLogger("torchao").level == logging.NOTSET
    monkeypatch.delenv("AUTOMCU_VERBOSE", raising=False)
    noise._state["verbose"] = False


def test_report_compares_model_with_model() -> None:
    from automcu.compress.pipeline import memory_split
    from automcu.compress.report import report_markdown

    region = {"name": "flash", "model_bytes": 57136, "kernel_scratch_bytes": 0, "runtime_bytes": 92160,
              "total_bytes": 149296, "limit_bytes": 524288}
    sram = {"name": "sram", "model_bytes": 19248, "kernel_scratch_bytes": 512, "runtime_bytes": 10240,
            "total_bytes": 30000, "limit_bytes": 131072}
    r = {"dataset": "digits", "board": "STM32F411", "arch": "a", "index": 1, "macro": {}, "samples": {"train": 1,
         "test": 1}, "deployed": "ptq", "flash_bytes": 57136, "arena_bytes": 19248, "float_acc": 90.0,
         "ptq": {"int8_acc": 89.0, "drop_pp": 1.0}, "qat": None, "int8_acc_source": "tflite_micro", "kd": None,
         "estimate": {"flash_bytes": 148942, "flash_model_bytes": 56782, "arena_bytes": 19000},
         "latency_ms": 3.0, "messages": ["Flash: model 57,136 B + runtime code 92,160 B = 149,296 B of 524,288 B"],
         "fits": True, "artifacts": {}, "seconds": {}, "regions": [region, sram]}
    md = report_markdown(r)
    assert "148,942" not in md  # the estimate's total is not set against the model alone
    assert "estimated model 56,782 B (-0.6 %)" in md
    split = memory_split(r)
    assert split["flash_model_bytes"] + split["flash_runtime_bytes"] == split["flash_total_bytes"] == 149296
    assert split["sram_arena_bytes"] + split["sram_kernel_scratch_bytes"] + split["sram_runtime_bytes"] == 30000


def test_a_student_that_lost_accuracy_to_kd_is_told_so() -> None:
    from automcu.compress.report import kd_loss_note, report_markdown

    assert kd_loss_note(None) is None and kd_loss_note(0.0) is None and kd_loss_note(0.4) is None
    note = kd_loss_note(-1.25)
    assert note and "1.25 pp higher" in note and "--teacher" in note
    kd = {"teacher": {"arch": "t", "kind": "checkpoint", "test_acc": 93.5}, "student_kd_acc": 85.0,
          "student_no_kd_acc": 86.25, "kd_gain": -1.25, "temperature": 4.0, "alpha": 0.7, "beta": 0.0}
    r = {"dataset": "digits", "board": "STM32F411", "arch": "a", "index": 1, "macro": {}, "samples": {"train": 1,
         "test": 1}, "deployed": "ptq", "flash_bytes": 9000, "arena_bytes": 9000, "float_acc": 85.0,
         "ptq": {"int8_acc": 84.8, "drop_pp": 0.2}, "qat": None, "int8_acc_source": "tflite_micro", "kd": kd,
         "estimate": {}, "latency_ms": 3.0, "messages": [], "fits": True, "artifacts": {}, "seconds": {}}
    md = report_markdown(r)
    assert "KD lowered accuracy here" in md and note in md
    assert "KD lowered" not in report_markdown({**r, "kd": {**kd, "kd_gain": 0.3, "student_no_kd_acc": 84.7}})


def test_the_compress_command_warns_when_kd_cost_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    from automcu.cli.compress_cmd import _print_human

    s = {"dataset": "fashion-mnist", "float_acc": 85.0, "int8_acc": 84.8, "deployed": "qat", "ptq_int8_acc": 84.5,
         "qat_int8_acc": 84.8, "kd_gain": -1.25, "fits": True, "board": "STM32F411", "latency_ms": 6.0,
         "artifacts": {"dir": "b", "report": "b/report.md"}}
    _print_human(s)
    _print_human({**s, "kd_gain": 0.5})
    text = " ".join(capsys.readouterr().out.split())
    assert text.count("warning:") == 1 and "1.25 pp higher" in text and "gain: +0.50 pp" in text


def test_batch_table_keeps_ids_whole_at_80_columns_and_names_latency_limits(tmp_path: Path, db_url: str) -> None:
    f = tmp_path / "b.yaml"
    f.write_text("- {dataset: cifar10, board: STM32F746, budget: 3}\n"
                 "- {dataset: ImageNet16-120, budget: 3, max_latency_ms: 300}\n")
    r = runner.invoke(full_app(), ["batch", str(f), "--db", db_url], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    ids = [j["id"] for j in json.loads(runner.invoke(full_app(), ["jobs", "--json", "--db", db_url]).stdout)]
    assert len(ids) == 2 and all(i in r.stdout for i in ids)
    assert "STM32F746" in r.stdout and "<= 300 ms" in r.stdout and "unconstrained" not in r.stdout

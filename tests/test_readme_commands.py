"""Every command of the README's "Using it" block, run as written (JOB_ID replaced by a real job's id)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automcu.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"
runner = CliRunner()


def using_it_commands() -> list[str]:
    """The commands of the first bash block under "## Using it", comments dropped, `;` split."""
    text = README.read_text()
    section = text.split("## Using it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README has no bash block under ## Using it"
    commands: list[str] = []
    for line in block.group(1).splitlines():
        line = line.split(" #", 1)[0].strip()
        commands += [c.strip() for c in line.split(" ; ") if c.strip()]
    return commands


def test_readme_block_is_parsed() -> None:
    commands = using_it_commands()
    assert len(commands) >= 10 and all(c.startswith("automcu ") for c in commands)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _serve_as_written(argv: list[str], env: dict[str, str]) -> None:
    if not _port_free(8000):
        pytest.skip("optional resource: port 8000 is in use; `automcu serve` is run as written on its default port")
    proc = subprocess.Popen([sys.executable, "-c", "from automcu.cli.app import main; main()", *argv[1:]], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=2) as r:
                    assert r.status == 200
                    return
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "serve exited"
                time.sleep(0.5)
        pytest.fail("automcu serve did not answer GET /health within 60 s")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.skipif(not __import__("importlib").util.find_spec("tflite_runtime")
                    and not __import__("importlib").util.find_spec("ai_edge_litert")
                    and not __import__("importlib").util.find_spec("tensorflow"),
                    reason="verify needs the tflite extra")
def test_every_using_it_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "searches.yaml").write_text(
        "- {dataset: cifar10, board: STM32F746, max_latency_ms: 500, budget: 10}\n"
        "- {dataset: cifar100, board: nRF52840, budget: 10}\n")
    job_id = ""
    for command in using_it_commands():
        argv = shlex.split(command.replace("JOB_ID", job_id or "JOB_ID"))
        assert argv[0] == "automcu"
        if argv[1] == "serve":
            _serve_as_written(argv, {**os.environ})
            continue
        result = runner.invoke(app, argv[1:])
        if argv[1] in ("resume", "cancel"):  # the block's job has finished: one clear line, exit 2, nothing changed
            assert result.exit_code == 2 and "has already" in result.output, f"{command}: {result.output}"
            assert job_id in result.output and len(result.output.strip().splitlines()) == 1
            continue
        assert result.exit_code == 0, f"{command}: {result.output}"
        if argv[1] == "search" and "--json" in argv:
            job_id = json.loads(result.stdout)["job_id"]
        if argv[1] == "estimate" and "--out" in argv:
            assert (tmp_path / argv[argv.index("--out") + 1]).stat().st_size > 0
    assert job_id

"""The dashboard in a real headless Chromium (Debian's), against the real server (uvicorn + a worker process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install -y chromium); Playwright's own browser download is never used"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`automcu serve` on a random port with a temp SQLite DB and one worker; yields (base URL, token)."""
    from api.core.security import create_token
    from automcu.storage.db import open_database

    db_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    token = create_token(open_database(db_url), "e2e-user")
    port = _free_port()
    env = {**os.environ, "AUTOMCU_DB_URL": db_url, "AUTOMCU_DATA_DIR": str(tmp_path / "data"),
           "AUTOMCU_SIMULATED_TIME_SCALE": "3e-5", "AUTOMCU_SSE_POLL_SECONDS": "0.2"}
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "automcu.cli.app", "serve", "--port", str(port), "--workers", "1",
                             "--poll", "0.2", "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + (tmp_path / "server.log").read_text())
            time.sleep(0.2)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_sign_in_submit_watch_and_see_the_pareto_plot(server: tuple[str, str]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e .[api-test]")
    base, token = server
    SHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/")

        page.fill("#token", "amcu_wrong")
        page.click("#signin-form button")
        page.wait_for_selector("#signin-error:has-text('not accepted')")
        page.fill("#token", token)
        page.click("#signin-form button")
        page.wait_for_selector("#app:not([hidden])")
        assert page.evaluate("sessionStorage.getItem('automcu.token')") == token

        # a first job, compared later: unconstrained evolution
        page.select_option("#f-board", "")
        page.fill("#f-budget", "15")
        page.select_option("#f-proposer", "evolution")
        page.click("#submit-job")
        page.wait_for_selector("#j-status:has-text('succeeded')", timeout=60_000)
        first = page.inner_text("#j-id")

        # the job under test: a catalog board (limits shown), a latency limit, task text, random proposals
        # (blind to the limits, so some are rejected as infeasible)
        page.select_option("#f-board", "STM32F411")
        assert "SRAM 128" in page.inner_text("#board-limits")
        page.fill("#f-task", "classify CIFAR-10 images on a small Cortex-M4 board")
        page.fill("#f-latency", "2000")
        page.fill("#f-budget", "30")
        page.select_option("#f-proposer", "random")
        page.click("#submit-job")
        page.wait_for_function(f"document.querySelector('#j-id').textContent !== '{first}'")
        job_id = page.inner_text("#j-id")
        page.wait_for_selector("#events li", timeout=30_000)  # live events arrive over SSE
        page.wait_for_selector("#j-status:has-text('succeeded')", timeout=90_000)
        page.wait_for_selector("#events li.end")
        assert "30 of 30 evaluated" in page.inner_text("#j-counts")

        # Pareto: feasible dots, the best feasible star, infeasible ones on the rug with their reason
        page.wait_for_selector("#pareto .mk-star")
        assert page.locator("#pareto .feasible .mk-dot").count() == 30
        rug = page.locator("#pareto .rug .mk-x")
        assert rug.count() >= 1
        rug.last.hover()  # the topmost one (others may lie under it)
        assert "limit" in page.inner_text("#tooltip")
        assert page.locator("#pareto .limit").count() == 1  # the board's Flash limit
        page.select_option("#pareto-x", "peak_sram_bytes")
        assert page.locator("#pareto .limit").count() == 1
        assert page.locator("#curve .series-line").count() == 1
        assert "Winner" in page.inner_text("#winner")
        flash = page.inner_text("#winner .mem-flash")  # model + runtime = total of the limit, as the CLI says
        assert " model + " in flash and " runtime = " in flash and "of 512" in flash, flash
        assert " arena + " in page.inner_text("#winner .mem-sram")
        assert page.locator("#cands tbody tr").count() == 15
        page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

        # two jobs on one plot
        page.check(f"input.cmp[value='{first}']")
        page.check(f"input.cmp[value='{job_id}']")
        page.click("#compare-btn")
        page.wait_for_selector("#cmp-curve .series-line >> nth=1")
        assert page.locator("#cmp-table tbody tr").count() == 2
        page.screenshot(path=str(SHOTS / "dashboard-compare.png"), full_page=True)
        assert not errors, errors
        browser.close()

    job = httpx.get(f"{base}/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert job["status"] == "succeeded" and job["board"] == "STM32F411" and job["n_evaluated"] == 30

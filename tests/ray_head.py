"""A throwaway Ray head on 127.0.0.1 for tests (``ray start --head --block`` in its own process group).

It is stopped by killing that process group — the processes this helper started — never with ``ray stop``
(which would stop every Ray on the machine). Tests skip, saying why, when the ``ray`` extra is missing.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayHead:
    def __init__(self, num_cpus: int = 2) -> None:
        self.port = _free_port()
        self.num_cpus = num_cpus
        self.tmp = Path(tempfile.mkdtemp(prefix="automcu-ray-"))
        # the cluster's own auth token, made here: nothing is read from or written to ~/.ray
        self.token_path = self.tmp / "auth_token"
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> RayHead:
        ray_bin = Path(sys.executable).with_name("ray")
        cmd = [str(ray_bin), "start", "--head", "--block", f"--port={self.port}", "--node-ip-address=127.0.0.1",
               f"--num-cpus={self.num_cpus}", "--include-dashboard=false", "--disable-usage-stats",
               "--object-store-memory=100000000", f"--temp-dir={self.tmp}"]
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
               "RAY_AUTH_TOKEN_PATH": str(self.token_path)}
        env.pop("RAY_AUTH_TOKEN", None)
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray head exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(1.0)  # the GCS listens before the raylet has registered
                return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("ray head did not come up")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            pgid = os.getpgid(self.proc.pid)
            os.killpg(pgid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(pgid, signal.SIGKILL)  # whatever of the group is left
            except ProcessLookupError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def task_pids(name: str = "evaluate_task") -> list[int]:
    """Pids of Ray worker processes executing ``name`` now (Ray titles them ``ray::<name>``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(f"ray::{name}".encode()):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    """A head with token auth on and its own token; this process (the Ray driver) and the automcu worker
    processes the tests start inherit ``RAY_AUTH_MODE``/``RAY_AUTH_TOKEN_PATH``, set before ray is imported."""
    head = RayHead()
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(head.token_path))
    os.environ.pop("RAY_AUTH_TOKEN", None)
    try:
        pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'automcu[ray]'")
        yield head.start()
    finally:
        head.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

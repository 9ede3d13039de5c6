"""Ray token auth: the worker says in one line what to do without a token; `automcu ray-token` makes one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from automcu.executors.ray_auth import ensure_token_file, missing_token_message, token_source

ROOT = Path(__file__).resolve().parents[1]


def test_no_token_anywhere_is_one_actionable_line(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "RAY_AUTH_MODE": "token"}
    msg = missing_token_message(env)
    assert msg is not None and "\n" not in msg
    assert "RAY_AUTH_TOKEN_PATH" in msg and "ray get-auth-token --generate" in msg
    assert missing_token_message({"HOME": str(tmp_path)}) is None  # auth off: nothing to say
    assert "names no readable" in (missing_token_message({**env, "RAY_AUTH_TOKEN_PATH": str(tmp_path / "x")}) or "")


def test_token_sources_in_rays_order(tmp_path: Path) -> None:
    token = tmp_path / "tok"
    assert ensure_token_file(token) and not ensure_token_file(token)  # made once, then kept
    assert token.stat().st_mode & 0o777 == 0o600 and len(token.read_text()) == 64
    env = {"HOME": str(tmp_path / "home"), "RAY_AUTH_MODE": "token"}
    assert token_source({**env, "RAY_AUTH_TOKEN": "abc"}) == "$RAY_AUTH_TOKEN"
    assert str(token) in (token_source({**env, "RAY_AUTH_TOKEN_PATH": str(token)}) or "")
    (tmp_path / "home" / ".ray").mkdir(parents=True)
    (tmp_path / "home" / ".ray" / "auth_token").write_text("t" * 64)
    assert token_source(env) is not None and missing_token_message(env) is None


def test_worker_refuses_ray_without_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH_TOKEN")}
    env.update(HOME=str(tmp_path), RAY_AUTH_MODE="token")
    cmd = [sys.executable, "-m", "automcu.cli.app", "worker", "--executor", "ray", "--exit-when-idle",
           "--db", f"sqlite:///{tmp_path / 'a.db'}"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no token was found" in lines[0], out.stderr
    assert not (tmp_path / ".ray").exists()  # nothing written to the home directory


def test_ray_token_command_creates_then_keeps(tmp_path: Path) -> None:
    target = tmp_path / "auth" / "token"
    cmd = [sys.executable, "-m", "automcu.cli.app", "ray-token", str(target), "--json"]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and '"created": true' in first.stdout
    value = target.read_text()
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert '"created": false' in second.stdout and target.read_text() == value

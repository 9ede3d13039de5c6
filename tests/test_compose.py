"""docker-compose.yml: the services, and every command and setting in it, exist in this code base."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _options(args: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def test_services_and_settings_are_real() -> None:
    from automcu.core.config import ApiSettings, ExecutorSettings, Settings

    services = _compose()["services"]
    assert set(services) == {"postgres", "ray-token", "ray-head", "ray-worker", "api", "worker"}
    known = {f"AUTOMCU_{name.upper()}" for model in (Settings, ApiSettings, ExecutorSettings)
             for name in model.model_fields}
    for name, svc in services.items():
        env = svc.get("environment", {})
        unknown = {k for k in env if k.startswith("AUTOMCU_")} - known
        assert not unknown, f"{name}: unknown settings {unknown}"
    env = services["worker"]["environment"]
    assert make_url(env["AUTOMCU_DB_URL"]).host == "postgres"
    assert make_url(env["AUTOMCU_DB_URL"]).drivername == "postgresql+psycopg"
    assert env["AUTOMCU_RAY_ADDRESS"].startswith("ray://ray-head:")
    head_cmd = services["ray-head"]["command"]
    assert f"--ray-client-server-port={env['AUTOMCU_RAY_ADDRESS'].rsplit(':', 1)[1]}" in head_cmd


def test_automcu_commands_and_options_exist() -> None:
    import typer.main

    from automcu.cli.app import app

    cli = typer.main.get_command(app)
    checked = 0
    for name, svc in _compose()["services"].items():
        cmd = svc.get("command") or []
        if not cmd or cmd[0] != "automcu":
            continue
        sub = cli.commands.get(cmd[1])  # type: ignore[attr-defined]
        assert sub is not None, f"{name}: no command `automcu {cmd[1]}`"
        opts = {o for p in sub.params for o in p.opts}
        missing = set(_options(cmd[2:])) - opts
        assert not missing, f"{name}: `automcu {cmd[1]}` has no {missing}"
        checked += 1
    assert checked == 3


def test_ray_start_options_exist() -> None:
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip("the ray extra is not installed")
    helptext = subprocess.run([str(ray_bin), "start", "--help"], capture_output=True, text=True, timeout=60).stdout
    for name in ("ray-head", "ray-worker"):
        cmd = _compose()["services"][name]["command"]
        assert cmd[:2] == ["ray", "start"]
        for opt in _options(cmd[2:]):
            assert opt in helptext, f"{name}: `ray start` has no {opt}"


def test_docker_compose_config_accepts_the_file() -> None:
    if shutil.which("docker-compose"):
        cmd = ["docker-compose", "-f", "docker-compose.yml", "config", "-q"]
    elif shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                   capture_output=True).returncode == 0:
        cmd = ["docker", "compose", "-f", "docker-compose.yml", "config", "-q"]
    else:
        pytest.skip("no docker compose client (apt-get install docker-compose)")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_ray_token_auth_is_on_and_shared() -> None:
    """Every Ray process and driver reads the token that the one-shot ray-token service writes."""
    services = _compose()["services"]
    token_cmd = services["ray-token"]["command"]
    assert token_cmd[:2] == ["automcu", "ray-token"]
    for name in ("ray-head", "ray-worker", "api", "worker"):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        assert env["RAY_AUTH_TOKEN_PATH"] == token_cmd[2], name
    assert services["ray-head"]["depends_on"]["ray-token"] == {"condition": "service_completed_successfully"}

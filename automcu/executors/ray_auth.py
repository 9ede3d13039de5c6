"""Ray token authentication: where a token is looked for, and one line that says what to do without one.

Ray (2.5x+) authenticates every connection to a cluster whose ``RAY_AUTH_MODE`` is ``token``. The head and
every worker and driver must hold the same token, found (in Ray's order) in ``RAY_AUTH_TOKEN``, in the file
named by ``RAY_AUTH_TOKEN_PATH``, or in ``~/.ray/auth_token``. ``ray get-auth-token --generate`` writes the
last; any 64-hex-digit secret works (``python3 -c "import secrets; print(secrets.token_hex(32))"``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

AUTH_MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VAR = "RAY_AUTH_TOKEN"
TOKEN_PATH_VAR = "RAY_AUTH_TOKEN_PATH"


def token_auth_enabled(env: dict[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get(AUTH_MODE_VAR, "").strip().lower() == "token"


def token_source(env: dict[str, str] | None = None) -> str | None:
    """Where Ray would read the token from (a description), or None when it would find none."""
    env = env if env is not None else dict(os.environ)
    if env.get(TOKEN_VAR, "").strip():
        return f"${TOKEN_VAR}"
    if env.get(TOKEN_PATH_VAR):
        path = Path(env[TOKEN_PATH_VAR]).expanduser()
        return f"{path} (${TOKEN_PATH_VAR})" if path.is_file() and path.read_text().strip() else None
    default = Path(env.get("HOME") or Path.home()) / ".ray" / "auth_token"
    return str(default) if default.is_file() and default.read_text().strip() else None


def missing_token_message(env: dict[str, str] | None = None) -> str | None:
    """One line for a user whose Ray has token auth on but no token to present; None when all is well."""
    env = env if env is not None else dict(os.environ)
    if not token_auth_enabled(env) or token_source(env) is not None:
        return None
    if env.get(TOKEN_PATH_VAR):
        where = f"{TOKEN_PATH_VAR}={env[TOKEN_PATH_VAR]} names no readable, non-empty file"
    else:
        where = f"none in ${TOKEN_VAR}, ${TOKEN_PATH_VAR} or ~/.ray/auth_token"
    return (f"Ray token auth is on ({AUTH_MODE_VAR}=token) but no token was found ({where}): give this process "
            f"the cluster's token with {TOKEN_PATH_VAR}=FILE or {TOKEN_VAR}=TOKEN (on a new cluster, make one "
            f"with `ray get-auth-token --generate` on the head), or set {AUTH_MODE_VAR}=disabled on a "
            "private network")


def ensure_token_file(path: Path) -> bool:
    """Write a new random token to ``path`` (mode 0600) unless one is there; True when it made one."""
    if path.is_file() and path.read_text().strip():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return True

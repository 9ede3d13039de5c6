"""Worker processes that end with the process that started them.

A pool's worker blocks on its task pipe and only notices a dead parent when it next reads it, so a parent killed
mid-run (SIGKILL, the OOM killer, a session's end) leaves its workers computing their current task as orphans.
:func:`exit_with_parent` is called first thing in a worker: a daemon thread polls the parent's pid and ends the
process once it has changed (the worker was re-parented).
"""

from __future__ import annotations

import os
import signal
import threading
import time

POLL_SECONDS = 0.5


def exit_with_parent(parent_pid: int, ignore_sigint: bool = True) -> None:
    """In a worker: end it (``os._exit``) within ``POLL_SECONDS`` of its parent's end. With ``ignore_sigint``,
    Ctrl-C (sent to the terminal's whole process group) is left to the parent, which stops its workers."""
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()

"""Capture what native code writes to file descriptors 1 and 2 (TFLM's MicroPrintf, converter logs)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass

_LOCK = threading.RLock()


@dataclass
class Captured:
    text: str = ""


def _flush_all() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def capture_output() -> Iterator[Captured]:
    """Redirect fds 1 and 2 into a temporary file for the block; the text is in ``.text`` after it.

    Process-wide (file descriptors are), so guarded by a lock; keeps ``--json`` stdout clean of
    native log lines. Python-level writes are sent to the same place even when ``sys.stdout``/``sys.stderr``
    were swapped for other objects (an embedding application, a test runner's capture): the converters print
    their progress with ``print``.
    """
    box = Captured()
    with _LOCK, tempfile.TemporaryFile(mode="w+b") as tmp:
        _flush_all()
        saved = (os.dup(1), os.dup(2))
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        py = open(tmp.fileno(), "w", closefd=False, buffering=1, errors="replace")
        try:
            with contextlib.redirect_stdout(py), contextlib.redirect_stderr(py):
                yield box
        finally:
            py.close()  # flushes; the descriptor stays open (closefd=False)
            _flush_all()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            box.text = tmp.read().decode(errors="replace")

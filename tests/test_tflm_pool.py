"""TFLite Micro outputs split over worker processes (:mod:`automcu.deploy.tflm_pool`): the same numbers as one
in-process interpreter, progress as chunks finish, the worker count from the caller or ``AUTOMCU_TFLM_WORKERS``,
and a model TFLM cannot load refused before any worker starts."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tflite_micro")
pytest.importorskip("ai_edge_quantizer")

from automcu.compress.networks import build_network  # noqa: E402
from automcu.compress.tflm_eval import tflm_accuracy  # noqa: E402
from automcu.core.orphans import POLL_SECONDS  # noqa: E402
from automcu.deploy import tflm_pool  # noqa: E402
from automcu.deploy.exporter import export_int8, random_calibration, to_nhwc  # noqa: E402
from automcu.deploy.tflm import ModelError  # noqa: E402

SHAPE = (1, 16, 16)


@pytest.fixture(scope="module")
def int8_model() -> bytes:
    """A small NB201 cell network, int8 (the pool does not care which network family it runs)."""
    torch.manual_seed(0)
    model = build_network("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
                          4, 1, 1, 10).eval()
    return export_int8(model, SHAPE, calibration=random_calibration(SHAPE, 8, 0)).tflite


@pytest.fixture(scope="module", autouse=True)
def _stop_pool():  # type: ignore[no-untyped-def]
    yield
    tflm_pool.shutdown()


@pytest.mark.parametrize(("n", "workers"), [(0, 4), (50, 4), (127, 2), (128, 2), (1000, 1), (1000, 3), (10_000, 16)])
def test_chunks_cover_every_sample_once(n: int, workers: int) -> None:
    chunks = tflm_pool.plan_chunks(n, workers)
    assert [i for a, b in chunks for i in range(a, b)] == list(range(n))
    if workers == 1 or n < 2 * tflm_pool.MIN_CHUNK:
        assert len(chunks) <= 1
    else:
        assert 1 < len(chunks) <= workers * tflm_pool.CHUNKS_PER_WORKER
        assert min(b - a for a, b in chunks) >= tflm_pool.MIN_CHUNK


def test_workers_give_the_same_outputs_as_one_interpreter(int8_model: bytes) -> None:
    x = np.random.default_rng(1).standard_normal((300, *SHAPE)).astype(np.float32)
    nhwc = to_nhwc(x)
    alone = tflm_pool.tflm_outputs(int8_model, nhwc, workers=1)
    seen: list[int] = []
    split = tflm_pool.tflm_outputs(int8_model, nhwc, workers=2, on_done=seen.append)
    assert alone.shape == (300, 10)
    np.testing.assert_array_equal(split, alone)
    assert len(seen) == len(tflm_pool.plan_chunks(300, 2)) > 1  # one report per finished chunk
    assert seen == sorted(seen) and seen[-1] == 300
    y = np.argmax(alone, axis=1)
    assert tflm_accuracy(int8_model, x, y, workers=2) == 100.0


def test_in_process_run_reports_progress_as_it_goes(int8_model: bytes) -> None:
    nhwc = to_nhwc(np.zeros((150, *SHAPE), np.float32))
    seen: list[int] = []
    tflm_pool.tflm_outputs(int8_model, nhwc, workers=1, on_done=seen.append)
    assert seen == [64, 128, 150]


def test_worker_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from automcu.core.config import get_settings

    monkeypatch.setenv("AUTOMCU_TFLM_WORKERS", "3")
    get_settings.cache_clear()
    assert tflm_pool.default_workers() == 3
    monkeypatch.setenv("AUTOMCU_TFLM_WORKERS", "0")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="tflm_workers"):
        tflm_pool.default_workers()


def test_a_model_tflm_cannot_load_is_refused_before_workers_start() -> None:
    tflm_pool.shutdown()
    nhwc = to_nhwc(np.zeros((500, *SHAPE), np.float32))
    with pytest.raises(ModelError, match="TFL3"):
        tflm_pool.tflm_outputs(b"not a model at all", nhwc, workers=2)
    assert tflm_pool._pool is None
    with pytest.raises(ModelError, match="no samples"):
        tflm_pool.tflm_outputs(b"not a model at all", nhwc[:0], workers=2)


def _children(pid: int) -> list[int]:
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.parametrize("how", ["SIGKILL to the parent", "Ctrl-C to the process group"])
def test_workers_end_with_the_run(int8_model: bytes, tmp_path, how: str) -> None:  # type: ignore[no-untyped-def]
    """A run killed mid-way leaves no worker computing its chunks as an orphan; Ctrl-C (sent to the terminal's
    whole process group; the workers ignore it) stops the workers with the run, not when their chunks end."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "model.tflite").write_bytes(int8_model)
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\nimport numpy as np\n"
        "if __name__ == '__main__':\n"
        "    from automcu.deploy import tflm_pool\n"
        "    tflm_pool.CHUNKS_PER_WORKER = 1  # one chunk of 50,000 images per worker: tens of seconds\n"
        "    data = open(sys.argv[1], 'rb').read()\n"
        "    tflm_pool.tflm_outputs(data, np.zeros((100_000, 16, 16, 1), np.float32), workers=2)\n")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "model.tflite")], start_new_session=True,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            # the spawn start-up adds a resource tracker child; the pool's workers are the other two
            workers = [p for p in _children(proc.pid) if "spawn_main" in _cmdline(p)]
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2, "the pool's workers did not start"
        time.sleep(1.0)  # the workers are running their chunks
        if how.startswith("Ctrl-C"):
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=15) != 0  # not when the chunks would have ended
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10 * POLL_SECONDS + 5
    while time.monotonic() < deadline and any(_running(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if _running(p)], "workers still run after their run ended"


def _cmdline(pid: int) -> str:
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _running(pid: int) -> bool:
    from pathlib import Path

    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:1]
    except (FileNotFoundError, ProcessLookupError):
        return False

"""``shutdown`` + ``exit`` end the process even while a request is stuck (issue 19, item 7).

A worker thread stuck in a blocking call (a model load reading a FIFO, a decode in native code)
cannot be interrupted; the process must end anyway, with the exit code LSP asks for (0 after
``shutdown``, 1 without), within seconds. The stuck calls are injected by ``fault_server.py``
(``load-blocks``, ``decode-blocks``): they wait until the test removes the file, which it never
does before the process has ended.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import transcribe_params

from .conftest import Server, add_figure, record_figure, wait_until
from .test_faults import tone_settings, tones  # noqa: F401 (fixture)

#: The server's grace for its threads is about 2 s; anything near this bound is a hang.
EXIT_WITHIN_S = 15.0


def _spawn(spawn, tones: dict[str, Path], faults: Path, **kwargs) -> Server:  # noqa: F811
    return spawn(
        tone_settings(tones["tdt"], tones["rnnt"]),
        fault=True,
        env={"SWICTATION_FAULT_DIR": str(faults), "SWICTATION_CHECK_CLIP": str(tones["wav"])},
        **kwargs,
    )


def _exits_in_time(server: Server, *, shutdown: bool) -> tuple[int, float]:
    if shutdown:
        server.request("shutdown", timeout=EXIT_WITHIN_S)
    started = time.monotonic()
    server.notify("exit")
    try:
        code = server.proc.wait(EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server did not exit within {EXIT_WITHIN_S:.0f} s:\n{server.dump_stacks()}", pytrace=False)
    return code, time.monotonic() - started


@pytest.mark.parametrize("shutdown", [True, False], ids=["shutdown-exit", "exit-alone"])
def test_exit_ends_the_process_while_the_engine_load_is_stuck_and_a_request_waits_for_it(
    spawn,
    tones: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    shutdown: bool,
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "load-blocks").touch()
    server = _spawn(spawn, tones, faults, wait_ready=False)
    pending = server.request_async("swictation/transcribe", transcribe_params(tones["wav"]))
    assert not server.request("swictation/status")["engine"]["ready"]
    code, took = _exits_in_time(server, shutdown=shutdown)
    assert code == (0 if shutdown else 1)
    assert pending not in server.responses or "error" in server.responses[pending]
    record_figure(f"exit_with_stuck_load_s_{'after_shutdown' if shutdown else 'alone'}", round(took, 1))
    add_figure("faults_survived")


def test_shutdown_and_exit_end_the_process_while_a_decode_is_stuck(
    spawn,
    tones: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    server = _spawn(spawn, tones, faults)
    (faults / "decode-blocks").touch()
    stuck = [server.request_async("swictation/transcribe", transcribe_params(tones["wav"])) for _ in range(4)]
    assert wait_until(lambda: server.request("swictation/status")["state"] == "transcribing", 30)
    code, took = _exits_in_time(server, shutdown=True)
    assert code == 0
    assert all(msg_id not in server.responses or "error" in server.responses[msg_id] for msg_id in stuck)
    record_figure("exit_with_stuck_decode_s", round(took, 1))
    add_figure("faults_survived")

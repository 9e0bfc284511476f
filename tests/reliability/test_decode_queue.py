"""Decodes queue on their own workers: control requests never wait behind them (issue 19, item 10).

Before, each pipelined ``transcribe`` held a thread of the server's pool while it waited for the
engine's lock, so ``status``, ``history`` and ``stopDictation`` queued behind the decodes (24
pipelined transcribes: ``status`` took 13.6 s) and ``$/cancelRequest`` of a waiting decode
answered at once but the decode still ran. Here the first decode is held inside the model's
lock (``fault_server.py``'s ``decode-blocks``) so every other transcribe queues behind it for as
long as the test wants: the assertions are about order, never about how fast the machine is.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.conftest import transcribe_params

from .conftest import Server, add_figure, record_figure, wait_until
from .test_faults import TONE_TEXT, tone_settings, tones  # noqa: F401 (fixture)

PIPELINED = 8
#: Generous: an answer that comes at all while the decodes are held is what the test proves.
ANSWER_TIMEOUT_S = 30.0


def _decodes(faults: Path) -> int:
    try:
        return len((faults / "decodes").read_text().splitlines())
    except OSError:
        return 0


def _dictation_params() -> dict[str, object]:
    return {"textDocument": {"uri": "file:///tmp/example.py"}, "position": {"line": 0, "character": 0}}


def test_control_requests_answer_while_decodes_queue_and_a_cancelled_queued_decode_never_runs(
    spawn,
    tones: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    server: Server = spawn(
        tone_settings(tones["tdt"], tones["rnnt"]),
        fault=True,
        env={"SWICTATION_FAULT_DIR": str(faults), "SWICTATION_CHECK_CLIP": str(tones["wav"])},
    )
    before = _decodes(faults)
    (faults / "decode-blocks").touch()
    held_since = time.monotonic()
    ids = [
        server.request_async("swictation/transcribe", transcribe_params(tones["wav"], mode="fast", line=i))
        for i in range(PIPELINED)
    ]
    assert wait_until(
        lambda: server.request("swictation/status", timeout=ANSWER_TIMEOUT_S)["state"] == "transcribing", 30
    )

    # Control requests are answered while every transcribe waits (none has been answered yet).
    started = time.monotonic()
    status = server.request("swictation/status", timeout=ANSWER_TIMEOUT_S)
    history = server.request("swictation/history", {"limit": 5}, timeout=ANSWER_TIMEOUT_S)
    # Dictation control runs on the server's pool too: startDictation is answered (this server has
    # no microphone, so with its error) and stopDictation with nothing to stop, both at once.
    start = server.response(server.request_async("swictation/startDictation", _dictation_params()), ANSWER_TIMEOUT_S)
    stop = server.response(server.request_async("swictation/stopDictation", {}), ANSWER_TIMEOUT_S)
    control_s = time.monotonic() - started
    assert "error" in start and start["error"]["code"] != -32603, start
    assert "error" in stop and stop["error"]["code"] != -32603, stop
    assert status["state"] == "transcribing"
    assert history["items"] == []
    assert not any(msg_id in server.responses for msg_id in ids)

    # A transcribe still queued is cancelled: answered -32800 at once, and never decoded.
    cancelled = ids[PIPELINED - 3]
    server.notify("$/cancelRequest", {"id": cancelled})
    reply = server.response(cancelled, ANSWER_TIMEOUT_S)
    assert reply.get("error", {}).get("code") == -32800, reply
    assert not any(msg_id in server.responses for msg_id in ids if msg_id != cancelled)

    time.sleep(1.0)
    held_s = time.monotonic() - held_since
    (faults / "decode-blocks").unlink()
    results = {msg_id: server.result(msg_id, 120) for msg_id in ids if msg_id != cancelled}
    assert all(result["text"].lower() == TONE_TEXT for result in results.values()), results
    assert _decodes(faults) - before == PIPELINED - 1  # the cancelled one never ran
    listed = server.request("swictation/history", {"limit": 50})["items"]
    assert len(listed) == PIPELINED - 1
    # timings tell the truth: the time spent queued behind the held decode is in totalMs.
    last = results[ids[-1]]["timings"]
    assert last["totalMs"] >= held_s * 1000 * 0.9 > last["decodeMs"], last
    record_figure("control_requests_answered_behind_queued_decodes_s", round(control_s, 2))
    add_figure("faults_survived")

"""Microphone dictation over the real server: JSON-RPC over pipes, PortAudio capture, real speech.

startDictation -> speech into the virtual microphone -> stopDictation, as an editor drives it.
The stop->edit latency (request sent to edits received) is written to
``test-artifacts/dictation-server-latency.json``; it is measured, never asserted.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.testing.speech import word_error_rate as wer
from tests.audio.conftest import SENTENCES, play, write_artifact
from tests.e2e.conftest import RpcClient, RpcError

pytestmark = pytest.mark.audio

DOCUMENT = {"uri": "file:///tmp/dictated.py"}
POSITION = {"line": 3, "character": 4}


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def settings(**vad: Any) -> dict[str, Any]:
    # Bundled Whisper in both modes: hermetic, whatever models the machine has installed.
    return {"models": {"fast": "bundled", "accurate": "bundled"}, "vad": {"minSilenceDurationMs": 500, **vad}}


def states(rpc: RpcClient, session_id: str) -> list[str]:
    return [p["state"] for p in rpc.of("swictation/stateChanged") if p.get("sessionId") in (session_id, None)]


def start(rpc: RpcClient, mode: str = "fast") -> str:
    return rpc.request("swictation/startDictation", {"textDocument": DOCUMENT, "position": POSITION, "mode": mode})[
        "sessionId"
    ]


def test_spoken_words_arrive_at_the_cursor_with_interim_text(start_server, speech, wav_of):
    rpc = start_server(settings())
    clip = np.concatenate([silence(0.4), speech(SENTENCES[0]), silence(1.2), speech(SENTENCES[1]), silence(0.3)])
    session_id = start(rpc)
    player = play(wav_of(clip))
    assert player.wait(30) == 0
    partials_while_speaking = list(rpc.of("swictation/partial"))

    sent = time.perf_counter()
    result = rpc.request("swictation/stopDictation", {"sessionId": session_id})
    stop_to_edit_ms = (time.perf_counter() - sent) * 1000

    spoken = f"{SENTENCES[0]} {SENTENCES[1]}"
    assert wer(spoken, result["text"]) <= 0.2, result["text"]
    assert result["edits"] == [{"range": {"start": POSITION, "end": POSITION}, "newText": result["text"]}]
    assert partials_while_speaking, "no swictation/partial while speaking"
    assert all(p["sessionId"] == session_id for p in partials_while_speaking)
    assert wer(SENTENCES[0], partials_while_speaking[0]["text"]) <= 0.25
    seen = states(rpc, session_id)
    assert seen.index("listening") < seen.index("transcribing") < len(seen) - 1 and seen[-1] == "idle"
    assert rpc.junk == []

    report = {
        "stop_to_edit_ms": round(stop_to_edit_ms, 1),
        "server_stop_to_text_ms": result["timings"]["totalMs"],
        "audio_ms": result["timings"]["audioMs"],
        "partials": len(rpc.of("swictation/partial")),
        "model": result["model"],
    }
    path = write_artifact("dictation-server-latency.json", json.dumps(report, indent=2) + "\n")
    print(f"\nstopDictation -> edits: {stop_to_edit_ms:.0f} ms over JSON-RPC ({path})")
    assert rpc.shutdown_and_exit() == 0


def test_silence_ends_the_session_and_stop_collects_its_text(start_server, pipe_mic, speech):
    rpc = start_server(settings(autoStopSilenceMs=800))
    session_id = start(rpc)
    pipe_mic.feed(np.concatenate([silence(0.3), speech(SENTENCES[2])]))  # then real-time silence
    idle = rpc.wait_for(
        "swictation/stateChanged", lambda p: p["state"] == "idle" and p.get("reason") == "auto-stop", timeout=30
    )
    assert idle is not None
    result = rpc.request("swictation/stopDictation", {"sessionId": session_id})
    assert wer(SENTENCES[2], result["text"]) <= 0.25, result["text"]
    assert result["edits"][0]["range"]["start"] == POSITION
    assert rpc.request("swictation/status")["sessionId"] is None


def test_cancel_discards_the_session(start_server, pipe_mic, speech):
    rpc = start_server(settings())
    session_id = start(rpc)
    pipe_mic.feed(np.concatenate([speech(SENTENCES[0]), silence(0.8), speech(SENTENCES[1])]))
    rpc.wait_for("swictation/partial", timeout=30)
    assert rpc.request("swictation/cancelDictation", {}) == {"cancelled": True, "sessionId": session_id}
    after_cancel = len(rpc.of("swictation/partial"))
    time.sleep(1.0)
    assert len(rpc.of("swictation/partial")) == after_cancel
    with pytest.raises(RpcError) as error:
        rpc.request("swictation/stopDictation", {"sessionId": session_id})
    assert error.value.code == -33007
    assert rpc.request("swictation/status")["state"] == "idle"


def test_losing_the_microphone_reports_the_error_and_keeps_what_was_said(start_server, second_server, speech, wav_of):
    rpc = start_server(settings(), env_extra={"PULSE_SERVER": second_server.env["PULSE_SERVER"]})
    session_id = start(rpc)
    player = play(wav_of(np.concatenate([silence(0.3), speech(SENTENCES[0]), silence(0.2)])), env=second_server.env)
    assert player.wait(30) == 0
    second_server.kill()

    error = rpc.wait_for("swictation/stateChanged", lambda p: p["state"] == "error", timeout=20)
    assert error["reason"] and error["sessionId"] == session_id
    # The idle that follows the error (not the one after the engine loaded, before the session).
    error_at = next(i for i, (name, params) in enumerate(rpc.notifications) if params is error)
    rpc.wait_for("swictation/stateChanged", lambda p: p["state"] == "idle", timeout=60, start=error_at + 1)
    result = rpc.request("swictation/stopDictation", {"sessionId": session_id})
    assert wer(SENTENCES[0], result["text"]) <= 0.25, result["text"]

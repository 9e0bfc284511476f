"""Nothing said is lost: the client dying, the editor closing or the microphone vanishing in the
middle of a dictation still ends with the words and their audio in the history.

Real capture (PortAudio from a private PulseAudio), real speech (Piper), the real server over
pipes; the history is read back from its SQLite file after the server is gone.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.testing.speech import word_error_rate as wer
from tests.audio.conftest import SENTENCES, play

from .conftest import Server, add_figure

pytestmark = pytest.mark.audio

DOCUMENT = {"uri": "file:///tmp/dictated.py"}
POSITION = {"line": 2, "character": 4}
SETTINGS = {"models": {"fast": "bundled", "accurate": "bundled"}, "vad": {"minSilenceDurationMs": 500}}
#: PortAudio stops through ALSA's pulse plugin have taken seconds on a loaded 2-core machine.
SLOW_S = float(os.environ.get("SWICTATION_TEST_SLOW_S", "120"))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def saved(server: Server) -> list[tuple[Any, np.ndarray | None]]:
    """The history as the next session will see it: items and their audio, newest first."""
    from swictation_rpc.history import HistoryStore

    with HistoryStore(server.data_dir / "history") as store:
        return [(item, store.audio(item.id)) for item in store.list(20)]


def start(server: Server) -> str:
    return server.request(
        "swictation/startDictation", {"textDocument": DOCUMENT, "position": POSITION, "mode": "fast"}
    )["sessionId"]


def _leave(server: Server, how: str) -> int:
    """The client goes away mid-dictation, one way or another; returns the server's exit code."""
    assert server.proc.stdin is not None
    if how == "stdin-closed":  # the editor crashed: both pipes close
        server.proc.stdin.close()
        assert server.proc.stdout is not None
        server.proc.stdout.close()
    elif how == "sigterm":
        server.proc.send_signal(signal.SIGTERM)
    elif how == "exit-without-shutdown":
        server.notify("exit")
    elif how == "shutdown":  # the editor closes properly, mid-sentence
        assert server.request("shutdown", timeout=SLOW_S) is None
        assert saved(server), "shutdown answered before the session was saved"
        server.notify("exit")
    else:
        raise ValueError(how)
    return server.wait_exit(SLOW_S)


@pytest.mark.parametrize(
    "how,code",
    [("stdin-closed", 0), ("sigterm", 0), ("exit-without-shutdown", 1), ("shutdown", 0)],
)
def test_the_client_leaving_mid_dictation_saves_words_and_audio_then_the_server_exits(
    spawn, virtual_mic, pipe_mic, speech, how: str, code: int
) -> None:
    server = spawn(SETTINGS, env={"PULSE_SERVER": virtual_mic["PULSE_SERVER"], "PULSE_SOURCE": "vpipe"})
    start(server)
    first, second = speech(SENTENCES[0]), speech(SENTENCES[1])
    # The second sentence is still the open segment when the client goes: only stop decodes it.
    pipe_mic.feed(np.concatenate([silence(0.3), first, silence(1.0), second]))
    server.wait_for("swictation/partial", timeout=SLOW_S)
    assert pipe_mic.idle.wait(SLOW_S)
    time.sleep(0.5)  # the last of the speech through PulseAudio
    assert _leave(server, how) == code
    assert "Traceback" not in server.stderr_tail(200_000)

    items = saved(server)
    assert len(items) == 1, [item.text for item, _ in items]
    item, audio = items[0]
    spoken = f"{SENTENCES[0]} {SENTENCES[1]}"
    assert wer(spoken, item.text) <= 0.3, item.text
    assert item.uri == DOCUMENT["uri"] and item.range.start.line == POSITION["line"]
    assert audio is not None and len(audio) >= 0.9 * (len(first) + len(second)), None if audio is None else len(audio)
    add_figure("faults_survived")


def test_the_microphone_vanishing_mid_dictation_keeps_what_was_said_in_the_history(
    spawn, second_server, speech, wav_of, sentence_wav: Path
) -> None:
    server = spawn(SETTINGS, env={"PULSE_SERVER": second_server.env["PULSE_SERVER"]})
    session_id = start(server)
    player = play(wav_of(np.concatenate([silence(0.3), speech(SENTENCES[2]), silence(0.2)])), env=second_server.env)
    assert player.wait(60) == 0
    second_server.kill()  # the sound server crashes: the device is gone mid-stream

    error = server.wait_for("swictation/stateChanged", lambda p: p["state"] == "error", timeout=SLOW_S)
    assert error["sessionId"] == session_id and error["reason"]
    # The idle that follows the error (not the one after the engine loaded, before the session).
    error_at = next(i for i, (name, params) in enumerate(server.notifications) if params is error)
    server.wait_for("swictation/stateChanged", lambda p: p["state"] == "idle", timeout=SLOW_S, start=error_at + 1)
    # Saved before anyone asked for it: the client may never call stopDictation.
    items = saved(server)
    assert len(items) == 1 and wer(SENTENCES[2], items[0][0].text) <= 0.3, [i.text for i, _ in items]
    assert items[0][1] is not None and len(items[0][1]) >= 0.9 * len(speech(SENTENCES[2]))
    result = server.request("swictation/stopDictation", {"sessionId": session_id}, timeout=SLOW_S)
    assert result["utteranceId"] == items[0][0].id and result["text"] == items[0][0].text

    # The server carries on: files still transcribe, and the lost device is a typed error.
    assert server.request(
        "swictation/transcribe",
        {
            "textDocument": DOCUMENT,
            "position": POSITION,
            "audio": {"path": str(sentence_wav)},
        },
        timeout=SLOW_S,
    )["text"]
    reply = server.response(
        server.request_async("swictation/startDictation", {"textDocument": DOCUMENT, "position": POSITION}), SLOW_S
    )
    assert reply.get("error", {}).get("code") in (-33004, -33010), reply
    server.probe()
    add_figure("faults_survived")

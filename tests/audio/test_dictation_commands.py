"""Spoken commands in microphone dictation, over the real server (pipe microphone, Piper speech).

A live session is told what ``swictation/transcribe`` is told (text/hints.py: the command prompt
in code, identifiers) and keeps the word timings of its segments for the formatter, so a command
said into the microphone comes out as its symbol, as it does from a file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from swictation_rpc.audio import SAMPLE_RATE
from tests.audio.conftest import ROOT
from tests.e2e.conftest import RpcClient, server_command

pytestmark = pytest.mark.audio

DOCUMENT = {"uri": "file:///tmp/dictated.py"}
POSITION = {"line": 3, "character": 4}
SETTINGS = {
    "models": {"fast": "bundled", "accurate": "bundled"},
    "vad": {"minSilenceDurationMs": 500, "autoStopSilenceMs": 800},
}


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


@pytest.fixture
def server(pipe_mic, tmp_path: Path) -> Iterator[RpcClient]:
    """A server listening to the pipe microphone, the bundled model in both modes, auto-stop after 0.8 s."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SWICTATION_DATA_DIR": str(tmp_path / "data")}
    env.pop("SWICTATION_MODELS_DIR", None)
    rpc = RpcClient(server_command(), env, ROOT, tmp_path / "server.stderr")
    try:
        rpc.initialize(SETTINGS)
        rpc.wait_ready()
        yield rpc
    finally:
        rpc.kill()


def dictate(rpc: RpcClient, pipe_mic, audio: np.ndarray, before: str, language_id: str) -> dict[str, Any]:
    """One session at the cursor after ``before``: the speech, then silence until it stops by itself."""
    context = {"before": before, "after": "", "languageId": language_id}
    session_id = rpc.request(
        "swictation/startDictation",
        {"textDocument": DOCUMENT, "position": POSITION, "mode": "fast", "context": context},
    )["sessionId"]
    seen = len(rpc.notifications)
    pipe_mic.feed(np.concatenate([silence(0.3), audio]))  # then real-time silence
    idle = rpc.wait_for(
        "swictation/stateChanged",
        lambda p: p["state"] == "idle" and p.get("reason") == "auto-stop",
        timeout=60,
        start=seen,
    )
    assert idle is not None, "the session did not stop by itself"
    return rpc.request("swictation/stopDictation", {"sessionId": session_id})


def test_spoken_commands_in_a_live_session_come_out_as_symbols(
    server: RpcClient, pipe_mic, speech: Callable[[str], np.ndarray]
):
    result = dictate(server, pipe_mic, speech("open paren"), "    print", "python")
    assert result["text"] == "(", result
    assert result["language"] == "en"

    # Without the command prompt the bundled model hears "Username" here.
    result = dictate(server, pipe_mic, speech("pascal case user name"), "    ", "python")
    assert result["text"] == "UserName", result

    # Two segments: the pause between them is in the session's word timings.
    said = np.concatenate([speech("is it ready"), silence(0.6), speech("question mark")])
    result = dictate(server, pipe_mic, said, "", "markdown")
    assert result["text"] == "Is it ready?", result
    assert server.shutdown_and_exit() == 0

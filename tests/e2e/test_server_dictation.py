"""Microphone sessions over the real server: real PortAudio capture from a private PulseAudio.

Each module run starts its own headless PulseAudio (``scripts/virtual-mic`` with a private
directory), so it never mixes audio with another suite's microphone. Speech goes in with
``paplay`` in real time, as a user would speak. Skips, saying why, where PulseAudio is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from swictation_rpc.testing.speech import word_error_rate

from .conftest import REPO, RpcClient, RpcError

pytestmark = pytest.mark.audio

SPOKEN = "Please add a comment above the main function."
#: Stopping a PortAudio stream through ALSA's pulse plugin has been seen to take seconds on a
#: loaded 2-core machine; the tests wait generously (latency is measured in benchmarks, not here).
SLOW_S = float(os.environ.get("SWICTATION_TEST_SLOW_S", "180"))
DOCUMENT = {"uri": "file:///tmp/example.py"}


@pytest.fixture(scope="module")
def mic_env() -> Iterator[dict[str, str]]:
    if not (shutil.which("pulseaudio") and shutil.which("paplay")):
        pytest.skip(
            "PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins)"
        )
    directory = tempfile.mkdtemp(prefix="swmic-")  # short: unix socket paths are limited to 108 bytes
    env = dict(os.environ, SWICTATION_VIRTUAL_MIC_DIR=directory)
    started = subprocess.run(
        [str(REPO / "scripts" / "virtual-mic"), "start"], env=env, capture_output=True, text=True, timeout=60
    )
    if started.returncode != 0:
        pytest.skip(f"the virtual microphone did not start: {started.stderr.strip()}")
    variables = {"PULSE_SERVER": f"unix:{directory}/pulse/native", "SWICTATION_VIRTUAL_MIC_DIR": directory}
    yield variables
    subprocess.run([str(REPO / "scripts" / "virtual-mic"), "stop"], env=env, capture_output=True, timeout=60)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def spoken_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sentence with half a second of silence before and 1.5 s after (the VAD closes on silence)."""
    from swictation_rpc.testing.speech import silence, synthesize

    path = tmp_path_factory.mktemp("mic") / "spoken.wav"
    audio = np.concatenate([silence(0.5), synthesize(SPOKEN), silence(1.5)])
    soundfile.write(str(path), audio, 16_000, subtype="PCM_16")
    return path


def speak(mic_env: dict[str, str], wav: Path) -> None:
    """Play ``wav`` into the virtual microphone, in real time."""
    subprocess.run(["paplay", "--device=vsink", str(wav)], env={**os.environ, **mic_env}, check=True, timeout=60)


@pytest.fixture
def mic_server(start_server, mic_env):
    def _start(settings: dict | None = None, capabilities: dict | None = None) -> RpcClient:
        rpc = start_server(env_extra=mic_env)
        rpc.initialize(settings or {}, capabilities=capabilities)
        devices = rpc.request("swictation/status")["inputDevices"]
        if not devices:
            pytest.skip("PortAudio sees no input device through PulseAudio (libasound2-plugins missing?)")
        return rpc

    return _start


def states(rpc: RpcClient, session_id: str) -> list[str]:
    return [p["state"] for n, p in rpc.notifications if n == "swictation/stateChanged" and p["sessionId"] == session_id]


def test_spoken_words_arrive_as_partials_then_as_an_edit_at_the_cursor(mic_server, mic_env, spoken_wav):
    rpc = mic_server()
    start = rpc.request(
        "swictation/startDictation", {"textDocument": DOCUMENT, "position": {"line": 3, "character": 4}}
    )
    session = start["sessionId"]
    assert rpc.request("swictation/status")["sessionId"] == session
    speak(mic_env, spoken_wav)
    partial = rpc.wait_for("swictation/partial", lambda p: p["sessionId"] == session, timeout=SLOW_S)
    assert word_error_rate(SPOKEN, partial["text"]) <= 0.4, partial["text"]
    result = rpc.request("swictation/stopDictation", {"sessionId": session}, timeout=SLOW_S)
    assert word_error_rate(SPOKEN, result["text"]) <= 0.3, result["text"]
    point = {"line": 3, "character": 4}
    assert result["edits"] == [{"range": {"start": point, "end": point}, "newText": result["text"]}]
    assert states(rpc, session)[:2] == ["listening", "transcribing"]
    rpc.wait_for("swictation/stateChanged", lambda p: p["state"] == "idle" and p["sessionId"] is None)
    assert rpc.request("swictation/status")["sessionId"] is None
    assert rpc.shutdown_and_exit() == 0


def test_one_session_at_a_time_and_cancel_discards_it(mic_server):
    rpc = mic_server()
    params = {"textDocument": DOCUMENT, "position": {"line": 0, "character": 0}}
    first = rpc.request("swictation/startDictation", params)
    with pytest.raises(RpcError) as second:
        rpc.request("swictation/startDictation", params)
    assert second.value.code == -33005
    assert second.value.data["kind"] == "already-listening"
    assert second.value.data["sessionId"] == first["sessionId"]
    assert rpc.request("swictation/cancelDictation", {"sessionId": first["sessionId"]}, timeout=SLOW_S) == {
        "cancelled": True,
        "sessionId": first["sessionId"],
    }
    with pytest.raises(RpcError) as stopped:
        rpc.request("swictation/stopDictation", {"sessionId": first["sessionId"]})
    assert stopped.value.code == -33007
    # The microphone is free again.
    again = rpc.request("swictation/startDictation", params)
    assert again["sessionId"] != first["sessionId"]
    assert rpc.request("swictation/cancelDictation", {}, timeout=SLOW_S)["cancelled"] is True
    assert rpc.shutdown_and_exit() == 0


def test_auto_stop_on_silence_applies_the_edit_from_the_server_without_a_stop(mic_server, mic_env, spoken_wav):
    rpc = mic_server({"vad": {"autoStopSilenceMs": 700}, "applyEdits": "server"})
    start = rpc.request(
        "swictation/startDictation", {"textDocument": DOCUMENT, "position": {"line": 8, "character": 0}}
    )
    session = start["sessionId"]
    speak(mic_env, spoken_wav)
    stopped = rpc.wait_for("swictation/stateChanged", lambda p: p.get("reason") == "auto-stop", timeout=SLOW_S)
    assert stopped["state"] == "idle"
    applied = rpc.wait_for("workspace/applyEdit", requests=True)
    assert applied["label"] == "Swictation: dictation"
    [change] = applied["edit"]["documentChanges"]
    assert change["textDocument"] == {"uri": DOCUMENT["uri"], "version": None}
    [edit] = change["edits"]
    assert edit["range"]["start"] == {"line": 8, "character": 0}
    assert word_error_rate(SPOKEN, edit["newText"]) <= 0.3, edit["newText"]
    # The client may still collect the result once; it carries no edits (the server applied them).
    result = rpc.request("swictation/stopDictation", {"sessionId": session})
    assert result["text"] == edit["newText"] and result["edits"] == []
    with pytest.raises(RpcError) as twice:
        rpc.request("swictation/stopDictation", {"sessionId": session})
    assert twice.value.code == -33007
    assert rpc.shutdown_and_exit() == 0

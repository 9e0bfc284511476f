"""Start/stop chimes (``signals.sounds``) reach the speakers: recorded from the sink's monitor.

The server plays to the default output (the virtual sink); ``parec`` records that sink's monitor
while the server dictates from the pipe microphone, and the recording must hold the start chime
(660 Hz then 990 Hz) and then the stop chime (990 Hz then 660 Hz) — or nothing, when the setting
or the environment turns them off.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from swictation_rpc.audio.signals import SOUNDS_ENV
from swictation_rpc.testing.speech import word_error_rate as wer
from tests.audio.conftest import SENTENCES
from tests.audio.test_dictation_server import settings, start

pytestmark = pytest.mark.audio

RATE = 24_000
LOW, HIGH = 660.0, 990.0


class SinkRecorder:
    """``parec`` of the default sink's monitor, 24 kHz mono, while the test runs."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["parec", "--device=vsink.monitor", "--raw", "--format=s16le", f"--rate={RATE}", "--channels=1"],
            stdout=subprocess.PIPE,
        )

    def stop(self) -> np.ndarray:
        self.proc.terminate()
        data, _ = self.proc.communicate(timeout=10)
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768


@pytest.fixture
def sink(pipe_mic) -> Iterator[SinkRecorder]:
    recorder = SinkRecorder()
    time.sleep(0.3)
    yield recorder
    if recorder.proc.poll() is None:
        recorder.proc.kill()


def tone_times(audio: np.ndarray, frequency: float) -> list[float]:
    """Seconds (20 ms frames) where ``frequency`` is clearly present."""
    frame = RATE // 50
    t = np.arange(frame) / RATE
    probe = np.exp(-2j * np.pi * frequency * t)
    times = []
    for i in range(0, len(audio) - frame, frame):
        window = audio[i : i + frame]
        if abs(np.dot(window, probe)) / frame > 0.02:
            times.append(i / RATE)
    return times


def dictate(start_server, init: dict[str, Any], env_extra: dict[str, str] | None = None) -> None:
    rpc = start_server(init, env_extra=env_extra)
    session_id = start(rpc)
    time.sleep(1.0)
    rpc.request("swictation/stopDictation", {"sessionId": session_id})
    time.sleep(1.0)  # the stop chime plays after the answer


@pytest.fixture
def sounds_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SOUNDS_ENV, raising=False)


def test_start_and_stop_chimes_are_played(start_server, sink, sounds_allowed):
    dictate(start_server, settings())
    audio = sink.stop()
    low, high = tone_times(audio, LOW), tone_times(audio, HIGH)
    assert low and high, "no chime reached the sink"
    # Start rises (660 then 990 Hz), stop falls (990 then 660 Hz), start first.
    assert low[0] < high[0] < high[-1] < low[-1], (low, high)
    assert low[-1] - low[0] > 0.8  # two chimes, a second apart


@pytest.mark.parametrize("how", ["setting", "environment"])
def test_chimes_can_be_turned_off(start_server, sink, sounds_allowed, how):
    if how == "setting":
        dictate(start_server, {**settings(), "signals": {"sounds": False}})
    else:
        dictate(start_server, settings(), env_extra={SOUNDS_ENV: "0"})
    audio = sink.stop()
    assert not tone_times(audio, LOW) and not tone_times(audio, HIGH)
    assert os.environ.get(SOUNDS_ENV) is None


def test_dictation_after_dictation_with_chimes_hears_the_speech(start_server, pipe_mic, speech, sounds_allowed):
    """The chimes share PortAudio with the microphone: playing them must never cost a later session
    its microphone (found from outside: every start after the first failed with "device lost")."""
    rpc = start_server(settings())
    for round_ in range(3):
        session_id = start(rpc)
        pipe_mic.feed(np.concatenate([np.zeros(4800, dtype=np.float32), speech(SENTENCES[round_])]))
        assert pipe_mic.idle.wait(30)
        time.sleep(1.0)
        result = rpc.request("swictation/stopDictation", {"sessionId": session_id})
        assert wer(SENTENCES[round_], result["text"]) <= 0.25, (round_, result["text"], rpc.stderr_tail())
        time.sleep(0.5)  # the stop chime plays while the next session opens the microphone

"""Speculative tail decode: the open segment is decoded in a short pause and used at stop.

A scripted source feeds the real capture thread, segmenter state machine and decode thread; the
voice-activity model is replaced by an amplitude rule (a window with any sample above 0.05 is
speech), and the engine by one whose text counts the voiced windows it was given, so the final
text is a deterministic function of the speech a decode covered.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.audio.segmenter import WINDOW, StreamingSegmenter
from swictation_rpc.audio.session import DictationSession
from swictation_rpc.options import Options, VadOptions
from swictation_rpc.protocol import Timings, Transcript


class AmplitudeVad:
    """Stands in for Silero: probability 0.9 for a window with a loud sample, else 0."""

    def reset(self) -> None:
        pass

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        return np.where(np.abs(windows).max(axis=1) > 0.05, 0.9, 0.0).astype(np.float32)


class CountingEngine:
    """Text = one word per voiced window; records every decode."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.decoded: list[int] = []
        self.hold = hold

    def transcribe(self, audio: np.ndarray, mode: str, **_: object) -> Transcript:
        if self.hold is not None:
            self.hold.wait(10)
        windows = len(audio) // WINDOW
        voiced = int((np.abs(audio[: windows * WINDOW]).reshape(windows, WINDOW).max(axis=1) > 0.05).sum())
        self.decoded.append(len(audio))
        return Transcript(
            text=" ".join(["word"] * voiced),
            mode="fast",
            model="counting",
            timings=Timings(audio_ms=1000 * len(audio) / SAMPLE_RATE, decode_ms=1.0, total_ms=1.0),
        )

    def status(self) -> object:
        raise RuntimeError("no status")


class ScriptedSource:
    """Hands the capture thread exactly what the test pushes, in 20 ms blocks."""

    def __init__(self) -> None:
        self.blocks: queue.Queue[np.ndarray] = queue.Queue()
        self.stopped = threading.Event()

    def push(self, audio: np.ndarray) -> None:
        block = SAMPLE_RATE // 50
        for start in range(0, len(audio), block):
            self.blocks.put(audio[start : start + block])

    def drained(self) -> bool:
        return self.blocks.empty()

    def start(self) -> None:
        pass

    def read(self, timeout_s: float | None = None) -> np.ndarray | None:
        try:
            return self.blocks.get(timeout=0 if self.stopped.is_set() else timeout_s)
        except queue.Empty:
            return None if self.stopped.is_set() else np.zeros(0, dtype=np.float32)

    def stop(self) -> None:
        self.stopped.set()

    def close(self) -> None:
        self.stopped.set()


def speech(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the session")
        time.sleep(0.005)


def make_session(engine: CountingEngine, *, speculate: bool = True) -> tuple[DictationSession, ScriptedSource]:
    source = ScriptedSource()
    options = Options(vad=VadOptions(min_silence_duration_ms=500))
    session = DictationSession(
        engine,
        options,
        mode="fast",
        on_partial=lambda text: None,
        on_state=lambda state, reason: None,
        source_factory=lambda: source,
        segmenter=StreamingSegmenter(options.vad, vad=AmplitudeVad()),  # type: ignore[arg-type]
    )
    session.speculate = speculate
    session.start()
    return session, source


def dictate(script: list[np.ndarray], *, speculate: bool, settle: Callable[[DictationSession], bool] | None = None):
    engine = CountingEngine()
    session, source = make_session(engine, speculate=speculate)
    for n, audio in enumerate(script):
        source.push(audio)
        wait_for(source.drained)
        if settle is not None and n == 2:  # after the pause
            wait_for(lambda: settle(session))
    transcript, _ = session.stop()
    return transcript, session, engine


def test_a_pause_before_stop_is_decoded_early_and_that_text_is_the_edit() -> None:
    script = [silence(0.3), speech(1.0), silence(0.15)]
    transcript, session, engine = dictate(script, speculate=True, settle=lambda s: s.speculations == 1)
    plain, _, plain_engine = dictate(script, speculate=False)

    assert session.speculations == 1 and session.speculations_used == 1
    assert len(engine.decoded) == 1  # nothing left to decode at stop
    assert transcript.text == plain.text and transcript.text
    assert len(plain_engine.decoded) == 1


def test_speech_after_the_speculation_drops_it_and_the_text_is_unchanged() -> None:
    script = [silence(0.3), speech(1.0), silence(0.15), speech(0.6)]  # stop while speaking
    transcript, session, engine = dictate(script, speculate=True, settle=lambda s: s.speculations == 1)
    plain, _, _ = dictate(script, speculate=False)

    assert session.speculations == 1 and session.speculations_used == 0
    assert len(engine.decoded) == 2  # the stale speculation, then the real tail
    assert transcript.text == plain.text
    assert len(transcript.text.split()) > len(("word " * int(1.0 * SAMPLE_RATE / WINDOW)).split())


def test_a_segment_closed_by_silence_reuses_the_speculation() -> None:
    script = [silence(0.3), speech(1.0), silence(0.15), silence(0.6), speech(0.5), silence(0.1)]
    engine = CountingEngine()
    session, source = make_session(engine)
    for audio in script:
        source.push(audio)
        wait_for(source.drained)
        wait_for(lambda: not session._speculating)
    transcript, _ = session.stop()
    plain, _, _ = dictate(script, speculate=False)

    assert session.speculations_used >= 1
    assert transcript.text == plain.text
    assert session.segments_decoded == 2


def test_only_one_speculation_runs_at_a_time_and_none_while_segments_wait() -> None:
    hold = threading.Event()
    engine = CountingEngine(hold)
    session, source = make_session(engine)
    source.push(np.concatenate([silence(0.3), speech(0.5), silence(0.15)]))
    wait_for(lambda: session._speculating)
    for _ in range(4):  # more pauses while the first speculation is still decoding
        source.push(np.concatenate([speech(0.3), silence(0.15)]))
    wait_for(source.drained)
    time.sleep(0.05)
    assert session._segments.qsize() == 0  # nothing queued behind the one in flight
    hold.set()
    transcript, _ = session.stop()
    assert session.speculations <= 2
    assert transcript.text


def test_cancel_during_a_speculation_discards_it() -> None:
    hold = threading.Event()
    engine = CountingEngine(hold)
    session, source = make_session(engine)
    source.push(np.concatenate([silence(0.3), speech(0.5), silence(0.15)]))
    wait_for(lambda: session._speculating)
    session.cancel()
    hold.set()
    wait_for(lambda: not session._speculating)
    assert session.partial_text == ""


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("0", False), ("off", False)])
def test_speculation_is_on_unless_the_environment_turns_it_off(monkeypatch, value, on) -> None:
    from swictation_rpc.audio.session import SPECULATE_ENV

    if value is None:
        monkeypatch.delenv(SPECULATE_ENV, raising=False)
    else:
        monkeypatch.setenv(SPECULATE_ENV, value)
    session = DictationSession(
        CountingEngine(),
        Options(),
        mode="fast",
        on_partial=lambda text: None,
        on_state=lambda state, reason: None,
        source_factory=ScriptedSource,
    )
    assert session.speculate is on


def test_a_value_that_is_neither_on_nor_off_leaves_it_on_and_says_so(monkeypatch, caplog) -> None:
    from swictation_rpc.audio.session import SPECULATE_ENV, speculation_enabled

    monkeypatch.setenv(SPECULATE_ENV, "maybe")
    with caplog.at_level("WARNING", logger="swictation_rpc.audio.session"):
        assert speculation_enabled() is True
    assert any(SPECULATE_ENV in r.getMessage() and "'maybe'" in r.getMessage() for r in caplog.records)

"""The bundled Whisper on speech without pauses: long stretches and repeated sentences come out as
the words, not as nothing (a sampled fallback dropped by the no-speech gate) or a repetition loop."""

from __future__ import annotations

import numpy as np
import pytest

from swictation_rpc.engine.hybrid import HybridEngine
from swictation_rpc.options import Options
from swictation_rpc.testing.speech import synthesize, word_error_rate
from swictation_rpc.text.spoken_languages import CODE_PROMPTS

SENTENCE = "The quick brown fox jumps over the lazy dog and then writes some python code for the parser."


@pytest.fixture(scope="module")
def engine():
    engine = HybridEngine(Options())
    engine.load()
    yield engine
    engine.close()


def _spoken_without_pauses(times: int) -> np.ndarray:
    """``SENTENCE`` said ``times`` times back to back: Piper's leading and trailing silence cut off."""
    audio = synthesize(SENTENCE)
    voiced = np.flatnonzero(np.abs(audio) > 0.02)
    audio = audio[max(0, voiced[0] - 800) : voiced[-1] + 800]
    return np.concatenate([audio] * times)


def _sentences_fitting(seconds: float) -> int:
    return int(seconds * 16000 // len(_spoken_without_pauses(1)))


@pytest.mark.slow
def test_30_seconds_of_speech_without_pauses_is_transcribed(engine):
    times = _sentences_fitting(29.8)
    audio = _spoken_without_pauses(times)
    assert 20 < len(audio) / 16000 <= 30  # one Whisper window: no VAD chunking
    reference = " ".join([SENTENCE] * times)
    result = engine.transcribe(audio, "accurate")
    assert word_error_rate(reference, result.text) <= 0.25, result.text
    assert len(result.text) <= 1.3 * len(reference), result.text


@pytest.mark.slow
def test_a_repeated_sentence_with_the_command_prompt_does_not_loop(engine):
    times = _sentences_fitting(15.5)
    audio = _spoken_without_pauses(times)
    reference = " ".join([SENTENCE] * times)
    result = engine.transcribe(audio, "accurate", prompt=dict(CODE_PROMPTS))
    assert len(result.text) <= 1.3 * len(reference), result.text
    assert word_error_rate(reference, result.text) <= 0.25, result.text


class _LoopingModel:
    """faster-whisper's interface, looping like tiny.en on long speech and on the command prompt."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str | None]] = []

    def transcribe(self, audio, **options):
        from types import SimpleNamespace

        seconds = len(audio) / 16000
        self.calls.append((seconds, options.get("initial_prompt")))
        if seconds > 6 or options.get("initial_prompt"):
            text = "and then write some " + "python code " * 19
        else:
            text = "the quick brown fox jumps over the lazy dog"
        segment = SimpleNamespace(text=text, words=None, no_speech_prob=0.7, avg_logprob=-0.2)
        return iter([segment]), SimpleNamespace(language="en")


def test_a_looping_decode_is_retried_without_the_prompt_and_in_parts():
    from swictation_rpc.engine.base import Hints
    from swictation_rpc.engine.whisper import BundledWhisper

    whisper = BundledWhisper.__new__(BundledWhisper)
    whisper._model = _LoopingModel()
    heard = whisper.recognize(np.zeros(8 * 16000, dtype=np.float32), Hints(prompt="open paren"), word_timestamps=False)
    assert "python code python code" not in heard.text
    assert heard.text.count("the quick brown fox") >= 2, heard.text
    calls = whisper._model.calls
    assert calls[0][1] == "open paren" and all(prompt is None for _, prompt in calls[1:])


@pytest.mark.parametrize(
    "said",
    [
        "Open the settings file and change the port.",
        # Whisper's alignment ends "database" 0.3 s before its sound does: that sound is not a
        # word the window missed (it took three windows, ~2 s, before; an outside-user finding).
        "And the client connects to the database.",
    ],
)
def test_a_tail_with_word_timings_is_decoded_in_one_window(said: str):
    """With word timings on (as every decode is), the silence after the last word is not decoded
    in a second 30 s window of its own: one encoder pass, the same words."""
    from swictation_rpc.engine.base import Hints
    from swictation_rpc.engine.whisper import BundledWhisper

    whisper = BundledWhisper.bundled()
    windows: list[int] = []
    encode = whisper._model.encode

    def counted(features):  # the real encoder, counted
        windows.append(features.shape[-1])
        return encode(features)

    whisper._model.encode = counted
    audio = np.concatenate([synthesize(said), np.zeros(1600, dtype=np.float32)])  # stop 0.1 s after
    heard = whisper.recognize(audio, Hints(prompt=dict(CODE_PROMPTS)), word_timestamps=True)
    assert word_error_rate(said, heard.text) == 0, heard.text
    assert heard.words and heard.words[-1].end_s <= len(audio) / 16000
    assert len(windows) == 1, windows
    whisper.close()


def test_speech_after_the_last_word_heard_is_not_quiet():
    from swictation_rpc.engine.whisper import _quiet_after

    first, second = synthesize("Open the settings file."), synthesize("Then change the port.")
    gap = np.zeros(8000, dtype=np.float32)
    audio = np.concatenate([first, gap, second, gap])
    end_of_first = len(first) / 16000 - 0.1  # Piper leaves ~0.1 s of silence after a sentence
    assert not _quiet_after(audio, end_of_first)  # Whisper stopped early: the next window decodes it
    assert _quiet_after(audio, (len(first) + len(gap) + len(second)) / 16000 - 0.1)
    assert _quiet_after(audio, len(audio) / 16000)

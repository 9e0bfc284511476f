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

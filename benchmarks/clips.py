"""The clips every contender decodes: real synthesised speech and tones for the synthetic model.

Speech is Piper's joe voice (``swictation_rpc.testing.speech``); tones are the tone alphabet the
synthetic transducer decodes exactly (``swictation_rpc.testing.synthetic``). Every clip is
rounded through 16-bit PCM once, so the in-process contenders decode exactly the samples the
server reads from the WAV file or the inline ``pcm16``.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile
from attrs import define

from swictation_rpc.audio import SAMPLE_RATE

ClipKind = Literal["speech", "tone"]

#: ~2.5 s of speech, padded with silence to a 2.8 s dictation (the reference latency's length).
SHORT_SENTENCE = "Open the settings file and change the port."
#: Sentences with pauses between them, ~36 s: over 30 s, so the engine segments it with the VAD.
LONG_SENTENCES = (
    "Create a new function called parse config that reads the settings file.",
    "It should return a dictionary with the default values filled in.",
    "If the file does not exist, raise a clear error that names the path.",
    "Then write a test that checks the port number and the log level.",
    "Run the tests again and commit the change with a short message.",
    "Finally, open a pull request and ask the team for a review.",
    "Remember to update the documentation before the next release.",
    "The server reads the audio, runs the model and sends the edits back.",
    "Close the terminal when the build has finished.",
)
SHORT_S = 2.8
#: The long tone clip is exactly the engine's whole-decode limit (longer audio goes through the
#: VAD, which hears no speech in pure tones).
TONE_LONG_S = 30.0
PAUSE_S = 0.6


@define
class Clip:
    name: str
    kind: ClipKind
    audio: np.ndarray
    """16 kHz mono float32, already rounded through 16-bit PCM."""
    text: str
    """What was said (speech) or what the tone model must decode (tones)."""
    path: Path
    """The same samples as a 16-bit WAV (what the server reads)."""

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def pcm16_b64(self) -> str:
        pcm = np.clip(np.round(self.audio * 32768.0), -32768, 32767).astype("<i2")
        return base64.b64encode(pcm.tobytes()).decode("ascii")


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def _finish(name: str, kind: ClipKind, audio: np.ndarray, text: str, directory: Path) -> Clip:
    path = Path(directory) / f"{name}.wav"
    soundfile.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")
    rounded, _rate = soundfile.read(str(path), dtype="float32")
    return Clip(name=name, kind=kind, audio=np.ascontiguousarray(rounded, dtype=np.float32), text=text, path=path)


def _pad_to(audio: np.ndarray, seconds: float, lead_s: float = 0.15) -> np.ndarray:
    missing = round(seconds * SAMPLE_RATE) - len(audio)
    if missing <= 0:
        return audio
    lead = min(int(lead_s * SAMPLE_RATE), missing)
    return np.concatenate([_silence(lead / SAMPLE_RATE), audio, _silence((missing - lead) / SAMPLE_RATE)])


def _cached_speech(text: str, cache: Path | None) -> np.ndarray:
    """Piper's rendering of ``text``, reused across runs when ``cache`` is given.

    Piper samples its noise, so two renderings differ slightly in length and timing; reusing one
    keeps runs (and the regression guard's comparisons) on the very same samples.
    """
    from swictation_rpc.testing.speech import synthesize

    if cache is None:
        return synthesize(text)
    path = cache / f"piper-{hashlib.sha1(text.encode()).hexdigest()[:16]}.wav"
    if path.is_file():
        audio, rate = soundfile.read(str(path), dtype="float32")
        if rate == SAMPLE_RATE:
            return audio
    audio = synthesize(text)
    cache.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), audio, SAMPLE_RATE, subtype="FLOAT")
    return audio


def speech_clips(directory: Path, *, long: bool = True, cache: Path | None = None) -> list[Clip]:
    """``speech-2.8s`` and (with ``long``) ``speech-30s+``: Piper speaking known sentences."""
    short = _pad_to(_cached_speech(SHORT_SENTENCE, cache), SHORT_S)
    clips = [_finish("speech-2.8s", "speech", short, SHORT_SENTENCE, directory)]
    if long:
        parts: list[np.ndarray] = []
        said: list[str] = []
        # Sentence by sentence until past 30 s (Piper's pace varies a little from run to run).
        while sum(len(p) for p in parts) / SAMPLE_RATE <= 30.0 or len(said) < len(LONG_SENTENCES):
            sentence = LONG_SENTENCES[len(said) % len(LONG_SENTENCES)]
            parts += [_cached_speech(sentence, cache), _silence(PAUSE_S)]
            said.append(sentence)
        audio = np.concatenate(parts)
        text = " ".join(said)
        clips.append(_finish("speech-30s+", "speech", audio, text, directory))
    return clips


def _tone_ids(count: int) -> list[int]:
    from swictation_rpc.testing.synthetic import toned_tokens

    toned = toned_tokens()
    return [toned[i % len(toned)] for i in range(count)]


def tone_clips(directory: Path) -> list[Clip]:
    """``tone-2.8s`` and ``tone-30s``: the calibration chord, then as many 300 ms tones as fit,
    padded with silence (the tone models are the ``per_feature`` variant, which needs the chord)."""
    from swictation_rpc.testing.synthetic import GAP_S, TONE_S, expected_text, tone_audio

    clips = []
    for name, seconds in (("tone-2.8s", SHORT_S), ("tone-30s", TONE_LONG_S)):
        count = int((seconds - GAP_S) // (TONE_S + GAP_S)) - 1  # the chord takes one slot
        ids = _tone_ids(count)
        audio = tone_audio(ids, calibrate=True)
        target = round(seconds * SAMPLE_RATE)
        audio = np.concatenate([audio, np.zeros(max(0, target - len(audio)), np.float32)])[:target]
        clips.append(_finish(name, "tone", audio, expected_text(ids), directory))
    return clips

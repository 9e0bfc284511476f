"""What every recognizer backend offers the hybrid engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np
from attrs import define, field

from swictation_rpc.options import Mode
from swictation_rpc.protocol import EngineStatus, Transcript


@define(frozen=True)
class WordTiming:
    """One word as the recognizer wrote it (its punctuation attached), and when it was said."""

    text: str
    start_s: float
    end_s: float


def prompt_for(prompt: str | Mapping[str, str] | None, language: str | None) -> str | None:
    """The prompt to use when decoding in ``language`` (``None``: not known before decoding)."""
    if prompt is None or isinstance(prompt, str):
        return prompt
    return prompt.get(language) if language else None


@define(frozen=True)
class Hints:
    """What the recognizer is told before it listens.

    ``hotwords``: phrases to bias toward (the buffer's identifiers, spoken commands); sherpa-onnx
    takes them under beam search, Whisper as its hotwords prompt. ``prompt``: text that looks like
    what is about to be said (Whisper's ``initial_prompt``; ignored by transducers). ``language``:
    ``auto`` or a language code, for models that take one.
    """

    hotwords: tuple[str, ...] = ()
    prompt: str | Mapping[str, str] | None = None
    """One prompt, or one per language code (the recognizer takes the one for the language it
    decodes in: an English-only model gets the English prompt whatever ``language`` says)."""
    language: str = "auto"
    commands: tuple[str, ...] = ()
    """Spoken command phrases in effect: hotwords for transducers (Whisper hears them through
    ``prompt``)."""


@define
class Recognized:
    """The text of some audio, with word timings and language where the backend knows them."""

    text: str
    words: list[WordTiming] | None = None
    """``None`` when the backend gives no timings (then prose rules work from the text alone)."""
    language: str | None = None
    """The language the model decoded in (detected for ``auto`` when the model can say)."""
    extra: dict[str, object] = field(factory=dict)


@define
class Heard(Transcript):
    """What :meth:`HybridEngine.transcribe` returns: the transcript, and its word timings.

    The timings stay in the server (results on the wire are built from the transcript's fields);
    the formatter uses them to tell a command set off by a pause from a word in a phrase.
    """

    words: list[WordTiming] | None = None


@runtime_checkable
class Recognizer(Protocol):
    """One loaded model, ready to turn audio into text.

    ``name`` is the model's name as users see it (catalogue name or folder name), ``backend`` the
    library running it (``sherpa-onnx``, ``onnxruntime``, ``faster-whisper``) and ``provider`` the
    execution provider that actually runs it (``CUDAExecutionProvider``, ``CPUExecutionProvider``,
    ``cpu``). Implementations are safe to call from one thread at a time; the hybrid engine
    serialises calls per recognizer. Backends that know more than the text also offer
    ``recognize(audio, hints) -> Recognized`` (see :func:`recognize`).
    """

    name: str
    backend: str
    provider: str

    def transcribe(self, audio: np.ndarray, *, hotwords: list[str] | None = None) -> str:
        """Text of ``audio`` (16 kHz mono float32). ``hotwords`` bias recognition where supported."""
        ...

    def close(self) -> None:
        """Release the model's memory (sessions, GPU buffers)."""
        ...


def recognize(recognizer: Recognizer, audio: np.ndarray, hints: Hints) -> Recognized:
    """``recognizer.recognize`` where it exists, else its plain text (no timings, no language).

    A ``transcribe`` replaced on the instance (a test's slow or failing decode, fault injection)
    is what runs: the override is the point of replacing it.
    """
    richer = getattr(recognizer, "recognize", None)
    if callable(richer) and "transcribe" not in getattr(recognizer, "__dict__", {}):
        return richer(audio, hints)
    text = recognizer.transcribe(audio, hotwords=list(hints.hotwords) or None)
    return Recognized(text)


class Transcriber(Protocol):
    """What a request needs of a loaded engine (:class:`~swictation_rpc.engine.hybrid.HybridEngine`):
    the one ``transcribe`` signature the server and the microphone session call."""

    def transcribe(
        self,
        audio: np.ndarray,
        mode: Mode = "auto",
        *,
        final: bool = True,
        hotwords: list[str] | None = None,
        prompt: str | Mapping[str, str] | None = None,
        commands: list[str] | None = None,
    ) -> Transcript: ...

    def status(self) -> EngineStatus: ...

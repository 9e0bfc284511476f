"""A dictation session: microphone -> voice activity -> interim text -> final text.

This module is long (about 550 lines) on purpose: the capture thread, the decode thread, auto-stop and
the speculative tail decode share one recording and one lock discipline.

The server creates one :class:`DictationSession` per ``startDictation`` and finishes it with
``stopDictation`` / ``cancelDictation`` (or when the session asks for it through
``on_auto_stop``)::

    session = DictationSession(engine, options, mode="auto", on_partial=..., on_state=..., on_auto_stop=...)
    session.start()                     # opens the microphone (NoInputDeviceError / AudioDeviceError)
    transcript, audio = session.stop()  # final text + the whole recording (for the history)

Two threads do the work. The capture thread reads the microphone, keeps the recording, feeds the
streaming segmenter and watches for auto-stop; the decode thread decodes each speech segment in
fast mode as soon as the silence after it closes it, and reports the text so far with
``on_partial``. By the time the user stops, everything but the unfinished tail has been decoded,
so ``stop()`` costs the tail's decode (stop->edit latency), not the whole recording's.

Final text, by mode:

- ``fast``: the segment texts joined — the cheapest stop.
- ``accurate``, or ``auto`` with ``autoMode.finalUsesAccurate``: one accurate decode of the
  utterance (first to last speech) — better text, since the accurate model sees whole sentences,
  but stop then costs a decode of the whole utterance. It is skipped (segment texts used) when
  both modes are served by the same model (nothing to gain), when the utterance is longer than
  :data:`ACCURATE_FINAL_MAX_S` (the latency would grow with the recording), or when no speech
  was heard.

Per phrase (``dictation.commit: "perPhrase"``, with ``on_phrase``): each segment the silence closes
is handed to ``on_phrase`` with its audio as soon as it is decoded (decoded again in accurate mode
first where the final text would be accurate), instead of waiting for stop; ``on_partial`` then
carries only the phrase still open, and ``stop()`` returns only the tail (the speech after the
last phrase) with its audio.

Memory stays flat for long sessions: decoded segments are released, the segmenter keeps only the
open segment, and the recording moves to an anonymous temporary file past
:data:`IN_MEMORY_AUDIO_S` (``stop()`` then returns a read-only memory map of it).
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import numpy as np
from attrs import define

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.audio.capture import REPLAY_ENV, Microphone, ReplaySource
from swictation_rpc.audio.segmenter import SpeechSegment, StreamingSegmenter
from swictation_rpc.errors import AudioDeviceError, SwictationError
from swictation_rpc.options import ConcreteMode, Mode, Options
from swictation_rpc.protocol import State, Timings, Transcript

logger = logging.getLogger(__name__)

#: An utterance longer than this gets its segment texts as final text, not an accurate re-decode.
ACCURATE_FINAL_MAX_S = 120.0
#: The recording is kept in memory up to this length, then in an anonymous temporary file.
IN_MEMORY_AUDIO_S = 300.0
#: How long the capture thread waits for audio per read (bounds stop/cancel reaction time).
READ_TIMEOUT_S = 0.1
#: A pause this long in the open segment starts a speculative decode of the speech before it
#: (two Silero windows: well before ``min_silence_duration_ms`` closes the segment).
SPECULATE_AFTER_MS = 64.0
#: Environment switch for the speculative tail decode (on by default; ``0`` turns it off).
SPECULATE_ENV = "SWICTATION_SPECULATIVE_DECODE"


_SWITCH_OFF = ("0", "false", "no", "off")
_SWITCH_ON = ("", "1", "true", "yes", "on")


def speculation_enabled() -> bool:
    """``SWICTATION_SPECULATIVE_DECODE``: on unless ``0``/``false``/``no``/``off``; any other value
    than those or ``1``/``true``/``yes``/``on`` leaves it on, with a warning (once)."""
    value = os.environ.get(SPECULATE_ENV, "1").strip().lower()
    if value not in _SWITCH_OFF + _SWITCH_ON:
        _warn_once(
            f"{SPECULATE_ENV}={os.environ.get(SPECULATE_ENV)!r} is neither on (1, true, yes, on) nor off "
            "(0, false, no, off): the speculative tail decode stays on"
        )
    return value not in _SWITCH_OFF


@functools.cache
def _warn_once(message: str) -> None:
    logger.warning(message)


@define
class _Speculation:
    """A decode of the open segment's speech, started in a pause; ``key`` names that speech."""

    key: tuple[int, int]
    """(segment start, pause start): equal on the segment that closes with no voice since."""
    audio: np.ndarray


class AudioSource(Protocol):
    """What the session needs from a microphone (:class:`Microphone` is the real one)."""

    def start(self) -> None: ...
    def read(self, timeout_s: float | None = None) -> np.ndarray | None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


def default_source(options: Options) -> AudioSource:
    """The configured microphone, or the file named by ``SWICTATION_REPLAY_AUDIO`` played in real time."""
    replay = os.environ.get(REPLAY_ENV)
    if replay:
        return ReplaySource.from_file(replay)
    return Microphone(options.audio.input_device, options.audio.sample_rate_hz)


class _Recording:
    """The whole session's audio, in memory while short, then in an anonymous temporary file."""

    def __init__(self, in_memory_s: float = IN_MEMORY_AUDIO_S):
        self._limit = int(in_memory_s * SAMPLE_RATE)
        self._chunks: list[np.ndarray] = []
        self._file: Any = None
        self.samples = 0

    @property
    def resident_samples(self) -> int:
        return 0 if self._file is not None else self.samples

    def append(self, audio: np.ndarray) -> None:
        if not len(audio):
            return
        audio = np.asarray(audio, dtype=np.float32)
        if self._file is None and self.samples + len(audio) > self._limit:
            self._file = tempfile.TemporaryFile(prefix="swictation-dictation-")
            for chunk in self._chunks:
                self._file.write(chunk.tobytes())
            self._chunks = []
        if self._file is not None:
            self._file.write(audio.tobytes())
        else:
            self._chunks.append(audio.copy())
        self.samples += len(audio)

    def array(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self.samples if stop is None else min(stop, self.samples)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        if self._file is None:
            if len(self._chunks) > 1:
                self._chunks = [np.concatenate(self._chunks)]
            return self._chunks[0][start:stop]
        self._file.flush()
        mapped = np.memmap(self._file, dtype=np.float32, mode="r", shape=(self.samples,))
        return mapped[start:stop]

    def close(self) -> None:
        self._chunks = []
        if self._file is not None:
            self._file.close()  # anonymous: the data goes with the last mapping


class DictationSession:
    """One dictation from start to stop (or cancel); see the module docstring."""

    def __init__(
        self,
        engine: Any,
        options: Options,
        *,
        mode: Mode,
        on_partial: Callable[[str], None],
        on_state: Callable[[State, str | None], None],
        on_auto_stop: Callable[[], None] | None = None,
        source_factory: Callable[[], AudioSource] | None = None,
        hotwords: list[str] | None = None,
        hints: Mapping[str, Any] | None = None,
        segmenter: StreamingSegmenter | None = None,
        on_phrase: Callable[[Transcript, np.ndarray], None] | None = None,
    ):
        self.id = uuid.uuid4().hex
        # What the recognizer is told (text/hints.py, as for swictation/transcribe): the spoken
        # forms of identifiers near the cursor, the command phrases and prompt in effect there.
        self.hints: dict[str, Any] = dict(hints or {})
        if hotwords is not None:
            self.hints["hotwords"] = hotwords
        self.hotwords = self.hints.get("hotwords")
        self.engine = engine
        self.options = options
        self.mode: Mode = mode
        self._on_partial = on_partial
        self._on_state = on_state
        self._on_auto_stop = on_auto_stop
        self._source_factory = source_factory or (lambda: default_source(options))
        if segmenter is None and options.vad.enabled:
            segmenter = StreamingSegmenter(options.vad)
        self._segmenter = segmenter
        # Phrases are closed by the voice-activity detector: without it, everything goes at stop.
        self._on_phrase = on_phrase if segmenter is not None else None
        self._committed_until = 0  # stream sample after the last phrase handed to on_phrase
        self._recording = _Recording()
        self._source: AudioSource | None = None
        self._segments: queue.Queue[SpeechSegment | _Speculation | None] = queue.Queue()
        self._speculating = False  # a speculation is queued or being decoded (at most one)
        self._decoding = False  # the decode thread is decoding a segment
        self._spec_key: tuple[int, int] | None = None  # the last speech a speculation was started for
        self._speculated: tuple[tuple[int, int], Transcript] | None = None
        self._parts: list[Transcript] = []
        self._parts_lock = threading.Lock()
        self._speech_span: tuple[int, int] | None = None  # first..last speech sample
        self._finish = threading.Event()
        self._stopping = False
        self._cancelled = False
        self._auto_stop_sent = False
        self._capture_thread: threading.Thread | None = None
        self._decode_thread: threading.Thread | None = None
        self._result: tuple[Transcript, np.ndarray] | None = None
        self._stop_lock = threading.Lock()
        self.state: State = "idle"
        self.error: str | None = None
        """Why capture failed mid-session (the device was lost), if it did."""
        self.auto_stop_reason: str | None = None
        """``silence``, ``max-duration`` or ``error`` once the session asked to be stopped."""
        self.started_at: float | None = None
        self.stop_latency_ms: float | None = None
        """From ``stop()`` being called to the final text (the stop->edit latency, minus transport)."""
        self.tail_decode_ms: float | None = None
        """Decode time of the segment closed by stop (the unfinished tail), if there was one."""
        self.segments_decoded = 0
        self.speculations = 0
        """Speculative decodes run (each started in a pause, before the segment closed)."""
        self.speculations_used = 0
        """Segments whose text came from a speculative decode (no voice after it)."""
        self.speculate = speculation_enabled()
        """Decode the open segment in short pauses (see :meth:`_maybe_speculate`): a stop 0.8 s
        after the last word then finds its text decoded (README, Performance). On unless
        ``SWICTATION_SPECULATIVE_DECODE=0``."""
        self.max_buffered_samples = 0
        """Highest segmenter + microphone-read backlog seen, in samples (memory check)."""

    # -- public API --------------------------------------------------------------------------

    @property
    def partial_text(self) -> str:
        with self._parts_lock:
            return _join(part.text for part in self._parts)

    @property
    def commits_phrases(self) -> bool:
        """Phrases go to ``on_phrase`` while listening (``perPhrase`` with the VAD on)."""
        return self._on_phrase is not None

    @property
    def audio_samples(self) -> int:
        return self._recording.samples

    def start(self) -> None:
        """Open the microphone and start listening. Raises NoInputDeviceError / AudioDeviceError."""
        if self._source is not None:
            return
        source = self._source_factory()
        try:
            source.start()
        except BaseException:
            _quietly(source.close)
            raise
        self._source = source
        self.started_at = time.monotonic()
        self._set_state("listening", None)
        self._decode_thread = threading.Thread(
            target=self._decode_loop, name=f"dictation-decode-{self.id[:8]}", daemon=True
        )
        self._capture_thread = threading.Thread(
            target=self._capture_loop, name=f"dictation-capture-{self.id[:8]}", daemon=True
        )
        self._decode_thread.start()
        self._capture_thread.start()

    def stop(self) -> tuple[Transcript, np.ndarray]:
        """Stop listening; return the final text and the whole recording (16 kHz mono float32).

        Audio captured before a device failure is transcribed too. Calling it again returns the
        same result.
        """
        with self._stop_lock:
            if self._result is not None:
                return self._result
            if self._cancelled:
                raise SwictationError("The dictation session was cancelled")
            requested = time.perf_counter()
            self._stopping = True
            self._set_state("transcribing", None)
            self._finish.set()
            self._wake_capture()
            self._join()
            try:
                transcript = self._final_transcript(requested)
            finally:
                # Per phrase, the phrases went out with their own audio: the tail's is what is left.
                audio = self._recording.array(self._committed_until)
            self.stop_latency_ms = round((time.perf_counter() - requested) * 1000, 2)
            transcript.timings.total_ms = self.stop_latency_ms
            self._result = (transcript, audio)
            self._recording.close()
            logger.info(
                "Dictation %s stopped: %.1f s of audio, %d segment(s), stop->text %.0f ms",
                self.id[:8],
                self.audio_samples / SAMPLE_RATE,
                self.segments_decoded,
                self.stop_latency_ms,
            )
            return self._result

    def cancel(self) -> None:
        """Stop listening and discard what is not committed: everything, or per phrase the phrase
        still open (phrases a pause already closed are decoded and handed over first)."""
        with self._stop_lock:
            if self._result is not None or self._cancelled:
                return
            self._cancelled = True
            self._finish.set()
            self._wake_capture()
            if self._capture_thread is not None:
                self._capture_thread.join()
            if self._on_phrase is not None and self._decode_thread is not None:
                self._decode_thread.join()  # the capture thread ended the queue: closed phrases first
            # Otherwise a decode in flight cannot be interrupted; its thread drops the result and ends.
            self._recording.close()
            with self._parts_lock:
                self._parts.clear()

    # -- capture thread ----------------------------------------------------------------------

    def _capture_loop(self) -> None:
        source = self._source
        assert source is not None
        max_samples = int(self.options.vad.max_duration_s * SAMPLE_RATE)
        auto_stop_ms = self.options.vad.auto_stop_silence_ms
        try:
            while not self._finish.is_set():
                chunk = source.read(READ_TIMEOUT_S)
                if chunk is None:
                    break
                self._take(chunk[: max(max_samples - self._recording.samples, 0)])
                if self._recording.samples >= max_samples:
                    self._request_auto_stop("max-duration")
                    break
                seg = self._segmenter
                if auto_stop_ms and seg is not None and seg.speech_heard and seg.trailing_silence_ms >= auto_stop_ms:
                    self._request_auto_stop("silence")
                    break
        except Exception as exc:  # noqa: BLE001 - a failing device must end in an error state, not a dead thread
            self._fail(exc)
        finally:
            _quietly(source.stop)
            self._drain(source)
            _quietly(source.close)
            if self._segmenter is not None:
                tail = self._segmenter.flush()
                if tail is not None and not self._cancelled:
                    self._note_speech(tail)
                    self._segments.put(tail)
            self._segments.put(None)

    def _drain(self, source: AudioSource) -> None:
        """After stop: take what the microphone captured but was not read yet."""
        room = int(self.options.vad.max_duration_s * SAMPLE_RATE) - self._recording.samples
        try:
            while not self._cancelled and room > 0:
                chunk = source.read(0)
                if chunk is None or not len(chunk):
                    break
                self._take(chunk[:room])
                room -= len(chunk)
        except Exception as exc:  # noqa: BLE001
            if self.error is None and not isinstance(exc, AudioDeviceError):
                logger.debug("draining the microphone failed: %s", exc)

    def _take(self, chunk: np.ndarray) -> None:
        if self._cancelled or not len(chunk):
            return
        self._recording.append(chunk)
        if self._segmenter is None:
            return
        for segment in self._segmenter.feed(chunk):
            self._note_speech(segment)
            self._segments.put(segment)
        self._maybe_speculate()
        self.max_buffered_samples = max(self.max_buffered_samples, self._segmenter.buffered_samples + len(chunk))

    def _maybe_speculate(self) -> None:
        """In a short pause, queue a decode of the open segment's speech so far.

        At most one is queued or running, and only when the decode thread has nothing else to do
        (interim text never waits for a speculation it did not need). Its result is keyed by the
        speech it covered and used only by the segment that closes with that same speech.
        """
        seg = self._segmenter
        if not self.speculate or seg is None or self._stopping or self._cancelled:
            return
        pause = seg.open_pause
        if pause is None:
            return
        start, pause_start, seen = pause
        key = (start, pause_start)
        if key == self._spec_key or 1000.0 * (seen - pause_start) / SAMPLE_RATE < SPECULATE_AFTER_MS:
            return
        if self._speculating or self._decoding or not self._segments.empty():
            return
        self._spec_key = key
        self._speculating = True
        self._segments.put(_Speculation(key=key, audio=seg.peek(start, pause_start + seg.pad_samples)))

    def _note_speech(self, segment: SpeechSegment) -> None:
        first = segment.start if self._speech_span is None else self._speech_span[0]
        self._speech_span = (first, segment.end)

    def _fail(self, exc: Exception) -> None:
        reason = exc.message if isinstance(exc, SwictationError) else f"{type(exc).__name__}: {exc}"
        self.error = reason
        logger.warning("Dictation %s: capture failed: %s", self.id[:8], reason)
        self._set_state("error", reason)
        self._request_auto_stop("error")

    def _request_auto_stop(self, reason: str) -> None:
        """Ask the server to finish the session (from another thread: it will call stop())."""
        if self._auto_stop_sent or self._stopping or self._cancelled:
            return
        self._auto_stop_sent = True
        self.auto_stop_reason = reason
        logger.info("Dictation %s: auto-stop (%s)", self.id[:8], reason)
        callback = self._on_auto_stop
        if callback is not None:
            threading.Thread(target=_quietly, args=(callback,), name="dictation-auto-stop", daemon=True).start()

    # -- decode thread -----------------------------------------------------------------------

    def _decode_loop(self) -> None:
        while True:
            segment = self._segments.get()
            if segment is None:
                return
            if isinstance(segment, _Speculation):
                self._speculate(segment)
                continue
            # Per phrase, a phrase a pause closed before the cancel is the user's words: kept.
            keep = self._on_phrase is not None and segment.closed_by != "flush"
            if self._cancelled and not keep:
                continue
            tail = segment.closed_by == "flush"
            part = self._speculated_text(segment)
            if part is None:
                self._decoding = True
                try:
                    part = self.engine.transcribe(segment.audio, "fast", final=False, **self.hints)
                except Exception as exc:  # noqa: BLE001 - one bad segment must not end the session
                    logger.error("Dictation %s: decoding a segment failed: %s", self.id[:8], exc)
                    continue
                finally:
                    self._decoding = False
            part = _from_stream_start(part, segment.start)
            if tail:
                self.tail_decode_ms = part.timings.decode_ms
            if self._cancelled and not keep:
                continue
            if self._on_phrase is not None and not tail:
                self._commit_phrase(segment, part)
                continue
            with self._parts_lock:
                self._parts.append(part)
                self.segments_decoded += 1
                text = _join(p.text for p in self._parts)
            if not self._stopping and text:
                _quietly(self._on_partial, text)

    def _commit_phrase(self, segment: SpeechSegment, part: Transcript) -> None:
        """Hand a closed phrase to ``on_phrase`` (per-phrase commit), in accurate text where the
        final text would be accurate."""
        if self._wants_accurate_text():
            try:
                accurate = self.engine.transcribe(segment.audio, "accurate", final=True, **self.hints)
                part = _from_stream_start(accurate, segment.start)
            except Exception as exc:  # noqa: BLE001 - the fast text is still the user's words
                logger.warning(
                    "Dictation %s: accurate decode of a phrase failed (%s): fast text kept", self.id[:8], exc
                )
        self._committed_until = segment.end
        self.segments_decoded += 1
        callback = self._on_phrase
        assert callback is not None
        try:
            callback(part, segment.audio)
        except Exception:
            logger.exception("Dictation %s: committing a phrase failed", self.id[:8])
        if not self._stopping and not self._cancelled:
            _quietly(self._on_partial, self.partial_text)  # the open phrase only (maybe nothing)

    def _speculate(self, speculation: _Speculation) -> None:
        try:
            if self._cancelled:
                return
            try:
                part = self.engine.transcribe(speculation.audio, "fast", final=False, **self.hints)
            except Exception as exc:  # noqa: BLE001 - the segment will be decoded normally
                logger.debug("Dictation %s: speculative decode failed: %s", self.id[:8], exc)
                return
            self.speculations += 1
            self._speculated = (speculation.key, part)
        finally:
            self._speculating = False

    def _speculated_text(self, segment: SpeechSegment) -> Transcript | None:
        """The speculative decode of ``segment``'s speech, if no voiced audio came after it."""
        speculated, self._speculated = self._speculated, None
        if speculated is None or segment.speech_end is None or segment.closed_by == "max-length":
            return None
        key, part = speculated
        if key != (segment.start, segment.speech_end):
            return None  # speech resumed after the speculation: stale, dropped
        self.speculations_used += 1
        return part

    # -- stopping ----------------------------------------------------------------------------

    def _wake_capture(self) -> None:
        """Stop the microphone now, so the capture thread's pending read returns at once."""
        if self._source is not None:
            _quietly(self._source.stop)

    def _join(self) -> None:
        for thread in (self._capture_thread, self._decode_thread):
            if thread is not None:
                thread.join()

    def _final_transcript(self, requested: float) -> Transcript:
        audio_ms = round(1000.0 * self._recording.samples / SAMPLE_RATE, 1)
        with self._parts_lock:
            parts = list(self._parts)
        if self._segmenter is None and self._recording.samples:
            # No VAD: nothing was decoded while listening; decode the recording once.
            return self.engine.transcribe(self._recording.array(), self.mode, final=True, **self.hints)
        if self._on_phrase is not None:
            if not parts:
                # Everything said went out as phrases: nothing is left for stop.
                model = self._model_name("fast") or ""
                nothing = Timings(audio_ms=0.0, decode_ms=0.0, total_ms=0.0)
                return Transcript(text="", mode="fast", model=model, timings=nothing)
            if self._wants_accurate_text():
                # The tail only (the phrases were decoded as they closed).
                tail = self._recording.array(self._committed_until)
                return self.engine.transcribe(tail, "accurate", final=True, **self.hints)
        elif self._wants_accurate_redecode():
            assert self._speech_span is not None
            start, stop = self._speech_span
            return self.engine.transcribe(self._recording.array(start, stop), "accurate", final=True, **self.hints)
        decode_ms = round(sum(part.timings.decode_ms for part in parts), 2)
        model = parts[-1].model if parts else (self._model_name("fast") or "")
        joined = Transcript(
            text=_join(part.text for part in parts),
            mode="fast",
            model=model,
            timings=Timings(audio_ms=audio_ms, decode_ms=decode_ms, total_ms=0.0),
            language=parts[-1].language if parts else None,
        )
        words = _joined_words(parts)
        if words is None:
            return joined
        # The engine's own result type (it carries the word timings the formatter reads).
        return attrs.evolve(parts[-1], **attrs.asdict(joined, recurse=False), words=words)  # type: ignore[call-arg]

    def _wants_accurate_redecode(self) -> bool:
        if not self._wants_accurate_text() or self._speech_span is None:
            return False
        start, stop = self._speech_span
        if stop - start > ACCURATE_FINAL_MAX_S * SAMPLE_RATE:
            logger.info("Dictation %s: utterance too long for an accurate re-decode; using segment texts", self.id[:8])
            return False
        return True

    def _wants_accurate_text(self) -> bool:
        """The final text is the accurate model's, and that model is not the fast one."""
        wanted = self.mode == "accurate" or (self.mode == "auto" and self.options.auto_mode.final_uses_accurate)
        if not wanted:
            return False
        fast, accurate = self._model_name("fast"), self._model_name("accurate")
        return fast is None or fast != accurate

    def _model_name(self, mode: ConcreteMode) -> str | None:
        """The model serving ``mode`` now, from the engine's status (None if it cannot say)."""
        try:
            for model in self.engine.status().models:
                if model.mode == mode:
                    return model.name
        except Exception:  # noqa: BLE001 - status is advisory here
            return None
        return None

    def _set_state(self, state: State, reason: str | None) -> None:
        self.state = state
        _quietly(self._on_state, state, reason)


def _join(texts: Any) -> str:
    return " ".join(text.strip() for text in texts if text and text.strip())


def _from_stream_start(part: Transcript, start: int) -> Transcript:
    """``part`` (decoded from audio starting at sample ``start``) with its word timings, if the
    engine gave any, counted from the start of the recording, so pauses between segments show."""
    words = getattr(part, "words", None)
    if not words or not start:
        return part
    offset = start / SAMPLE_RATE
    shifted = [attrs.evolve(w, start_s=w.start_s + offset, end_s=w.end_s + offset) for w in words]
    return attrs.evolve(part, words=shifted)  # type: ignore[call-arg]


def _joined_words(parts: list[Transcript]) -> list[Any] | None:
    """The word timings of all parts, in order; ``None`` unless every part with text has them."""
    words: list[Any] = []
    for part in parts:
        part_words = getattr(part, "words", None)
        if part_words is None and part.text.strip():
            return None
        words.extend(part_words or ())
    return words if parts and words else None


def _quietly(function: Callable[..., Any], *args: Any) -> None:
    """Call a callback; its failure is logged, never allowed to kill a worker thread."""
    try:
        function(*args)
    except Exception:
        logger.exception("%s failed", getattr(function, "__name__", function))

"""Streaming voice-activity segmentation: 16 kHz chunks in, closed speech segments out.

Silero VAD v6 as faster-whisper ships it (``faster_whisper/assets/silero_vad_v6.onnx``, run by
onnxruntime, no torch). The model reads 512-sample windows, each preceded by the last 64 samples
of the window before, and carries an LSTM state (``h``, ``c``) from window to window; carrying
that state and context across calls gives exactly the probabilities of one pass over the whole
recording, so segmenting a stream costs nothing in accuracy.

The segmentation follows faster-whisper's ``get_speech_timestamps`` (threshold with hysteresis,
``min_silence_duration_ms`` closes a segment, over-long speech is split at its last pause) but
runs incrementally and keeps only the open segment plus a little pre-roll, so memory is flat
however long the stream runs.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np
from attrs import define

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.options import VadOptions

WINDOW = 512
"""Samples per Silero window at 16 kHz (32 ms)."""
CONTEXT = 64
"""Samples of the previous window each window is prefixed with."""

_model_lock = threading.Lock()
_session: Any = None


def _vad_session() -> Any:
    """The onnxruntime session of faster-whisper's Silero model, built once per process.

    ``InferenceSession.run`` is thread-safe and the recurrent state is passed in, so one session
    serves every stream.
    """
    global _session
    with _model_lock:
        if _session is None:
            from faster_whisper.vad import get_vad_model

            _session = get_vad_model().session
        return _session


class SileroStream:
    """Silero speech probabilities for consecutive 512-sample windows of one stream."""

    def __init__(self, session: Any = None):
        self._session = session or _vad_session()
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Speech probability of each row of ``windows`` (shape ``(n, 512)``), in stream order."""
        if not len(windows):
            return np.zeros(0, dtype=np.float32)
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        previous = np.concatenate([self._context[None, :], windows[:-1, -CONTEXT:]], axis=0)
        batch = np.concatenate([previous, windows], axis=1)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(-1)


@define
class SpeechSegment:
    """A stretch of speech with its padding, as 16 kHz mono float32."""

    audio: np.ndarray
    start: int
    """First sample, counted from the start of the stream."""
    end: int
    """One past the last sample."""
    speech_ms: float
    """Speech inside the segment, padding excluded."""
    closed_by: Literal["silence", "max-length", "flush"]
    speech_end: int | None = None
    """Where the pause that ended the speech began (the stream position of its first quiet
    window), when the segment ended in one; ``None`` when speech ran up to the cut."""

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


class StreamingSegmenter:
    """Feed 16 kHz mono chunks; get each speech segment as soon as the silence after it is long enough.

    ``options`` gives the threshold and ``min_silence_duration_ms`` (the pause that ends a
    segment). Segments are padded with up to ``speech_pad_ms`` of audio on each side, speech
    shorter than ``min_speech_ms`` (clicks, breaths) is dropped, and speech running longer than
    ``max_segment_s`` is cut at its last pause (or hard, if there was none) so a segment always
    stays decodable in one pass.
    """

    def __init__(
        self,
        options: VadOptions | None = None,
        *,
        speech_pad_ms: int = 200,
        min_speech_ms: int = 250,
        max_segment_s: float = 25.0,
        vad: SileroStream | None = None,
    ):
        options = options or VadOptions()
        self.threshold = float(options.threshold)
        self.neg_threshold = max(self.threshold - 0.15, 0.01)
        self.min_silence_samples = int(options.min_silence_duration_ms * SAMPLE_RATE / 1000)
        self.pad_samples = int(speech_pad_ms * SAMPLE_RATE / 1000)
        self.min_speech_samples = int(min_speech_ms * SAMPLE_RATE / 1000)
        self.max_segment_samples = max(int(max_segment_s * SAMPLE_RATE), 4 * WINDOW + 2 * self.pad_samples)
        self._pause_for_split = int(0.098 * SAMPLE_RATE)
        self._vad = vad or SileroStream()
        self.reset()

    def reset(self) -> None:
        """Forget everything: a new stream starts at sample 0."""
        self._vad.reset()
        self._pending = np.zeros(0, dtype=np.float32)  # < WINDOW samples not yet seen by the VAD
        self._chunks: list[np.ndarray] = []  # retained audio, from self._buf_start to self._pos
        self._buf_start = 0
        self._pos = 0  # samples the VAD has seen
        self._floor = 0  # a new segment may not start before the end of the last one
        self._triggered = False
        self._seg_start = 0  # with pre-padding
        self._speech_start = 0
        self._temp_end: int | None = None  # where the current pause began
        self._prev_end: int | None = None  # start of the last pause long enough to split at
        self._quietest: tuple[float, int] | None = None  # lowest-probability window in the split zone
        self._last_voice = 0
        self.speech_heard = False
        """True once speech of at least ``min_speech_ms`` was heard."""
        self.segments_closed = 0

    # -- what the session reads --------------------------------------------------------------

    @property
    def in_speech(self) -> bool:
        return self._triggered

    @property
    def samples_seen(self) -> int:
        return self._pos + len(self._pending)

    @property
    def buffered_samples(self) -> int:
        """Samples held right now: the open segment, the pre-roll and the partial window."""
        return sum(len(chunk) for chunk in self._chunks) + len(self._pending)

    @property
    def trailing_silence_ms(self) -> float:
        """Silence since the last speech, in ms; 0 until speech was heard (auto-stop reads it)."""
        if not self.speech_heard:
            return 0.0
        return 1000.0 * (self._pos - self._last_voice) / SAMPLE_RATE

    @property
    def open_pause(self) -> tuple[int, int, int] | None:
        """``(segment start, pause start, samples seen)`` while the open segment is in a pause
        after enough speech to keep; ``None`` otherwise.

        The first two name the speech a speculative decode would cover: while they stay the same,
        no voiced audio arrived since, and the segment will close (on silence or at the end of the
        stream) with exactly that speech and only more trailing silence.
        """
        if not self._triggered or self._temp_end is None:
            return None
        if self._temp_end - self._speech_start < self.min_speech_samples:
            return None
        return self._seg_start, self._temp_end, self._pos

    def peek(self, start: int, stop: int) -> np.ndarray:
        """A copy of the retained audio between two stream positions; nothing is cut or dropped."""
        return self._slice(start, min(stop, self._pos))

    # -- feeding -----------------------------------------------------------------------------

    def feed(self, audio: np.ndarray) -> list[SpeechSegment]:
        """Take the next chunk of the stream; return the segments it closed."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if not len(audio):
            return []
        data = np.concatenate([self._pending, audio]) if len(self._pending) else audio
        usable = len(data) // WINDOW * WINDOW
        self._pending = data[usable:].copy()
        if not usable:
            return []
        windows = data[:usable].reshape(-1, WINDOW)
        probs = self._vad.probabilities(windows)
        self._chunks.append(data[:usable].copy())
        closed: list[SpeechSegment] = []
        for prob in probs:
            start = self._pos
            self._pos += WINDOW
            segment = self._step(float(prob), start)
            if segment is not None:
                closed.append(segment)
        self._trim()
        return closed

    def flush(self) -> SpeechSegment | None:
        """End of stream: close the open segment (with the partial window), then reset the state."""
        segment = None
        if self._triggered:
            if len(self._pending):
                self._chunks.append(self._pending)
            end = self._pos + len(self._pending)
            speech = end - self._speech_start
            if speech >= self.min_speech_samples or self.speech_heard:
                segment = self._cut(self._seg_start, end, speech, "flush", self._temp_end)
        self._pending = np.zeros(0, dtype=np.float32)
        self._triggered = False
        self._chunks = []
        self._buf_start = self._pos
        return segment

    # -- the state machine -------------------------------------------------------------------

    def _step(self, prob: float, start: int) -> SpeechSegment | None:
        end = start + WINDOW
        if not self._triggered:
            if prob >= self.threshold:
                self._triggered = True
                self._speech_start = start
                self._seg_start = max(start - self.pad_samples, self._floor, self._buf_start)
                self._temp_end = self._prev_end = self._quietest = None
                self._last_voice = end
            return None

        if prob >= self.threshold:
            self._temp_end = None
            self._last_voice = end
        elif prob >= self.neg_threshold and self._temp_end is None:
            self._last_voice = end  # hysteresis: still speaking
        if not self.speech_heard and self._last_voice - self._speech_start >= self.min_speech_samples:
            self.speech_heard = True

        if prob < self.neg_threshold:
            if self._temp_end is None:
                self._temp_end = start
            if start - self._temp_end > self._pause_for_split:
                self._prev_end = self._temp_end
            if end - self._temp_end >= self.min_silence_samples:
                return self._close_on_silence(end)

        if end - self._seg_start >= self.max_segment_samples // 2:
            if self._quietest is None or prob < self._quietest[0]:
                self._quietest = (prob, start)
        if end - self._seg_start > self.max_segment_samples:
            return self._split(end)
        return None

    def _close_on_silence(self, now: int) -> SpeechSegment | None:
        assert self._temp_end is not None
        speech_end = self._temp_end
        speech = speech_end - self._speech_start
        stop = min(speech_end + self.pad_samples, now)
        self._triggered = False
        self._temp_end = self._prev_end = self._quietest = None
        if speech < self.min_speech_samples:
            return None  # a click or a breath
        return self._cut(self._seg_start, stop, speech, "silence", speech_end)

    def _split(self, now: int) -> SpeechSegment:
        """Speech ran past ``max_segment_s``: cut at the last pause, else at the quietest window of
        the segment's second half (between words, most likely), else here."""
        if self._prev_end is not None and self._prev_end > self._seg_start:
            cut = self._prev_end
        elif self._quietest is not None and self._quietest[1] > self._seg_start:
            cut = self._quietest[1]
        else:
            cut = now
        speech = cut - self._speech_start
        segment = self._cut(self._seg_start, cut, speech, "max-length")
        self._seg_start = self._speech_start = cut
        self._prev_end = self._quietest = None
        if self._temp_end is not None and self._temp_end < cut:
            self._temp_end = cut
        return segment

    def _cut(self, start: int, stop: int, speech: int, closed_by: str, speech_end: int | None = None) -> SpeechSegment:
        audio = self._slice(start, stop)
        self._floor = stop
        self.segments_closed += 1
        return SpeechSegment(
            audio=audio,
            start=start,
            end=stop,
            speech_ms=1000.0 * max(speech, 0) / SAMPLE_RATE,
            closed_by=closed_by,  # type: ignore[arg-type]
            speech_end=speech_end,
        )

    # -- the retained audio ------------------------------------------------------------------

    def _slice(self, start: int, stop: int) -> np.ndarray:
        """Retained audio between two stream positions (both within what is kept)."""
        start = max(start, self._buf_start)
        data = (
            np.concatenate(self._chunks)
            if len(self._chunks) > 1
            else (self._chunks[0] if self._chunks else np.zeros(0, dtype=np.float32))
        )
        self._chunks = [data] if len(data) else []
        return data[start - self._buf_start : stop - self._buf_start].copy()

    def _trim(self) -> None:
        """Drop audio no segment can need any more: all but the pre-roll when idle."""
        keep_from = self._seg_start if self._triggered else max(self._pos - self.pad_samples, self._floor)
        keep_from = max(keep_from, self._buf_start)
        if keep_from == self._buf_start:
            return
        drop = keep_from - self._buf_start
        kept: list[np.ndarray] = []
        for chunk in self._chunks:
            if drop >= len(chunk):
                drop -= len(chunk)
                continue
            kept.append(chunk[drop:] if drop else chunk)
            drop = 0
        self._chunks = kept
        self._buf_start = keep_from

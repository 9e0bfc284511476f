"""Streaming Silero segmentation on real (Piper) speech; no microphone needed, so not marked ``audio``."""

from __future__ import annotations

import itertools

import numpy as np
import psutil
import pytest

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.audio.segmenter import WINDOW, SileroStream, StreamingSegmenter
from swictation_rpc.options import VadOptions
from swictation_rpc.testing.speech import word_error_rate as wer
from tests.audio.conftest import SENTENCES


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def voiced_span(clip: np.ndarray, level: float = 0.02) -> tuple[int, int]:
    """First and one-past-last sample louder than ``level`` (Piper leaves silence around words)."""
    loud = np.flatnonzero(np.abs(clip) > level)
    return int(loud[0]), int(loud[-1]) + 1


def trimmed(clip: np.ndarray) -> np.ndarray:
    start, stop = voiced_span(clip)
    return clip[start:stop]


def feed_in_chunks(segmenter: StreamingSegmenter, audio: np.ndarray, *, seed: int = 0, max_chunk: int = 4000):
    """Feed ``audio`` in random-sized chunks (as a microphone would); yield (position, segment)."""
    rng = np.random.default_rng(seed)
    position = 0
    while position < len(audio):
        size = int(rng.integers(1, max_chunk))
        chunk = audio[position : position + size]
        position += len(chunk)
        for segment in segmenter.feed(chunk):
            yield position, segment


def test_streaming_probabilities_equal_one_pass_over_the_whole_recording(speech):
    from faster_whisper.vad import get_vad_model

    audio = np.concatenate([silence(0.4), speech(SENTENCES[0]), silence(0.8), speech(SENTENCES[1])])
    audio = np.pad(audio, (0, WINDOW - len(audio) % WINDOW))
    whole = np.asarray(get_vad_model()(audio)).reshape(-1)

    stream = SileroStream()
    windows = audio.reshape(-1, WINDOW)
    rng = np.random.default_rng(7)
    streamed, index = [], 0
    while index < len(windows):
        count = int(rng.integers(1, 12))
        streamed.append(stream.probabilities(windows[index : index + count]))
        index += count
    np.testing.assert_allclose(np.concatenate(streamed), whole, atol=1e-6)
    assert whole.max() > 0.9 and whole[:10].max() < 0.5  # speech is found, leading silence is not


def test_each_sentence_becomes_one_segment_closed_soon_after_it_ends(speech, engine):
    first, second = speech(SENTENCES[0]), speech(SENTENCES[1])
    gap, lead = 1.2, 0.6
    audio = np.concatenate([silence(lead), first, silence(gap), second, silence(1.5)])
    options = VadOptions(min_silence_duration_ms=500)
    segmenter = StreamingSegmenter(options, speech_pad_ms=200)

    closed = list(feed_in_chunks(segmenter, audio))

    assert [segment.closed_by for _, segment in closed] == ["silence", "silence"]
    lead_n = int(lead * SAMPLE_RATE)
    first_voice = (lead_n + voiced_span(first)[0], lead_n + voiced_span(first)[1])
    second_offset = lead_n + len(first) + int(gap * SAMPLE_RATE)
    second_voice = (second_offset + voiced_span(second)[0], second_offset + voiced_span(second)[1])
    (closed_at_1, seg1), (_closed_at_2, seg2) = closed
    # Each segment holds its sentence's voice, padded, and nothing of the other sentence.
    assert seg1.start <= first_voice[0] and first_voice[1] - WINDOW <= seg1.end <= second_voice[0]
    assert seg1.end <= seg2.start <= second_voice[0] and seg2.end >= second_voice[1] - WINDOW
    # Streaming: the first segment is out before the second sentence is over, within the closing
    # silence (+ a window and the largest chunk) of where the speech stopped.
    assert closed_at_1 < second_voice[1]
    assert closed_at_1 - first_voice[1] < options.min_silence_duration_ms * SAMPLE_RATE / 1000 + WINDOW + 4000
    for segment, sentence in ((seg1, SENTENCES[0]), (seg2, SENTENCES[1])):
        text = engine.transcribe(segment.audio, "fast", final=False).text
        assert wer(sentence, text) <= 0.25, (sentence, text)
    assert segmenter.flush() is None  # nothing left open


def test_trailing_silence_counts_from_the_last_speech(speech):
    segmenter = StreamingSegmenter(VadOptions())
    segmenter.feed(silence(1.0))
    assert not segmenter.speech_heard and segmenter.trailing_silence_ms == 0.0

    segmenter.feed(speech(SENTENCES[2]))
    assert segmenter.speech_heard
    assert segmenter.trailing_silence_ms < 500  # Piper leaves a little silence after the words

    before = segmenter.trailing_silence_ms
    segmenter.feed(silence(1.5))
    assert segmenter.trailing_silence_ms == pytest.approx(before + 1500, abs=2 * 1000 * WINDOW / SAMPLE_RATE)


def test_flush_returns_the_unfinished_tail(speech):
    segmenter = StreamingSegmenter(VadOptions())
    assert segmenter.feed(np.concatenate([silence(0.5), speech(SENTENCES[1])[:-2000]])) == []
    assert segmenter.in_speech
    tail = segmenter.flush()
    assert tail is not None and tail.closed_by == "flush"
    assert tail.duration_s > 1.0
    assert not segmenter.in_speech and segmenter.buffered_samples == 0


def test_clicks_shorter_than_min_speech_are_dropped():
    rng = np.random.default_rng(3)
    audio = silence(3.0)
    for start in (0.5, 1.5, 2.2):  # 30 ms bursts of loud noise
        index = int(start * SAMPLE_RATE)
        audio[index : index + 480] = rng.uniform(-0.9, 0.9, 480).astype(np.float32)
    segmenter = StreamingSegmenter(VadOptions(), min_speech_ms=250)
    assert list(feed_in_chunks(segmenter, audio)) == []
    assert not segmenter.speech_heard


def test_speech_longer_than_max_segment_is_split_at_pauses(speech):
    # ~13 s of sentences with short (0.2 s) pauses, which never reach the 0.5 s closing silence.
    sentences = [trimmed(speech(text)) for text in SENTENCES] * 2
    audio = np.concatenate([np.concatenate([clip, silence(0.2)]) for clip in sentences] + [silence(1.0)])
    segmenter = StreamingSegmenter(VadOptions(min_silence_duration_ms=500), max_segment_s=6.0)
    segments = [segment for _, segment in feed_in_chunks(segmenter, audio)]
    tail = segmenter.flush()
    segments += [tail] if tail is not None else []
    assert len(segments) >= 3
    assert any(segment.closed_by == "max-length" for segment in segments)
    assert all(segment.duration_s <= 6.0 + 0.5 for segment in segments)
    # Consecutive, non-overlapping, and together they cover the speech.
    assert all(a.end <= b.start for a, b in itertools.pairwise(segments))
    covered = sum(segment.end - segment.start for segment in segments)
    assert covered >= sum(len(clip) for clip in sentences) * 0.9


def test_an_hour_of_audio_keeps_memory_flat(speech):
    """An hour, faster than real time: the segmenter only ever holds the open segment and pre-roll."""
    rng = np.random.default_rng(11)
    clips = [speech(text) for text in SENTENCES]
    noise = (rng.standard_normal(SAMPLE_RATE * 2) * 0.003).astype(np.float32)  # room noise in pauses
    # One 60 s cycle: dictated sentences with pauses, then 20 s of speech with no pause long enough to close.
    talk = np.concatenate([np.concatenate([clip, noise[:SAMPLE_RATE]]) for clip in clips])
    monologue = np.concatenate([np.concatenate([trimmed(clip), noise[: SAMPLE_RATE // 5]]) for clip in clips * 3])
    cycle = np.concatenate([talk, monologue, noise])
    cycle = np.concatenate([cycle, np.tile(noise, 30)])[: 60 * SAMPLE_RATE]
    max_segment_s, pad_ms, chunk = 10.0, 200, SAMPLE_RATE // 4
    bound = int(max_segment_s * SAMPLE_RATE) + pad_ms * SAMPLE_RATE // 1000 + chunk + 2 * WINDOW

    segmenter = StreamingSegmenter(VadOptions(), max_segment_s=max_segment_s, speech_pad_ms=pad_ms)
    process = psutil.Process()
    highest = segments = longest = 0
    rss_after_first_minute = None
    for minute in range(60):
        for offset in range(0, len(cycle), chunk):
            for segment in segmenter.feed(cycle[offset : offset + chunk]):
                segments += 1
                longest = max(longest, segment.end - segment.start)
            highest = max(highest, segmenter.buffered_samples)
        if minute == 0:
            rss_after_first_minute = process.memory_info().rss
    rss_growth_mb = (process.memory_info().rss - rss_after_first_minute) / 2**20

    assert segmenter.samples_seen == 3600 * SAMPLE_RATE
    assert highest <= bound, f"held {highest} samples, bound {bound}"
    assert longest <= int((max_segment_s + 0.5) * SAMPLE_RATE)
    assert segments >= 60 * 4  # every minute: three sentences and a split monologue
    # An hour of float32 at 16 kHz is 220 MiB; the process must not grow anywhere near that.
    assert rss_growth_mb < 40, f"RSS grew {rss_growth_mb:.0f} MiB over the hour"

"""Voice activity for whole clips: Silero VAD (the ONNX model faster-whisper ships; no torch)."""

from __future__ import annotations

import numpy as np

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.options import VadOptions


def speech_spans(audio: np.ndarray, options: VadOptions, *, max_span_s: float = 25.0) -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` that hold speech, none longer than ``max_span_s``.

    Transducers decode a whole span in one encoder pass, so spans are capped to keep memory and
    latency bounded on long recordings; Silero splits over-long speech at its quietest point.
    """
    from faster_whisper.vad import VadOptions as SileroOptions
    from faster_whisper.vad import get_speech_timestamps

    stamps = get_speech_timestamps(
        audio,
        SileroOptions(
            threshold=options.threshold,
            min_silence_duration_ms=options.min_silence_duration_ms,
            max_speech_duration_s=max_span_s,
            speech_pad_ms=200,
        ),
        sampling_rate=SAMPLE_RATE,
    )
    return [(int(s["start"]), int(s["end"])) for s in stamps]


def speech_chunks(audio: np.ndarray, options: VadOptions, *, max_chunk_s: float = 25.0) -> list[tuple[int, int]]:
    """Speech spans merged with their neighbours into chunks of at most ``max_chunk_s``.

    Decoding every pause-delimited span on its own is slow (Whisper pads each to a 30 s window)
    and loses context; one chunk per ~25 s keeps both the cost and the memory of a pass bounded.
    """
    limit = int(max_chunk_s * SAMPLE_RATE)
    chunks: list[tuple[int, int]] = []
    for start, end in speech_spans(audio, options, max_span_s=max_chunk_s):
        if chunks and end - chunks[-1][0] <= limit:
            chunks[-1] = (chunks[-1][0], end)
        else:
            chunks.append((start, end))
    return chunks


def fixed_chunks(audio: np.ndarray, *, chunk_s: float = 25.0) -> list[tuple[int, int]]:
    """Equal windows, for when VAD is turned off (words at a boundary may be cut)."""
    step = int(chunk_s * SAMPLE_RATE)
    return [(start, min(start + step, len(audio))) for start in range(0, len(audio), step)]

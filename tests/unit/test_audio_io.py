"""Audio input: any file format, rate and channel count becomes 16 kHz mono; bad input is a clear error."""

from __future__ import annotations

import base64
import os

import numpy as np
import pytest
import soundfile

from swictation_rpc.audio.io import audio_from_input, decode_pcm16, load_audio, sample_clip_path
from swictation_rpc.errors import AudioUnreadableError
from swictation_rpc.protocol import AudioInput


def _tone(seconds: float, rate: int, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize(
    "fmt,subtype,ext", [("WAV", "PCM_16", "wav"), ("FLAC", "PCM_16", "flac"), ("OGG", "VORBIS", "ogg")]
)
@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_files_of_any_format_and_rate_become_16k_mono(tmp_path, fmt, subtype, ext, rate):
    stereo = np.stack([_tone(1.0, rate), _tone(1.0, rate)], axis=1)
    path = tmp_path / f"clip.{ext}"
    soundfile.write(path, stereo, rate, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 16000) <= 160  # 1 s, within a resampler's edge
    # The tone survives: its spectral peak is still at 440 Hz.
    spectrum = np.abs(np.fft.rfft(audio[:16000]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) <= 2


def test_pcm16_inline_audio_is_decoded_and_downmixed():
    rate = 48000
    left = (_tone(0.5, rate) * 32767).astype("<i2")
    interleaved = np.stack([left, np.zeros_like(left)], axis=1).reshape(-1)
    audio = decode_pcm16(base64.b64encode(interleaved.tobytes()).decode(), rate, 2)
    assert len(audio) == 8000
    assert 0.2 < np.abs(audio).max() < 0.3  # the average of a 0.5 tone and silence


@pytest.mark.parametrize(
    "params,needle",
    [
        ({"pcm16": "not base64!", "sample_rate": 16000}, "base64"),
        ({"pcm16": base64.b64encode(b"abc").decode(), "sample_rate": 16000}, "16-bit"),
        ({"pcm16": "AAAA", "sample_rate": 0}, "sampleRate"),
        ({}, "exactly one"),
        ({"path": "/x.wav", "pcm16": "AAAA"}, "exactly one"),
    ],
)
def test_malformed_inline_audio_is_a_clear_error(params, needle):
    with pytest.raises(AudioUnreadableError, match=needle):
        audio_from_input(AudioInput(**params))


def test_missing_file_error_names_the_file(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioUnreadableError) as info:
        load_audio(missing)
    assert str(missing) in info.value.message
    assert info.value.data["path"] == str(missing)


def test_non_audio_file_error_names_the_file(tmp_path):
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio")
    with pytest.raises(AudioUnreadableError, match="notes.wav"):
        load_audio(junk)


def test_directories_and_fifos_are_refused_without_blocking(tmp_path):
    with pytest.raises(AudioUnreadableError, match="not a regular file"):
        load_audio(tmp_path)
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioUnreadableError, match="not a regular file"):
        load_audio(fifo)


def test_sample_clip_is_shipped_and_is_speech():
    audio = load_audio(sample_clip_path())
    assert 2.0 < len(audio) / 16000 < 8.0
    assert np.abs(audio).max() > 0.1

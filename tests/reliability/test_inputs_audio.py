"""Audio inputs that used to end in -32603 or in gigabytes: typed errors, refused before decoding.

Issue 19, items 8 and 13, over the real server:

- a path with a NUL byte or a lone surrogate, or an empty path, is an ``audio-unreadable`` error
  that says what is wrong with the path (an empty path is called one, not shown as ".");
- a ``position`` near 2^31 is an invalid-params error, answered before the audio is decoded;
- a small file whose header claims hours of many-channel audio (or whose samples x channels
  would decode to gigabytes) is refused from its header, before any sample is decoded;
- the bytes being decoded across concurrent requests are bounded: past the budget a request
  gets a ``server-busy`` error (and the budget is released whatever happens).
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from swictation_rpc.audio import io as audio_io
from swictation_rpc.audio.io import sample_clip_path
from swictation_rpc.errors import AudioUnreadableError, ServerBusyError
from swictation_rpc.protocol import AudioInput
from tests.e2e.conftest import transcribe_params

from .conftest import PROBE_TIMEOUT_S, Server, add_figure, server_env, start_module_server

AUDIO_UNREADABLE = -33003
INVALID_PARAMS = -32602


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = start_module_server(tmp_path_factory.mktemp("inputs-audio"))
    yield live
    live.kill()


def _error(server: Server, params: dict, timeout: float = PROBE_TIMEOUT_S) -> dict:
    message = server.response(server.request_async("swictation/transcribe", params), timeout)
    assert "error" in message, message
    return message["error"]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/tmp/clip\x00.wav", "NUL"),
        ("/tmp/clip\ud800.wav", "surrogate"),
        ("", "an empty path"),
    ],
    ids=["nul", "lone-surrogate", "empty"],
)
def test_a_malformed_audio_path_is_a_typed_error(server: Server, path: str, words: str) -> None:
    error = _error(server, transcribe_params(path))
    assert error["code"] == AUDIO_UNREADABLE, error
    assert words in error["message"], error
    assert error["data"]["remedy"]
    assert "'.'" not in error["message"] and " . " not in error["message"]
    server.probe()
    add_figure("audio_paths_malformed_refused")


@pytest.mark.parametrize("field", ["line", "character"])
def test_a_position_near_2_31_is_invalid_params_answered_before_the_decode(server: Server, field: str) -> None:
    params = transcribe_params(sample_clip_path())
    params["position"][field] = 2**31 - 1
    started = time.monotonic()
    error = _error(server, params)
    assert error["code"] == INVALID_PARAMS, error
    assert f"position.{field} must be at most" in error["message"], error
    # Nothing was decoded for it: no utterance, no decode time spent.
    assert time.monotonic() - started < 5
    server.probe()


def _flac(path: Path, rate: int, channels: int, seconds: float) -> Path:
    soundfile.write(path, np.zeros((int(rate * seconds), channels), dtype=np.int16), rate, format="FLAC")
    return path


def _claim_frames(path: Path, frames: int) -> None:
    """Rewrite STREAMINFO's total-samples field (36 bits): the header now claims ``frames``."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    start = 4 + 4 + 10  # "fLaC", the block header, the block and frame sizes
    packed = struct.unpack(">Q", bytes(data[start : start + 8]))[0]  # rate, channels, bits, total samples
    packed = (packed & ~((1 << 36) - 1)) | frames
    data[start : start + 8] = struct.pack(">Q", packed)
    path.write_bytes(bytes(data))


def test_a_header_claiming_hours_of_many_channel_audio_is_refused_before_decoding(
    server: Server, tmp_path: Path
) -> None:
    bomb = _flac(tmp_path / "bomb.flac", 384_000, 8, 0.05)
    _claim_frames(bomb, 4 * 3600 * 384_000 - 1)  # 4 hours at 384 kHz x 8 channels: 165 GiB as float32
    assert bomb.stat().st_size < 64_000
    before = server.peak_rss_mb()
    error = _error(server, transcribe_params(bomb))
    assert error["code"] == AUDIO_UNREADABLE, error
    assert "channels" in error["message"] and "Traceback" not in error["message"], error
    assert server.peak_rss_mb() - before < 200
    add_figure("audio_header_bombs_refused")


def test_twenty_minutes_of_8_channel_48_khz_audio_is_refused_from_its_header(server: Server, tmp_path: Path) -> None:
    # 476 KB of FLAC that would decode to 2.5 GB: samples x channels is what is bounded.
    wide = _flac(tmp_path / "wide.flac", 48_000, 8, 1.0)
    _claim_frames(wide, 20 * 60 * 48_000)
    before = server.peak_rss_mb()
    error = _error(server, transcribe_params(wide))
    assert error["code"] == AUDIO_UNREADABLE, error
    assert "8 channels" in error["message"], error
    assert server.peak_rss_mb() - before < 200
    # Plain speech still goes through.
    assert server.request("swictation/transcribe", transcribe_params(sample_clip_path()))["text"]


def test_pcm16_beyond_the_sample_bound_is_refused_before_it_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Over the wire the transport's message limit (64 MiB) comes first; the bound still holds for
    # any caller, checked from the base64 length before a byte is decoded.
    monkeypatch.setattr(audio_io, "MAX_DECODED_SAMPLES", 16000 * 4)
    raw = base64.b64encode(bytes(8000 * 8 * 2 * 2)).decode()  # 2 s of 8 kHz x 8 channels
    with pytest.raises(AudioUnreadableError) as caught:
        audio_io.audio_from_input(AudioInput(pcm16=raw, sample_rate=8000, channels=8))
    assert "8 channels" in caught.value.message and "samples" in caught.value.message
    assert audio_io.audio_bytes_in_flight() == 0


def test_bytes_in_flight_across_requests_are_bounded_with_a_busy_error() -> None:
    pcm = AudioInput(pcm16=base64.b64encode(bytes(16000 * 2)).decode(), sample_rate=16000)
    # Another request holds all but a few bytes of the budget: this one is refused, not queued.
    with audio_io.reserve_audio_bytes(audio_io.MAX_AUDIO_BYTES_IN_FLIGHT - 1000, "another request"):
        with pytest.raises(ServerBusyError) as caught:
            audio_io.audio_from_input(pcm)
        assert "busy" in caught.value.message
        assert caught.value.CODE != AudioUnreadableError.CODE
    # Released on every path: the failed request and the holder gave their bytes back.
    assert audio_io.audio_bytes_in_flight() == 0
    assert len(audio_io.audio_from_input(pcm)) == 16000
    with pytest.raises(AudioUnreadableError):
        audio_io.audio_from_input(AudioInput(pcm16="not base64!", sample_rate=16000))
    assert audio_io.audio_bytes_in_flight() == 0


def test_transcribing_writes_nothing_outside_the_data_dir_onnxruntime_telemetry_off(
    spawn: Callable[..., Server], tmp_path: Path
) -> None:
    # Issue 19, item 12: onnxruntime wrote a device id and machine facts under
    # ~/.cache/Microsoft/DeveloperTools/.onnxruntime as soon as it was imported (the VAD does).
    home = tmp_path / "home"
    home.mkdir()
    env = server_env(tmp_path / "data")
    for key in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "ORT_DISABLE_TELEMETRY"):
        env.pop(key, None)
    env["HOME"] = str(home)
    server = spawn({"vad": {"enabled": True}}, replace_env=env)
    result = server.request("swictation/transcribe", transcribe_params(sample_clip_path()), timeout=120)
    assert result["text"]
    server.shutdown_and_exit()
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert written == [], f"files written under HOME: {written}"

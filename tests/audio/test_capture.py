"""Microphone capture through real PortAudio from a headless PulseAudio virtual microphone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.audio.capture import Microphone, list_input_devices
from swictation_rpc.errors import AudioDeviceError, NoInputDeviceError
from swictation_rpc.testing.speech import word_error_rate as wer
from tests.audio.conftest import ROOT, SENTENCES, play

pytestmark = pytest.mark.audio


def record_until(mic: Microphone, seconds: float) -> list[np.ndarray]:
    chunks, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        chunk = mic.read(0.1)
        if chunk is not None:
            chunks.append(chunk)
    return chunks


def drain(mic: Microphone) -> list[np.ndarray]:
    chunks = []
    while (chunk := mic.read(0.5)) is not None:
        chunks.append(chunk)
    return chunks


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_lists_the_pulseaudio_backed_input_devices(virtual_mic):
    devices = list_input_devices()
    names = [device.name for device in devices]
    assert "default" in names or "pulse" in names, names
    assert sum(device.default for device in devices) == 1
    assert all(device.sample_rate and device.sample_rate > 0 for device in devices)


def test_devices_that_appear_after_import_are_found_by_re_enumerating(virtual_mic, tmp_path):
    """PortAudio lists devices once, at import; a sound server started later needs a re-init."""
    directory = str(tmp_path / "late")  # short enough for a unix socket path
    env = {"SWICTATION_VIRTUAL_MIC_DIR": directory, "PULSE_SERVER": f"unix:{directory}/pulse/native"}
    result = python(
        f"""
        import json, subprocess
        import sounddevice
        from swictation_rpc.audio.capture import list_input_devices
        before = [d["name"] for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
        subprocess.run([{str(ROOT / "scripts" / "virtual-mic")!r}, "start"], check=True, capture_output=True)
        stale = [d["name"] for d in sounddevice.query_devices() if d["max_input_channels"] > 0]
        fresh = [d.name for d in list_input_devices()]
        print(json.dumps({{"before": before, "stale": stale, "fresh": fresh}}))
        """,
        env,
    )
    subprocess.run([str(ROOT / "scripts" / "virtual-mic"), "stop"], env={**os.environ, **env}, capture_output=True)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    if seen["before"]:
        pytest.skip(f"this machine has input devices without PulseAudio: {seen['before']}")
    assert seen["stale"] == []  # what sounddevice alone still reports
    assert "pulse" in seen["fresh"] or "default" in seen["fresh"], seen


def test_captures_real_speech_at_the_native_rate_as_16k_mono(virtual_mic, speech, wav_of, engine):
    clip = np.concatenate([speech(SENTENCES[0]), np.zeros(SAMPLE_RATE // 2, dtype=np.float32)])
    with Microphone() as mic:
        assert mic.sample_rate and mic.sample_rate != SAMPLE_RATE  # PulseAudio's ALSA device: 44.1 kHz
        player = play(wav_of(clip))
        chunks = record_until(mic, len(clip) / SAMPLE_RATE + 0.8)
        mic.stop()
        chunks += drain(mic)
        assert player.wait(10) == 0, player.stderr.read()
    audio = np.concatenate(chunks)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # Real time in, about as much out (the 16 kHz stream of a 44.1 kHz device).
    assert len(clip) <= len(audio) <= len(clip) + 2 * SAMPLE_RATE
    assert mic.dropped_frames == 0
    text = engine.transcribe(audio, "fast", final=False).text
    assert wer(SENTENCES[0], text) <= 0.25, text


@pytest.mark.parametrize("rate", [16_000, 48_000])
def test_device_by_name_and_index_at_a_chosen_rate(virtual_mic, pipe_mic, speech, rate, engine):
    by_name = next(device for device in list_input_devices() if device.name == "default")
    for device in ("defau", by_name.index):  # part of the name, then the index
        clip = np.concatenate([speech(SENTENCES[2]), np.zeros(SAMPLE_RATE // 2, dtype=np.float32)])
        with Microphone(device, rate, stall_timeout_s=None) as mic:
            assert mic.device_name == "default" and mic.sample_rate == rate
            pipe_mic.feed(clip)
            chunks = record_until(mic, 1.0)
            while not pipe_mic.idle.is_set():
                chunks += record_until(mic, 0.2)
            chunks += record_until(mic, 0.3)
            mic.stop()
            chunks += drain(mic)
        audio = np.concatenate(chunks)
        assert len(audio) >= len(clip) * 0.95
        text = engine.transcribe(audio, "fast", final=False).text
        assert wer(SENTENCES[2], text) <= 0.25, (device, rate, text)


@pytest.mark.parametrize("device", ["no-such-microphone", 999])
def test_unknown_device_is_a_no_input_device_error_naming_the_devices(virtual_mic, device):
    with pytest.raises(NoInputDeviceError) as caught:
        Microphone(device).start()
    message = str(caught.value)
    assert str(device) in message and "default" in message  # what exists, so the user can pick
    assert caught.value.remedy and "inputDevice" in caught.value.remedy


def test_no_sound_server_and_no_card_is_a_no_input_device_error(virtual_mic):
    result = python(
        """
        import json
        from swictation_rpc.audio.capture import Microphone, list_input_devices
        from swictation_rpc.errors import NoInputDeviceError
        devices = [d.name for d in list_input_devices()]
        try:
            Microphone().start()
            print(json.dumps({"devices": devices, "error": None}))
        except NoInputDeviceError as exc:
            print(json.dumps({"devices": devices, "error": str(exc), "kind": exc.KIND, "code": exc.CODE}))
        """,
        {"PULSE_SERVER": "unix:/nonexistent/pulse/native"},
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if outcome["devices"]:
        pytest.skip(f"this machine has sound cards besides PulseAudio: {outcome['devices']}")
    assert outcome["kind"] == "no-input-device" and outcome["code"] == NoInputDeviceError.CODE
    assert "No audio input device" in outcome["error"]


def test_losing_the_device_mid_stream_is_an_audio_device_error_after_the_captured_audio(second_server):
    mic = Microphone()
    mic.start()
    try:
        before = np.concatenate(record_until(mic, 0.6))
        assert len(before) > 0.4 * SAMPLE_RATE
        second_server.kill()
        chunks = []
        with pytest.raises(AudioDeviceError) as caught:
            for _ in range(100):
                chunk = mic.read(0.1)
                if chunk is not None:
                    chunks.append(chunk)
        assert "ended unexpectedly" in str(caught.value) or "no audio arrived" in str(caught.value)
        assert caught.value.KIND == "audio-device-error"
    finally:
        mic.close()


def test_a_source_that_stops_delivering_is_reported_as_stalled(pipe_mic):
    """The pipe source sends nothing when nobody writes: a stalled device, as a frozen driver would be."""
    pipe_mic.close()  # no more writes, not even silence
    with Microphone(stall_timeout_s=1.0) as mic:
        started = time.monotonic()
        with pytest.raises(AudioDeviceError, match="no audio arrived"):
            while time.monotonic() - started < 10:
                mic.read(0.2)
        assert time.monotonic() - started < 5


def test_overflowing_the_ring_buffer_drops_the_oldest_audio_not_memory(virtual_mic):
    with Microphone(buffer_s=0.5) as mic:
        time.sleep(1.5)  # nobody reads for longer than the buffer holds
        assert mic.buffered_frames <= mic.sample_rate  # bounded (one second at most)
        assert mic.dropped_frames > 0
        assert len(mic.read(0)) <= SAMPLE_RATE


def test_stop_and_close_from_two_threads_at_once_neither_hang_nor_crash(virtual_mic):
    """The session stops the microphone from its caller's thread while its capture thread closes it."""
    import threading

    from swictation_rpc.audio import capture

    for _ in range(10):
        mic = Microphone()
        mic.start()
        mic.read(0.1)
        barrier = threading.Barrier(2)

        def close(mic: Microphone, barrier: threading.Barrier) -> None:
            barrier.wait()
            drain(mic)
            mic.close()

        closer = threading.Thread(target=close, args=(mic, barrier))
        closer.start()
        barrier.wait()
        mic.stop()
        closer.join(5)
        assert not closer.is_alive()
        mic.close()
    assert capture._open_streams == 0

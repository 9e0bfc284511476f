"""Dictation sessions end to end through real PortAudio capture, Silero VAD and the real engine."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from swictation_rpc.audio import SAMPLE_RATE, capture
from swictation_rpc.audio.session import DictationSession, _Recording
from swictation_rpc.errors import NoInputDeviceError, SwictationError
from swictation_rpc.options import AudioOptions, Options, VadOptions
from swictation_rpc.testing.speech import word_error_rate as wer
from tests.audio.conftest import SENTENCES, play, write_artifact


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


class Recorder:
    """Collects what a session reports, with the time it came."""

    def __init__(self) -> None:
        self.partials: list[tuple[float, str]] = []
        self.states: list[tuple[str, str | None]] = []
        self.auto_stopped = threading.Event()

    def on_partial(self, text: str) -> None:
        self.partials.append((time.monotonic(), text))

    def on_state(self, state: str, reason: str | None) -> None:
        self.states.append((state, reason))

    def on_auto_stop(self) -> None:
        self.auto_stopped.set()

    def session(self, engine, options: Options, mode: str = "fast", **kwargs) -> DictationSession:
        return DictationSession(
            engine,
            options,
            mode=mode,
            on_partial=self.on_partial,
            on_state=self.on_state,
            on_auto_stop=self.on_auto_stop,
            **kwargs,
        )


def pipe_options(**vad: object) -> Options:
    # The pipe source is fed in bursts: no stall watchdog on it (real devices keep it).
    return Options(vad=VadOptions(**vad))


def pipe_microphone(options: Options):
    return lambda: capture.Microphone(options.audio.input_device, options.audio.sample_rate_hz, stall_timeout_s=None)


@pytest.mark.audio
def test_spoken_sentences_become_text_with_a_partial_per_sentence_while_speaking(virtual_mic, speech, wav_of, engine):
    first, second = speech(SENTENCES[0]), speech(SENTENCES[1])
    clip = np.concatenate([silence(0.4), first, silence(1.2), second, silence(0.3)])
    recorder = Recorder()
    session = recorder.session(engine, Options(vad=VadOptions(min_silence_duration_ms=500)), mode="fast")
    session.start()
    started = time.monotonic()
    player = play(wav_of(clip))
    assert player.wait(30) == 0, player.stderr.read()
    playback_ended = time.monotonic()
    transcript, audio = session.stop()

    spoken = f"{SENTENCES[0]} {SENTENCES[1]}"
    assert wer(spoken, transcript.text) <= 0.2, transcript.text
    assert transcript.mode == "fast" and transcript.model
    # Interim text arrived while the second sentence was still being spoken, and it was the first.
    early = [(at, text) for at, text in recorder.partials if at < playback_ended - 0.5]
    assert early, f"no partial before the speech ended: {recorder.partials}"
    assert wer(SENTENCES[0], early[0][1]) <= 0.25, early[0][1]
    assert [state for state, _ in recorder.states] == ["listening", "transcribing"]
    # The whole recording comes back for the history: as long as the session listened.
    listened = playback_ended - started
    assert (listened - 1.0) * SAMPLE_RATE <= len(audio) <= (listened + 1.0) * SAMPLE_RATE
    assert transcript.timings.audio_ms == pytest.approx(1000 * len(audio) / SAMPLE_RATE, abs=1)

    report = {
        "stop_to_text_ms": session.stop_latency_ms,
        "tail_decode_ms": session.tail_decode_ms,
        "segments_decoded": session.segments_decoded,
        "audio_s": round(len(audio) / SAMPLE_RATE, 2),
        "first_partial_after_speech_start_s": round(recorder.partials[0][0] - started, 2),
        "model": transcript.model,
    }
    path = write_artifact("dictation-latency.json", json.dumps(report, indent=2) + "\n")
    print(f"\nstop->text latency {session.stop_latency_ms} ms (tail decode {session.tail_decode_ms} ms); {path}")


@pytest.mark.audio
def test_silence_after_speech_stops_the_session_by_itself(pipe_mic, speech, engine):
    options = pipe_options(auto_stop_silence_ms=800)
    recorder = Recorder()
    session = recorder.session(engine, options, mode="fast", source_factory=pipe_microphone(options))
    session.start()
    clip = speech(SENTENCES[2])
    pipe_mic.feed(np.concatenate([silence(0.3), clip]))  # then the feeder sends real-time silence
    assert recorder.auto_stopped.wait(20), "no auto-stop after the silence"
    transcript, audio = session.stop()

    assert session.auto_stop_reason == "silence"
    assert wer(SENTENCES[2], transcript.text) <= 0.25, transcript.text
    # It stopped about 0.8 s after the voice ended, not at some later timeout.
    voiced_end = 0.3 * SAMPLE_RATE + np.flatnonzero(np.abs(clip) > 0.02)[-1]
    assert voiced_end + 0.8 * SAMPLE_RATE <= len(audio) <= voiced_end + 2.0 * SAMPLE_RATE
    assert "error" not in [state for state, _ in recorder.states]


@pytest.mark.audio
def test_maximum_duration_stops_the_session(virtual_mic, engine):
    recorder = Recorder()
    session = recorder.session(engine, Options(vad=VadOptions(max_duration_s=1.5)))
    session.start()
    assert recorder.auto_stopped.wait(10)
    transcript, audio = session.stop()
    assert session.auto_stop_reason == "max-duration"
    assert len(audio) == 1.5 * SAMPLE_RATE  # to the sample: the rest is not kept
    assert transcript.text == ""  # the virtual microphone heard only silence


@pytest.mark.audio
def test_cancel_discards_the_session_and_releases_the_microphone(pipe_mic, speech, engine):
    options = pipe_options()
    recorder = Recorder()
    session = recorder.session(engine, options, source_factory=pipe_microphone(options))
    session.start()
    pipe_mic.feed(np.concatenate([speech(SENTENCES[0]), silence(0.8), speech(SENTENCES[1]), silence(0.8)]))
    deadline = time.monotonic() + 20
    while not recorder.partials and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.partials, "nothing was heard before cancelling"

    started = time.monotonic()
    session.cancel()
    cancelled_in = time.monotonic() - started
    seen = len(recorder.partials)
    time.sleep(1.5)  # a decode in flight finishes, but reports nothing
    assert len(recorder.partials) == seen
    assert cancelled_in < 1.0
    with pytest.raises(SwictationError):
        session.stop()
    assert capture._open_streams == 0
    assert capture.refresh_devices()  # PortAudio can be re-initialised: no stream left open


@pytest.mark.audio
def test_losing_the_device_reports_an_error_and_still_transcribes_what_was_said(second_server, speech, wav_of, engine):
    recorder = Recorder()
    session = recorder.session(engine, Options(), mode="fast")
    session.start()
    clip = np.concatenate([silence(0.3), speech(SENTENCES[0]), silence(0.2)])
    player = play(wav_of(clip), env=second_server.env)
    assert player.wait(30) == 0
    second_server.kill()  # the sound server dies under the session

    assert recorder.auto_stopped.wait(10), "the session did not ask to be finished after the failure"
    errors = [reason for state, reason in recorder.states if state == "error"]
    assert errors and errors[0], recorder.states
    assert session.error and session.auto_stop_reason == "error"
    transcript, audio = session.stop()
    assert wer(SENTENCES[0], transcript.text) <= 0.25, transcript.text
    assert len(audio) >= len(clip) - SAMPLE_RATE // 2


@pytest.mark.audio
def test_no_input_device_fails_start_without_a_state_change(virtual_mic, engine):
    recorder = Recorder()
    session = recorder.session(engine, Options(audio=AudioOptions(input_device="no-such-microphone")))
    with pytest.raises(NoInputDeviceError, match="no-such-microphone"):
        session.start()
    assert recorder.states == []
    assert capture._open_streams == 0


@pytest.mark.audio
def test_without_vad_the_recording_is_decoded_once_at_stop(pipe_mic, speech, engine):
    options = Options(vad=VadOptions(enabled=False))
    recorder = Recorder()
    session = recorder.session(engine, options, mode="fast", source_factory=pipe_microphone(options))
    session.start()
    pipe_mic.feed(np.concatenate([speech(SENTENCES[1]), silence(0.3)]))
    time.sleep(0.5)
    while not pipe_mic.idle.is_set():
        time.sleep(0.05)
    time.sleep(0.3)
    transcript, _ = session.stop()
    assert recorder.partials == []
    assert wer(SENTENCES[1], transcript.text) <= 0.25, transcript.text


@pytest.mark.audio
def test_accurate_final_text_redecodes_the_utterance_with_the_accurate_model(pipe_mic, speech, tmp_path):
    """With different fast and accurate models, the final text is one accurate decode of the speech.

    The accurate model here is the synthetic tone-alphabet transducer (it hears no tones in speech):
    what is checked is which model made the final text and over which audio, not its words.
    """
    from swictation_rpc.engine.hybrid import HybridEngine
    from swictation_rpc.options import ModelsOptions
    from swictation_rpc.testing.synthetic import tone_audio, write_tone_model

    folder = write_tone_model(tmp_path, name="tone-accurate")
    options = Options(models=ModelsOptions(fast="bundled", accurate=str(folder)))
    # Its check clip must be tones: a model that hears nothing in its check clip is retired.
    engine = HybridEngine(options, check_audio=tone_audio("hello world"))
    engine.load()
    try:
        recorder = Recorder()
        session = recorder.session(engine, options, mode="accurate", source_factory=pipe_microphone(options))
        session.start()
        pipe_mic.feed(np.concatenate([silence(1.0), speech(SENTENCES[2]), silence(1.0)]))
        deadline = time.monotonic() + 20
        while not recorder.partials and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        transcript, audio = session.stop()
    finally:
        engine.close()
    assert wer(SENTENCES[2], recorder.partials[-1][1]) <= 0.25  # interim text: fast mode (Whisper)
    assert transcript.mode == "accurate" and transcript.model == "tone-accurate"
    # Only the utterance (speech plus padding) was re-decoded, not the silence around it.
    assert transcript.timings.audio_ms < 1000 * len(audio) / SAMPLE_RATE - 1000


def test_a_long_recording_moves_out_of_memory_and_comes_back_whole():
    recording = _Recording(in_memory_s=1.0)
    rng = np.random.default_rng(5)
    chunks = [rng.standard_normal(4000).astype(np.float32) for _ in range(12)]  # 3 s
    for chunk in chunks:
        recording.append(chunk)
    assert recording.samples == 48_000 and recording.resident_samples == 0
    whole = recording.array()
    np.testing.assert_array_equal(whole, np.concatenate(chunks))
    np.testing.assert_array_equal(recording.array(4000, 8000), chunks[1])
    recording.close()
    assert float(whole[-1]) == float(chunks[-1][-1])  # still readable after close (anonymous file, mapped)

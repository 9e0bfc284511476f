"""Real-audio test set-up: a headless PulseAudio virtual microphone, Piper speech, the real engine.

Tests marked ``audio`` run their own PulseAudio, started with ``scripts/virtual-mic`` in a private
directory (so concurrent runs on one machine do not mix their audio). When PulseAudio or PortAudio
is not installed, they skip with the reason — except in CI (``CI`` set, or SWICTATION_REQUIRE_AUDIO=1),
where that is a failure, so a broken set-up cannot pass as skipped. Nothing in the audio path is mocked: PortAudio records from
ALSA's ``default`` device, which is PulseAudio, whose default source is the null sink's monitor;
speech goes in with ``paplay`` (real time) or through the pipe source's FIFO (faster).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from swictation_rpc.audio import SAMPLE_RATE
from tests.e2e.conftest import RpcClient, server_command

ROOT = Path(__file__).resolve().parents[2]
VIRTUAL_MIC = ROOT / "scripts" / "virtual-mic"
ARTIFACTS = ROOT / "test-artifacts"

#: Sentences the tests speak (Piper's en_US joe voice); the expected text is the sentence itself.
SENTENCES = (
    "Open the settings file and change the default timeout.",
    "Then run the tests again and commit the change.",
    "Please add a comment above the main function.",
)


def _unavailable(reason: str) -> None:
    """Skip visibly; in CI (``CI`` set, or SWICTATION_REQUIRE_AUDIO=1) fail: CI must run these."""
    required = os.environ.get("SWICTATION_REQUIRE_AUDIO", "1" if os.environ.get("CI") else "0")
    if required not in ("", "0", "false"):
        pytest.fail(f"audio tests required here but {reason}", pytrace=False)
    pytest.skip(reason)


def _parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value.strip("'\"")
    return env


def start_virtual_mic(directory: str | None = None) -> dict[str, str]:
    """Run ``scripts/virtual-mic start`` (idempotent) and return the variables it prints."""
    env = dict(os.environ)
    if directory:
        env["SWICTATION_VIRTUAL_MIC_DIR"] = directory
    result = subprocess.run([str(VIRTUAL_MIC), "start"], env=env, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip() or f"virtual-mic start exited {result.returncode}")
    return _parse_env(result.stdout)


def stop_virtual_mic(directory: str | None = None) -> None:
    env = dict(os.environ)
    if directory:
        env["SWICTATION_VIRTUAL_MIC_DIR"] = directory
    subprocess.run([str(VIRTUAL_MIC), "stop"], env=env, capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def virtual_mic() -> Iterator[dict[str, str]]:
    """A private PulseAudio virtual microphone for this test run; its variables are exported here.

    Started with ``scripts/virtual-mic`` in a directory of its own, so concurrent test runs (and
    the machine-wide instance the test script starts) never hear each other's speech.
    """
    try:
        import sounddevice  # noqa: F401
    except OSError as exc:
        _unavailable(f"PortAudio is not installed ({exc}); apt-get install libportaudio2")
    if not (shutil.which("pulseaudio") and shutil.which("pactl") and shutil.which("paplay")):
        _unavailable(
            "PulseAudio is not installed: apt-get install pulseaudio pulseaudio-utils libportaudio2 "
            "libasound2-plugins (scripts/test does)"
        )
    directory = tempfile.mkdtemp(prefix="swmic-run-")
    try:
        env = start_virtual_mic(directory)
    except RuntimeError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        _unavailable(f"the virtual microphone could not be started: {exc}")
    saved = {key: os.environ.get(key) for key in (*env, "PULSE_SOURCE")}
    os.environ.update(env)
    os.environ.pop("PULSE_SOURCE", None)
    # PortAudio read its device list at import, before this server existed.
    from swictation_rpc.audio.capture import refresh_devices

    refresh_devices()
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    stop_virtual_mic(directory)
    shutil.rmtree(directory, ignore_errors=True)


def pactl(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        ["pactl", *args], env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=10
    )
    if result.returncode != 0:
        raise RuntimeError(f"pactl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], np.ndarray]:
    """``speech(text)``: Piper speaks ``text``; 16 kHz mono float32 (cached per text)."""
    from swictation_rpc.testing.speech import synthesize

    cache: dict[str, np.ndarray] = {}

    def _speech(text: str) -> np.ndarray:
        if text not in cache:
            cache[text] = synthesize(text)
        return cache[text]

    return _speech


@pytest.fixture(scope="session")
def wav_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[np.ndarray], Path]:
    """``wav_of(audio)``: a 16-bit WAV of 16 kHz audio, for ``paplay``."""
    import soundfile

    directory = tmp_path_factory.mktemp("played")
    counter = iter(range(1_000_000))

    def _write(audio: np.ndarray) -> Path:
        path = directory / f"clip-{next(counter)}.wav"
        soundfile.write(str(path), audio, SAMPLE_RATE, subtype="PCM_16")
        return path

    return _write


def play(path: Path, *, env: dict[str, str] | None = None, sink: str = "vsink") -> subprocess.Popen:
    """Start playing a WAV into the virtual microphone in real time (``paplay``)."""
    return subprocess.Popen(
        ["paplay", f"--device={sink}", str(path)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class PipeFeeder:
    """Writes audio into PulseAudio's pipe source, faster than real time, then silence in real time.

    The pipe source sends nothing while nobody writes, so after the queued audio the feeder keeps
    the microphone alive with real-time silence until it is closed.
    """

    def __init__(self, fifo: str):
        self._fd: int | None = os.open(fifo, os.O_WRONLY)
        self._queue: list[np.ndarray] = []
        self._lock = threading.Condition()
        self._closed = False
        self.samples_written = 0
        self.idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipe-feeder", daemon=True)
        self._thread.start()

    def feed(self, audio: np.ndarray) -> None:
        with self._lock:
            self.idle.clear()
            self._queue.append(np.asarray(audio, dtype=np.float32))
            self._lock.notify()

    def _run(self) -> None:
        tick = 0.05
        silence = np.zeros(int(SAMPLE_RATE * tick), dtype=np.float32)
        while True:
            with self._lock:
                if self._closed:
                    return
                block = self._queue.pop(0) if self._queue else None
                if block is None:
                    self.idle.set()
            if block is None:
                self._write(silence)
                time.sleep(tick)
            else:
                self._write(block)

    def _write(self, audio: np.ndarray) -> None:
        data = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self.samples_written += len(audio)
        except OSError:
            with self._lock:
                self._closed = True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout=5)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@pytest.fixture
def pipe_mic(virtual_mic: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[PipeFeeder]:
    """The pipe source as this process's microphone (and its children's), with a feeder writing to it.

    ``PULSE_SOURCE`` picks the source per client, so the server's default stays as it is.
    """
    monkeypatch.setenv("PULSE_SOURCE", "vpipe")
    feeder = PipeFeeder(virtual_mic["SWICTATION_VIRTUAL_MIC_FIFO"])
    try:
        yield feeder
    finally:
        feeder.close()


class SecondServer:
    """A separate PulseAudio (own directory) a test may kill without harming the shared one."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="swmic-")
        self.env = start_virtual_mic(self.directory)

    def kill(self) -> None:
        """Crash it (SIGKILL): every stream on it is lost at once."""
        pid = int(Path(self.directory, "pulse", "pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def close(self) -> None:
        stop_virtual_mic(self.directory)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def second_server(virtual_mic: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[SecondServer]:
    """A private PulseAudio that this process records from for the test (PULSE_SERVER points at it)."""
    server = SecondServer()
    monkeypatch.setenv("PULSE_SERVER", server.env["PULSE_SERVER"])
    try:
        yield server
    finally:
        server.close()
        monkeypatch.undo()
        from swictation_rpc.audio.capture import refresh_devices

        refresh_devices()


@pytest.fixture(scope="session")
def engine():
    """The real engine with the bundled Whisper tiny.en in both modes (hermetic: no installed models)."""
    from swictation_rpc.engine.hybrid import HybridEngine
    from swictation_rpc.options import ModelsOptions, Options

    engine = HybridEngine(Options(models=ModelsOptions(fast="bundled", accurate="bundled")))
    engine.load()
    yield engine
    engine.close()


def write_artifact(name: str, text: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(text)
    return path


@pytest.fixture
def start_server(virtual_mic, tmp_path: Path) -> Iterator[Callable[..., RpcClient]]:
    """``start_server(settings, env_extra=None)``: an initialized server, engine loaded, killed at teardown."""
    clients: list[RpcClient] = []

    def _start(init: dict[str, Any], env_extra: dict[str, str] | None = None) -> RpcClient:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
        env["SWICTATION_DATA_DIR"] = str(tmp_path / "data")
        env.pop("SWICTATION_MODELS_DIR", None)
        rpc = RpcClient(server_command(), env, ROOT, tmp_path / f"server-{len(clients)}.stderr")
        clients.append(rpc)
        rpc.initialize(init)
        rpc.wait_ready()
        return rpc

    yield _start
    for rpc in clients:
        rpc.kill()

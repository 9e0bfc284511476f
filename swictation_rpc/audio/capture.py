"""Microphone capture through PortAudio (sounddevice), delivered as 16 kHz mono float32.

This module is long (about 520 lines) on purpose: PortAudio's quirks (re-initialisation, native rates,
the ring buffer, device lookup) and the replay source the benchmarks use share one stream plumbing.

PortAudio reads its device list once, in ``Pa_Initialize`` (when ``sounddevice`` is imported). A
device plugged in later — or a PulseAudio/PipeWire server started after the import, which is what
makes ALSA offer its ``pulse``/``default`` devices — stays invisible until PortAudio is
re-initialised. :func:`refresh_devices` does that (terminate + initialise, which also drops ALSA's
cached configuration), and it is called before every device listing and before a stream opens,
but only while no stream of ours is open: terminating PortAudio closes every open stream.

The stream runs at the device's native rate (or the configured one). Its callback only copies
blocks into a bounded ring buffer; :meth:`Microphone.read` downmixes and resamples them with a
streaming soxr resampler on the reader's thread, so the real-time thread never waits on Python
work beyond a copy.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

import numpy as np

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.errors import AudioDeviceError, NoInputDeviceError
from swictation_rpc.protocol import InputDevice

logger = logging.getLogger(__name__)

#: The ring buffer holds at most this much audio; when the reader falls this far behind, the
#: oldest blocks are dropped (and counted) rather than letting memory grow.
DEFAULT_BUFFER_S = 30.0
#: A running stream that delivers nothing for this long is treated as lost. Real devices deliver
#: a block every few milliseconds; PulseAudio's pipe source (tests) does not, so it can be disabled.
DEFAULT_STALL_TIMEOUT_S = 5.0

_PORTAUDIO_REMEDY = "Install PortAudio (Debian/Ubuntu: apt-get install libportaudio2)."
_DEVICE_REMEDY = (
    "Connect a microphone, or set swictation.audio.inputDevice to one of the input devices that "
    "`swictation-rpc doctor` lists (by index or part of its name)."
)

#: Listing devices re-initialises PortAudio at most this often (each re-init costs ~30 ms).
LIST_REFRESH_INTERVAL_S = 1.0

_pa_lock = threading.RLock()
_open_streams = 0
_last_refresh = 0.0


def _sounddevice() -> Any:
    """The sounddevice module; a missing PortAudio library becomes a NoInputDeviceError."""
    try:
        import sounddevice
    except OSError as exc:  # raised at import when libportaudio is not installed
        raise NoInputDeviceError(f"PortAudio is not available: {exc}", remedy=_PORTAUDIO_REMEDY) from exc
    return sounddevice


def refresh_devices() -> bool:
    """Re-initialise PortAudio so its device list is current.

    Returns False (and leaves the list as it is) while one of our streams is open, since
    terminating PortAudio would close it.
    """
    global _last_refresh
    sd = _sounddevice()
    with _pa_lock:
        if _open_streams:
            return False
        try:
            # sounddevice has no public refresh; these are the calls its docs point to for it.
            # (_initialize briefly points fd 2 at /dev/null to hide PortAudio's probing noise.)
            if sd._initialized:
                sd._terminate()
            sd._initialize()
        except sd.PortAudioError as exc:
            logger.warning("PortAudio could not be re-initialised: %s", exc)
            return False
        _last_refresh = time.monotonic()
        return True


def play_on_output(audio: np.ndarray, rate: int) -> None:
    """Play ``audio`` (mono float32) on the default output and wait until it has been played.

    Through a stream of its own, counted as open like a microphone's, so PortAudio is never
    re-initialised under it, and closed before returning. (``sounddevice.play`` keeps its last
    stream in a module global; after a re-initialisation for the device list, stopping that stale
    stream closed the *microphone's* stream: every dictation after the first chime lost its
    microphone.)
    """
    global _open_streams
    sd = _sounddevice()
    with _pa_lock:
        stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32")
        _open_streams += 1
    try:
        stream.start()
        stream.write(np.ascontiguousarray(audio, dtype=np.float32).reshape(-1, 1))
        stream.stop()  # after the buffers are played
    finally:
        with _pa_lock:
            try:
                stream.close(ignore_errors=True)
            finally:
                _open_streams -= 1


def list_input_devices(*, refresh: bool = True) -> list[InputDevice]:
    """The input devices PortAudio offers now.

    Re-enumerated (unless a stream is open, or it was done less than
    :data:`LIST_REFRESH_INTERVAL_S` ago), so devices that came or went since the import show.

    Returns an empty list when PortAudio itself is missing (the reason is logged); opening a
    :class:`Microphone` then raises :class:`NoInputDeviceError` with it.
    """
    try:
        sd = _sounddevice()
    except NoInputDeviceError as exc:
        logger.warning("%s", exc)
        return []
    if refresh and time.monotonic() - _last_refresh >= LIST_REFRESH_INTERVAL_S:
        refresh_devices()
    with _pa_lock:
        try:
            devices = sd.query_devices()
            default_index = _default_input_index(sd)
        except sd.PortAudioError as exc:
            logger.warning("PortAudio could not list devices: %s", exc)
            return []
    return [
        InputDevice(
            index=int(info["index"]),
            name=str(info["name"]),
            default=int(info["index"]) == default_index,
            sample_rate=float(info["default_samplerate"]),
        )
        for info in devices
        if info["max_input_channels"] > 0
    ]


def _default_input_index(sd: Any) -> int:
    try:
        return int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, ValueError):
        return -1


def resolve_input_device(device: int | str | None) -> dict[str, Any]:
    """PortAudio's description of the input device asked for (index, name or part of it, or default).

    Raises :class:`NoInputDeviceError` naming the devices there are when nothing matches.
    """
    sd = _sounddevice()
    with _pa_lock:
        try:
            devices = [dict(info) for info in sd.query_devices()]
            default_index = _default_input_index(sd)
        except sd.PortAudioError as exc:
            raise NoInputDeviceError(
                f"PortAudio could not list the audio devices: {exc}", remedy=_DEVICE_REMEDY
            ) from exc
    inputs = [info for info in devices if info["max_input_channels"] > 0]
    available = ", ".join(f"{info['index']}: {info['name']}" for info in inputs) or "none"
    if isinstance(device, str) and device.strip().lstrip("-").isdigit():
        device = int(device.strip())
    if device is None or device == "":
        chosen = next((info for info in inputs if info["index"] == default_index), None)
        if chosen is None and inputs:
            chosen = inputs[0]  # PortAudio has no default input but there is one: use it
        if chosen is None:
            raise NoInputDeviceError(
                "No audio input device is available (PortAudio found none"
                + (f"; output-only devices: {', '.join(d['name'] for d in devices)})" if devices else ")"),
                remedy=_DEVICE_REMEDY,
            )
        return chosen
    if isinstance(device, int):
        for info in inputs:
            if info["index"] == device:
                return info
        raise NoInputDeviceError(
            f"No audio input device has index {device} (input devices: {available})", remedy=_DEVICE_REMEDY
        )
    wanted = device.strip().lower()
    exact = [info for info in inputs if info["name"].lower() == wanted]
    partial = [info for info in inputs if wanted in info["name"].lower()]
    if exact or partial:
        return (exact or partial)[0]
    raise NoInputDeviceError(
        f"No audio input device matches {device!r} (input devices: {available})", remedy=_DEVICE_REMEDY
    )


def _device_error(action: str, exc: Exception, device_name: str) -> AudioDeviceError:
    """A readable AudioDeviceError for a PortAudio failure, saying busy / permission when it is that."""
    text = str(exc)
    lowered = text.lower()
    if "permission" in lowered or "eacces" in lowered or "error -13" in lowered:
        reason = f"permission to use the microphone {device_name!r} was denied"
        remedy = "Allow microphone access for this program (or add the user to the 'audio' group)."
    elif "busy" in lowered or "unavailable" in lowered or "error -16" in lowered:
        reason = f"the microphone {device_name!r} is busy or unavailable"
        remedy = "Close the program that holds the microphone, or choose another swictation.audio.inputDevice."
    elif "sample rate" in lowered or "samplerate" in lowered:
        reason = f"the microphone {device_name!r} does not support the sample rate asked for"
        remedy = "Unset swictation.audio.sampleRateHz to use the device's own rate."
    else:
        reason = f"the microphone {device_name!r} failed"
        remedy = _DEVICE_REMEDY
    return AudioDeviceError(f"Could not {action}: {reason} ({text})", remedy=remedy, device=device_name)


class Microphone:
    """One input stream: PortAudio callback -> bounded ring buffer -> 16 kHz mono float32.

    ``device`` is a PortAudio index, (part of) a device name, or ``None`` for the default input;
    ``sample_rate_hz`` the capture rate (``None``: the device's native rate). :meth:`start`
    opens the stream; :meth:`read` returns what arrived since the last read.
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate_hz: int | None = None,
        *,
        buffer_s: float = DEFAULT_BUFFER_S,
        stall_timeout_s: float | None = DEFAULT_STALL_TIMEOUT_S,
    ):
        self.device = device
        self.requested_rate = sample_rate_hz
        self.buffer_s = buffer_s
        self.stall_timeout_s = stall_timeout_s
        self.device_name: str | None = None
        self.sample_rate: int | None = None
        self.channels = 1
        self.dropped_frames = 0
        """Frames lost because the reader fell more than ``buffer_s`` behind."""
        self.overflows = 0
        """Blocks PortAudio reported as input overflow (the host lost audio)."""
        self._stream: Any = None
        self._stream_lock = threading.Lock()
        self._resampler: Any = None
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._buffered_frames = 0
        self._max_frames = 0
        self._cond = threading.Condition()
        self._failure: str | None = None
        self._stopping = False
        self._finished = False
        self._flushed = False
        self._last_block = 0.0
        self._counted_open = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Open the device and start capturing. Raises NoInputDeviceError / AudioDeviceError."""
        if self._stream is not None:
            return
        sd = _sounddevice()
        global _open_streams
        # One lock from re-enumeration to the open stream: no other thread may re-initialise
        # PortAudio (renumbering the devices) in between.
        with _pa_lock:
            refresh_devices()  # a device or sound server that appeared since the import
            info = resolve_input_device(self.device)
            self.device_name = str(info["name"])
            rate = int(self.requested_rate or round(info["default_samplerate"]) or SAMPLE_RATE)
            self.sample_rate = rate
            self._max_frames = max(int(self.buffer_s * rate), rate)
            stream = None
            last_error: Exception | None = None
            # Mono first; a device that only records in stereo gets two channels, downmixed here.
            for channels in dict.fromkeys((1, min(2, int(info["max_input_channels"])))):
                try:
                    stream = sd.InputStream(
                        device=int(info["index"]),
                        samplerate=rate,
                        channels=channels,
                        dtype="float32",
                        callback=self._callback,
                        finished_callback=self._finished_callback,
                    )
                    self.channels = channels
                    break
                except sd.PortAudioError as exc:
                    last_error = exc
                    if "channel" not in str(exc).lower():
                        break
            if stream is None:
                error = last_error or RuntimeError("no stream")
                raise _device_error("open the microphone", error, self.device_name) from last_error
            try:
                self._last_block = time.monotonic()
                stream.start()
            except sd.PortAudioError as exc:
                stream.close(ignore_errors=True)
                raise _device_error("start the microphone", exc, self.device_name) from exc
            self._stream = stream
            _open_streams += 1
            self._counted_open = True
        if rate != SAMPLE_RATE:
            import soxr

            self._resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        logger.info("Capturing from %r at %d Hz, %d channel(s)", self.device_name, rate, self.channels)

    def stop(self) -> None:
        """Stop capturing; audio already captured stays readable (then read() returns None).

        Uses PortAudio's abort, not stop: stop waits for the host to hand over pending buffers,
        which never comes from a source that has gone quiet (or away). At most one host buffer
        (a few ms) is lost.
        """
        with self._cond:
            already = self._stopping
            self._stopping = True
            self._cond.notify_all()
        if not already:
            self._abort_stream()

    def abort(self) -> None:
        """Stop capturing and discard everything not read yet."""
        self.stop()
        with self._cond:
            self._blocks.clear()
            self._buffered_frames = 0
            self._flushed = True

    def close(self) -> None:
        """Release the device (stops it first if needed)."""
        self.stop()
        global _open_streams
        with self._stream_lock:  # waits for an abort in flight on another thread
            stream, self._stream = self._stream, None
        with _pa_lock:
            if stream is not None:
                try:
                    stream.close(ignore_errors=True)
                except Exception as exc:  # noqa: BLE001 - closing a dead device must not raise
                    logger.debug("closing the stream failed: %s", exc)
            if self._counted_open:
                _open_streams -= 1
                self._counted_open = False

    def __enter__(self) -> Microphone:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _abort_stream(self) -> None:
        # Under the stream lock: PortAudio must never see abort and close of one stream at once
        # (stop() and close() may come from different threads).
        with self._stream_lock:
            stream = self._stream
            if stream is None:
                return
            try:
                stream.abort(ignore_errors=True)
            except Exception as exc:  # noqa: BLE001 - a lost device may refuse; it is stopped either way
                logger.debug("aborting the stream failed: %s", exc)

    # -- state -------------------------------------------------------------------------------

    @property
    def failure(self) -> str | None:
        """Why the device stopped delivering audio, if it failed."""
        return self._failure

    @property
    def buffered_frames(self) -> int:
        with self._cond:
            return self._buffered_frames

    # -- reading -----------------------------------------------------------------------------

    def read(self, timeout_s: float | None = None) -> np.ndarray | None:
        """Audio captured since the last read, as 16 kHz mono float32.

        Waits up to ``timeout_s`` for some to arrive. Returns an empty array when nothing came in
        time, and ``None`` once the microphone was stopped and everything was read. Raises
        :class:`AudioDeviceError` when the device failed (after the audio captured before the
        failure has been read).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not self._blocks and not self._stopping and self._failure is None:
                self._check_stall()
                if self._failure is not None:
                    break
                remaining = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
                if remaining <= 0:
                    return np.zeros(0, dtype=np.float32)
                self._cond.wait(remaining)
            blocks = list(self._blocks)
            self._blocks.clear()
            self._buffered_frames = 0
            ended = self._stopping or self._failure is not None
        audio = self._convert(blocks, last=ended and not self._flushed)
        if ended:
            self._flushed = True
        if len(audio):
            return audio
        if self._failure is not None:
            raise AudioDeviceError(
                f"The microphone stopped: {self._failure}",
                remedy="Check that the microphone is connected, then start dictation again.",
                device=self.device_name,
            )
        if ended:
            return None
        return audio

    def _convert(self, blocks: list[np.ndarray], *, last: bool) -> np.ndarray:
        if blocks:
            frames = np.concatenate(blocks, axis=0)
            mono = frames[:, 0] if frames.shape[1] == 1 else frames.mean(axis=1)
        else:
            mono = np.zeros(0, dtype=np.float32)
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if self._resampler is None:
            return mono
        if not len(mono) and not last:
            return mono
        return np.asarray(self._resampler.resample_chunk(mono, last=last), dtype=np.float32)

    def _check_stall(self) -> None:
        """Called with the lock held: a running stream that went silent for too long is lost."""
        if self.stall_timeout_s is None or self._stream is None or self._stopping:
            return
        silent_for = time.monotonic() - self._last_block
        if silent_for > self.stall_timeout_s:
            self._failure = f"no audio arrived from {self.device_name!r} for {silent_for:.1f} s"
            logger.warning("Microphone stalled: %s", self._failure)

    # -- PortAudio's thread --------------------------------------------------------------------

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        block = indata.copy()
        with self._cond:
            if self._stopping:
                return
            if status and status.input_overflow:
                self.overflows += 1
            self._blocks.append(block)
            self._buffered_frames += frames
            while self._buffered_frames > self._max_frames and len(self._blocks) > 1:
                dropped = self._blocks.popleft()
                self._buffered_frames -= len(dropped)
                self.dropped_frames += len(dropped)
            self._last_block = time.monotonic()
            self._cond.notify_all()

    def _finished_callback(self) -> None:
        """PortAudio ended the stream: expected after stop/abort, a lost device otherwise."""
        with self._cond:
            if not self._stopping and self._failure is None:
                self._failure = f"the audio stream from {self.device_name!r} ended unexpectedly (device lost)"
                logger.warning("Microphone lost: %s", self._failure)
            self._finished = True
            self._cond.notify_all()


#: Environment variable naming a WAV file that :class:`ReplaySource` plays instead of the
#: microphone (benchmarks and tests: a deterministic source on the same capture path).
REPLAY_ENV = "SWICTATION_REPLAY_AUDIO"


class ReplaySource:
    """A virtual microphone: plays 16 kHz mono audio in real time, then silence until stopped.

    It is paced by the clock like a device (``read`` returns what a microphone would have
    delivered by now, in ``block_s`` blocks), so the capture thread, the segmenter and the
    stop path run exactly as with PortAudio; only the samples are known in advance. After
    :meth:`stop`, the audio due up to that moment stays readable, then ``read`` returns None.
    """

    def __init__(self, audio: np.ndarray, *, block_s: float = 0.02):
        self.audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        self.block = max(int(block_s * SAMPLE_RATE), 1)
        self._cond = threading.Condition()
        self._started: float | None = None
        self._stopped_at: int | None = None
        self._read = 0

    @classmethod
    def from_file(cls, path: str) -> ReplaySource:
        import soundfile

        audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
        if rate != SAMPLE_RATE:
            raise AudioDeviceError(f"{REPLAY_ENV} must name 16 kHz audio, {path} is {rate} Hz", device=path)
        return cls(audio.mean(axis=1))

    def _due(self) -> int:
        """Samples a device would have delivered by now (whole blocks), or at stop."""
        if self._stopped_at is not None:
            return self._stopped_at
        if self._started is None:
            return 0
        elapsed = int((time.monotonic() - self._started) * SAMPLE_RATE)
        return elapsed // self.block * self.block

    def start(self) -> None:
        with self._cond:
            if self._started is None:
                self._started = time.monotonic()

    def stop(self) -> None:
        with self._cond:
            if self._stopped_at is None:
                self._stopped_at = self._due()
            self._cond.notify_all()

    def close(self) -> None:
        self.stop()

    def read(self, timeout_s: float | None = None) -> np.ndarray | None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while True:
                due = self._due()
                if due > self._read or self._stopped_at is not None:
                    break
                wait = self.block / SAMPLE_RATE
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        return np.zeros(0, dtype=np.float32)
                self._cond.wait(wait)
            if due <= self._read:
                return None  # stopped, everything read
            start, self._read = self._read, due
        out = np.zeros(due - start, dtype=np.float32)
        played = self.audio[start:due]
        out[: len(played)] = played
        return out

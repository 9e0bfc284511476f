"""Audio in: files and inline PCM become 16 kHz mono float32, the one format every engine takes."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import stat
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile
import soxr

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.errors import AudioUnreadableError, ServerBusyError
from swictation_rpc.protocol import AudioInput

#: Refuse absurd inputs before allocating for them (an hour of 16-bit stereo 48 kHz is ~660 MB).
MAX_AUDIO_SECONDS = 4 * 3600
#: Sample rates accepted: below telephony's 8 kHz a few bytes would stand for hours of audio
#: (28 KB of pcm16 at 1 Hz is 3 hours: 690 MB once resampled to 16 kHz).
MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 384_000
#: Samples x channels decoded for one request: as many as 4 hours of 16 kHz mono (0.9 GB as
#: float32). Checked from the header before decoding: 20 minutes of 48 kHz 8-channel audio (a
#: 476 KB FLAC of quiet) would otherwise decode to 2.5 GB, a 3 KB header claiming 4 hours at
#: 384 kHz x 8 channels to 165 GiB.
MAX_DECODED_SAMPLES = MAX_AUDIO_SECONDS * SAMPLE_RATE
#: Bytes being decoded across all requests at once (the decoded samples, their mono mix and the
#: 16 kHz copy, plus the raw bytes of inline pcm16). Past it a request gets ``server-busy``.
MAX_AUDIO_BYTES_IN_FLIGHT = 2 << 30

_in_flight_lock = threading.Lock()
_in_flight_bytes = 0


def audio_bytes_in_flight() -> int:
    """Bytes reserved by decodes running now (0 when none is)."""
    return _in_flight_bytes


@contextlib.contextmanager
def reserve_audio_bytes(amount: int, what: str) -> Iterator[None]:
    """Hold ``amount`` bytes of the process-wide decoding budget while the block runs.

    Refuses at once (``ServerBusyError``) rather than queueing: a client can retry, a queue of
    decodes would hold the memory anyway. Released whatever the block raises.
    """
    global _in_flight_bytes
    with _in_flight_lock:
        busy = _in_flight_bytes
        if busy + amount > MAX_AUDIO_BYTES_IN_FLIGHT:
            raise ServerBusyError(
                f"The server is busy: {what} needs {_mb(amount)} to decode while {_mb(busy)} of audio"
                f" is being decoded for other requests (at most {_mb(MAX_AUDIO_BYTES_IN_FLIGHT)} at once)",
                remedy="Try again when the other transcriptions have finished, or send shorter audio.",
                needed_bytes=amount,
                in_flight_bytes=busy,
            )
        _in_flight_bytes += amount
    try:
        yield
    finally:
        with _in_flight_lock:
            _in_flight_bytes -= amount


def _mb(amount: int) -> str:
    return f"{amount / 2**20:.0f} MB"


def _decode_cost(frames: int, channels: int, sample_rate: int) -> int:
    """Bytes a decode holds at its peak: float32 samples, their mono mix, the 16 kHz copy."""
    out_frames = frames * SAMPLE_RATE // max(sample_rate, 1) + 1
    return 4 * (frames * channels + frames + out_frames)


def _check_samples(frames: int, channels: int, what: str, **data: str) -> None:
    if frames * channels > MAX_DECODED_SAMPLES:
        raise AudioUnreadableError(
            f"{what} holds {frames} frames x {channels} channels = {frames * channels / 1e6:.0f} million samples;"
            f" at most {MAX_DECODED_SAMPLES / 1e6:.0f} million (4 hours of 16 kHz mono) are decoded at once",
            remedy="Send mono audio (or fewer channels), at a lower sample rate, or split it into shorter files.",
            **data,
        )


def _check_path_text(text: str) -> None:
    """Refuse paths no file can have, with what is wrong with them (not a -32603 from ``open``)."""
    remedy = "Give the absolute path of a WAV, FLAC or OGG file, as UTF-8 text."
    if text == "":
        raise AudioUnreadableError("The audio path is an empty path", remedy=remedy, path="")
    if "\x00" in text:
        raise AudioUnreadableError(
            f"The audio path {text!a} contains a NUL character, which no file name can hold",
            remedy=remedy,
            path=ascii(text),
        )
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        raise AudioUnreadableError(
            f"The audio path {text!a} contains a lone surrogate (not valid Unicode text), which no file name can hold",
            remedy=remedy,
            path=ascii(text),
        ) from None


def load_audio(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a WAV/FLAC/OGG file of any rate and channel count as 16 kHz mono float32."""
    _check_path_text(os.fspath(path))
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise AudioUnreadableError(
            f"Cannot read audio file {path}: {exc.strerror or exc}",
            remedy="Check the path; it must be readable by the server process.",
            path=str(path),
        ) from exc
    if not stat.S_ISREG(mode):
        # Devices, FIFOs and directories could block or stream forever.
        raise AudioUnreadableError(
            f"Audio path {path} is not a regular file",
            remedy="Pass a WAV, FLAC or OGG file.",
            path=str(path),
        )
    try:
        # Opened once, without blocking, and checked again on the descriptor: a path swapped for
        # a FIFO after the stat above would otherwise block a worker thread in open() for good.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise AudioUnreadableError(
            f"Cannot read audio file {path}: {exc.strerror or exc}",
            remedy="Check the path; it must be readable by the server process.",
            path=str(path),
        ) from exc
    try:
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise AudioUnreadableError(
                    f"Audio path {path} is not a regular file",
                    remedy="Pass a WAV, FLAC or OGG file.",
                    path=str(path),
                )
            info = soundfile.info(file)
            _check_rate(info.samplerate, f"Audio file {path}", path=str(path))
            if info.frames / max(info.samplerate, 1) > MAX_AUDIO_SECONDS:
                raise AudioUnreadableError(
                    f"Audio file {path} is longer than {MAX_AUDIO_SECONDS // 3600} hours",
                    remedy="Split it into shorter files.",
                    path=str(path),
                )
            _check_samples(info.frames, info.channels, f"Audio file {path}", path=str(path))
            with reserve_audio_bytes(_decode_cost(info.frames, info.channels, info.samplerate), f"{path}"):
                file.seek(0)
                # Never more frames than the header claimed (and was checked for).
                data, sample_rate = soundfile.read(file, frames=info.frames, dtype="float32", always_2d=True)
                return resample_to_16k(data.mean(axis=1), sample_rate)
    except (AudioUnreadableError, ServerBusyError):
        raise
    except (soundfile.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
        raise AudioUnreadableError(
            f"Cannot decode audio file {path}: {_decode_failure(exc)}",
            remedy="Use WAV, FLAC or OGG (Vorbis/Opus) audio.",
            path=str(path),
        ) from exc


def _decode_failure(exc: BaseException) -> str:
    """Why libsndfile could not decode a file, without the repr of the file object it was given.

    soundfile's own message reads "Error opening <_io.BufferedReader name=11>: Format not
    recognised."; the caller names the file by its path.
    """
    if isinstance(exc, soundfile.LibsndfileError):
        return exc.error_string.strip().rstrip(".") or "libsndfile error"
    return _FILE_OBJECT_REPR.sub("the file", str(exc)).strip().rstrip(".")


#: A Python file object's repr (``<_io.BufferedReader name=11>``), never shown to a user.
_FILE_OBJECT_REPR = re.compile(r"<_io\.\w+ name=[^>]*>")


def decode_pcm16(data_b64: str, sample_rate: int, channels: int = 1) -> np.ndarray:
    """Inline audio from a client: base64 of little-endian int16 samples, channels interleaved."""
    if not sample_rate or sample_rate <= 0:
        raise AudioUnreadableError("pcm16 audio needs a positive sampleRate", remedy="Set audio.sampleRate.")
    _check_rate(sample_rate, "audio.pcm16")
    if channels <= 0:
        raise AudioUnreadableError("pcm16 audio needs channels >= 1", remedy="Set audio.channels.")
    # Bounded from the base64 length before a byte is decoded.
    raw_bytes = len(data_b64) * 3 // 4
    frame_bytes = 2 * channels
    frames = raw_bytes // frame_bytes
    if frames / sample_rate > MAX_AUDIO_SECONDS:
        raise AudioUnreadableError("audio.pcm16 is too long", remedy="Send at most 4 hours at once.")
    _check_samples(frames, channels, "audio.pcm16")
    with reserve_audio_bytes(raw_bytes + _decode_cost(frames, channels, sample_rate), "audio.pcm16"):
        try:
            raw = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AudioUnreadableError(f"audio.pcm16 is not valid base64: {exc}") from exc
        if len(raw) % frame_bytes:
            raise AudioUnreadableError(
                f"audio.pcm16 has {len(raw)} bytes, not a whole number of {channels}-channel 16-bit frames"
            )
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        return resample_to_16k(samples.reshape(-1, channels).mean(axis=1), sample_rate)


def _check_rate(sample_rate: int, what: str, **data: str) -> None:
    if not MIN_SAMPLE_RATE_HZ <= sample_rate <= MAX_SAMPLE_RATE_HZ:
        raise AudioUnreadableError(
            f"{what} has a sample rate of {sample_rate} Hz; {MIN_SAMPLE_RATE_HZ}..{MAX_SAMPLE_RATE_HZ} Hz is supported",
            remedy="Record or resample the audio at 16000 Hz.",
            **data,
        )


def audio_from_input(audio: AudioInput) -> np.ndarray:
    """The audio a request refers to, whichever way it was sent."""
    if (audio.path is None) == (audio.pcm16 is None):
        raise AudioUnreadableError(
            "audio must have exactly one of path and pcm16",
            remedy='Send {"path": "/abs/file.wav"} or {"pcm16": "<base64>", "sampleRate": 16000}.',
        )
    if audio.path is not None:
        return load_audio(audio.path)
    return decode_pcm16(audio.pcm16 or "", audio.sample_rate or 0, audio.channels)


def resample_to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at ``sample_rate`` to 16 kHz (soxr, high quality)."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if sample_rate == SAMPLE_RATE or audio.size == 0:
        return audio
    return soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32, copy=False)


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    soundfile.write(str(path), audio, sample_rate, subtype="PCM_16")


def sample_clip_path() -> Path:
    """A short real-speech clip shipped with the package, so a first run needs no file of yours."""
    return Path(str(resources.files("swictation_rpc") / "data" / "sample.wav"))


#: What the sample clip says (it was synthesised from this sentence with Piper's en_US joe voice).
SAMPLE_CLIP_TEXT = "Please open the settings file and rename the function to get user by ID."

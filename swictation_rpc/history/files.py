"""The history's files: private folders and files, the audio files, their locks, the sweep of leftovers.

Only names the server makes (``<32 hex>.flac`` / ``.tmp``, regular files by ``lstat``) are ever
removed from ``audio/``. A file being written is locked (``flock``) until its utterance is
committed, so a sweep by another server skips it and needs no age threshold (without ``flock``,
on Windows, it falls back to one). Modes are set through descriptors opened with ``O_NOFOLLOW``:
a symlinked folder is followed for the location only and its target keeps its mode.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import stat
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from swictation_rpc import paths
from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.errors import HistoryWriteError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the sweep falls back to an age threshold
    fcntl = None  # type: ignore[assignment]  # the module is absent there; every use checks for None

log = logging.getLogger(__name__)

AUDIO_DIR = "audio"
#: Without ``flock`` (Windows), unreferenced audio files older than this are removed on open.
ORPHAN_AGE_S = 3600.0
#: The only names the server creates in ``audio/`` (an utterance id, then its suffix): ``.wav``
#: is the raw 16-bit PCM written before the edit is sent, ``.flac`` what it becomes afterwards.
AUDIO_NAME = re.compile(r"[0-9a-f]{32}\.(?:flac|wav|tmp)")
RAW_SUFFIX = ".wav"
FLAC_SUFFIX = ".flac"


def make_private_dir(path: Path, *, history_dir: Path) -> None:
    """Create ``path`` private; an existing real folder of ours is made private too.

    Inside a symlinked history folder (another disk, the user's folder) nothing that exists
    already is chmodded: the server did not create it.
    """
    paths.ensure_private_dir(path)  # missing parents (the data folder) private too
    if path != history_dir and history_dir.is_symlink():
        return
    paths.tighten_dir(path)  # never through a symlink


def _int16(audio: np.ndarray) -> np.ndarray:
    samples = np.asarray(audio)
    if samples.dtype != np.int16:
        samples = (np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0) * 32767.0).round().astype(np.int16)
    return samples.reshape(-1)


def write_raw_audio(audio_dir: Path, name: str, audio: np.ndarray, *, history_dir: Path) -> int:
    """Write ``audio/<name>`` as 16-bit PCM WAV, fast; returns a descriptor holding its lock.

    What stays on the request path: no compression, no rename. The file is created under its
    final name (``O_EXCL``) and locked before the first byte, so a sweep never takes it while
    it is being written; once ``write`` returned, its bytes survive the process being killed
    (:func:`encode_flac` later makes the FLAC durable, power cuts included). A failure raises
    :class:`HistoryWriteError` (``stage="audio"``), with no file left behind.
    """
    samples = _int16(audio)
    path = audio_dir / name
    fd: int | None = None
    try:
        make_private_dir(audio_dir, history_dir=history_dir)
        fd = paths.open_private_fd(path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:
                raise OSError(errno.EAGAIN, "the audio file was removed while it was being created", str(path))
        with os.fdopen(os.dup(fd), "wb") as f:
            sf.write(f, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    except Exception as exc:
        if fd is not None:
            unlink_audio(audio_dir, name)
            os.close(fd)
        raise HistoryWriteError(str(exc), stage="audio") from exc
    return fd


def encode_flac(audio_dir: Path, raw_name: str, *, history_dir: Path) -> tuple[str, int] | None:
    """FLAC of the raw ``audio/<raw_name>``, written durably beside it; ``(flac name, lock)``.

    The raw file stays until the caller has pointed the utterance at the FLAC (then it removes
    the raw one): a process killed in between leaves one unreferenced file, which the sweep
    removes. ``None`` when the raw file is gone (the utterance was rotated out meanwhile) or
    unreadable.
    """
    if not AUDIO_NAME.fullmatch(raw_name) or not raw_name.endswith(RAW_SUFFIX):
        return None
    try:
        samples, _ = sf.read(audio_dir / raw_name, dtype="int16", always_2d=False)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        log.debug("Not encoding %s: %s", raw_name, exc)
        return None
    flac = raw_name[: -len(RAW_SUFFIX)] + FLAC_SUFFIX
    try:
        return flac, write_audio(audio_dir, flac, samples, history_dir=history_dir)
    except HistoryWriteError as exc:
        log.warning("Could not encode %s as FLAC (kept as WAV): %s", raw_name, exc)
        return None


def write_audio(audio_dir: Path, name: str, audio: np.ndarray, *, history_dir: Path) -> int:
    """Write ``audio/<name>`` (via a ``.tmp``) durably; returns a descriptor holding its lock.

    The lock (``flock``, on the file itself) is held until the caller committed the
    utterance, so another server's sweep never removes a file that is about to be referenced.
    Any failure raises :class:`HistoryWriteError` (``stage="audio"``), with no file left behind.
    """
    samples = _int16(audio)
    path = audio_dir / name
    tmp = path.with_suffix(".tmp")
    fd: int | None = None
    try:
        make_private_dir(audio_dir, history_dir=history_dir)
        for _ in range(5):
            fd = paths.open_private_fd(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            if fcntl is None:
                break
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                break
            os.close(fd)  # a sweep removed it between creation and lock: again
            fd = None
        if fd is None:
            raise OSError(errno.EAGAIN, "the audio file kept disappearing", str(tmp))
        with os.fdopen(os.dup(fd), "wb") as f:
            sf.write(f, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except Exception as exc:
        if fd is not None:
            unlink_audio(audio_dir, tmp.name)
            os.close(fd)
        raise HistoryWriteError(str(exc), stage="audio") from exc
    return fd


def read_audio(audio_dir: Path, name: str | None, utterance_id: str) -> np.ndarray | None:
    """``audio/<name>``, 16 kHz mono float32; ``None`` if there is none or it is unreadable."""
    if not name or not AUDIO_NAME.fullmatch(name):
        return None
    try:
        data, _ = sf.read(audio_dir / name, dtype="float32", always_2d=False)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        log.warning("Audio of utterance %s unreadable: %s", utterance_id, exc)
        return None
    return data


def unlink_audio(audio_dir: Path, name: str) -> None:
    """Remove ``audio/<name>``: only a name the server makes (a damaged row never points elsewhere)."""
    if not name or not AUDIO_NAME.fullmatch(name):
        log.warning("Not removing %r from %s: not a name the server makes", name, audio_dir)
        return
    unlink(audio_dir / name)


def sweep_orphans(conn: sqlite3.Connection, audio_dir: Path) -> None:
    """Remove audio files no utterance refers to (left by a server killed mid-save).

    Only regular files named as the server names them; one another server still holds
    locked (it is between writing and committing) is left alone.
    """
    try:
        entries = list(os.scandir(audio_dir))  # a symlinked audio/ is followed for the location
    except OSError:
        return
    try:
        known = {name for (name,) in conn.execute("SELECT audio_file FROM utterances WHERE audio_file IS NOT NULL")}
        removed = 0
        for entry in entries:
            if entry.name in known or not AUDIO_NAME.fullmatch(entry.name):
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            removed += _remove_orphan(conn, entry.path, entry.name)
        if removed:
            log.info("Removed %d leftover audio files from %s", removed, audio_dir)
    except (OSError, sqlite3.Error) as exc:
        log.warning("Could not tidy %s: %s", audio_dir, exc)


def _remove_orphan(conn: sqlite3.Connection, path: str, name: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return 0
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink == 0:
            return 0
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return 0  # a live writer holds it until its commit
        elif info.st_mtime > time.time() - ORPHAN_AGE_S:
            return 0
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            return 0
        if conn.execute("SELECT 1 FROM utterances WHERE audio_file = ?", (name,)).fetchone():
            return 0  # committed meanwhile
        os.unlink(path)
        return 1
    except OSError:
        return 0
    finally:
        os.close(fd)


def tighten_file(path: Path) -> None:
    """Make a file of ours private through a descriptor (never through a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            paths.tighten_fd(fd)
    finally:
        os.close(fd)


def unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("Could not remove %s: %s", path, exc)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

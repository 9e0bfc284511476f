"""The history's audio off the request path: raw PCM before ``add`` returns, FLAC afterwards.

``add`` commits the row with a 16-bit WAV it wrote itself; the store's encoder thread then
writes the FLAC, points the row at it and removes the WAV. A process killed at any point keeps
the words and a readable recording; the next open finishes the encoding.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from swictation_rpc.history import HistoryStore
from swictation_rpc.options import HistoryOptions
from swictation_rpc.protocol import Timings

TIMINGS = Timings(audio_ms=1000.0, decode_ms=40.0, total_ms=50.0)
REPO = Path(__file__).resolve().parents[2]


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def add(store: HistoryStore, text: str, audio: np.ndarray) -> str:
    return store.add(text, audio, uri="file:///a.py", range=None, mode="fast", model="m", timings=TIMINGS)


def audio_files(directory: Path) -> list[str]:
    return sorted(p.name for p in (directory / "audio").iterdir())


def test_the_audio_is_readable_as_soon_as_add_returns_and_becomes_the_same_samples_in_flac(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    audio = tone(1.0)
    with HistoryStore(directory, HistoryOptions()) as store:
        utterance = add(store, "hello", audio)
        first = store.audio(utterance)  # WAV or already FLAC: either way the recording is there
        assert first is not None and len(first) == len(audio)
        assert store.wait_encoded(10)
        assert audio_files(directory) == [f"{utterance}.flac"]
        encoded = store.audio(utterance)
    assert encoded is not None
    np.testing.assert_array_equal(encoded, first)
    assert np.max(np.abs(encoded - audio)) < 1e-4


def test_a_process_killed_right_after_add_keeps_the_row_and_its_audio_and_the_next_open_encodes_it(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "history"
    script = textwrap.dedent(
        f"""
        import os, signal, numpy as np
        from swictation_rpc.history import HistoryStore
        from swictation_rpc.protocol import Timings
        store = HistoryStore({str(directory)!r})
        store._encode_later = lambda name: None  # killed before the encoder could run
        audio = (0.3 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440)).astype(np.float32)
        utterance = store.add("the words", audio, uri=None, range=None, mode="fast", model="m",
                              timings=Timings(audio_ms=1000.0, decode_ms=1.0, total_ms=1.0))
        print(utterance, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    utterance = done.stdout.strip()
    assert audio_files(directory) == [f"{utterance}.wav"]

    with HistoryStore(directory, HistoryOptions()) as store:
        assert store.get(utterance).text == "the words"
        audio = store.audio(utterance)
        assert audio is not None and len(audio) == 16000
        assert store.wait_encoded(10)
        assert audio_files(directory) == [f"{utterance}.flac"]
        assert np.array_equal(store.audio(utterance), audio)


def test_an_utterance_rotated_out_while_its_flac_is_written_leaves_no_file(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    with HistoryStore(directory, HistoryOptions(max_items=1)) as store:
        for n in range(6):
            add(store, f"u{n}", tone(0.5))
        assert store.wait_encoded(10)
        (last,) = store.list(10)
        assert audio_files(directory) == [f"{last.id}.flac"]


def test_closing_with_encodes_pending_keeps_the_wav_and_the_next_open_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "history"
    store = HistoryStore(directory, HistoryOptions())
    monkeypatch.setattr(store, "_encode_later", lambda name: None)
    utterance = add(store, "kept", tone(0.3))
    store.close()
    assert audio_files(directory) == [f"{utterance}.wav"]
    with HistoryStore(directory, HistoryOptions()) as reopened:
        assert reopened.get(utterance).text == "kept"
        assert reopened.wait_encoded(10)
        assert audio_files(directory) == [f"{utterance}.flac"]


@pytest.mark.parametrize("keep_audio", [True, False])
def test_the_log_is_synced_right_after_add_off_the_request_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_audio: bool
) -> None:
    """``add`` commits without an fsync (the edit is not kept waiting); the store's encoder thread
    then fsyncs the write-ahead log, with or without audio to encode, so a power cut after that
    keeps the utterance too."""
    synced: list[str] = []
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    with HistoryStore(tmp_path / "history", HistoryOptions(keep_audio=keep_audio)) as store:
        add(store, "hello", tone(0.5))
        assert store.wait_encoded(10)
        assert any(path.endswith("history.sqlite3-wal") for path in synced), synced

"""Recovering a damaged history database keeps the audio its utterances refer to.

The damaged ``history.sqlite3`` is moved aside as ``history.sqlite3.damaged-<UTC time>``; its
utterances' audio (``history/audio/*.flac``) must be kept with it (``audio.damaged-<same time>``),
not swept as orphans by the fresh database, and the message names where both are. The read-only
``swictation-rpc history`` command says so once.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from swictation_rpc.history import DB_NAME, HistoryStore
from swictation_rpc.options import HistoryOptions
from swictation_rpc.protocol import Timings

TIMINGS = Timings(audio_ms=1000.0, decode_ms=40.0, total_ms=50.0)


def _random_header(db: Path) -> None:
    with open(db, "r+b") as f:
        f.write(os.urandom(4096))


def _junk_page(db: Path) -> None:
    with open(db, "r+b") as f:
        f.seek(4096)
        f.write(b"JUNK" * 2048)


DAMAGES: list[Callable[[Path], None]] = [_random_header, _junk_page]


def _two_utterances(directory: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    with HistoryStore(directory, HistoryOptions()) as store:
        for i in range(2):
            samples = (rng.standard_normal(16000) * 0.1).astype(np.float32)
            store.add(f"utterance {i}", samples, uri="file:///a", range=None, mode="fast", model="m", timings=TIMINGS)
        assert store.wait_encoded(30)
    audio = {p.name: p.read_bytes() for p in (directory / "audio").iterdir()}
    assert len(audio) == 2 and all(name.endswith(".flac") for name in audio), audio
    return audio


def _kept_audio(directory: Path, kept_db: Path) -> Path:
    stamp = kept_db.name[len(DB_NAME + ".damaged-") :]
    return directory / f"audio.damaged-{stamp}"


@pytest.mark.parametrize("damage", DAMAGES, ids=["random-header", "junk-page"])
def test_recovery_keeps_the_audio_the_damaged_database_refers_to(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    directory = tmp_path / "history"
    before = _two_utterances(directory)
    damage(directory / DB_NAME)

    notices: list[str] = []
    with HistoryStore(directory, HistoryOptions(), notify=notices.append) as store:
        store.open()
        kept = store.recovered_from
        assert kept is not None
        assert store.list() == []
    kept_audio = _kept_audio(directory, kept)
    assert {p.name: p.read_bytes() for p in kept_audio.iterdir()} == before  # not one file swept
    assert len(notices) == 1 and str(kept) in notices[0] and str(kept_audio) in notices[0], notices
    # A later store (fresh database) sweeps nothing of the kept audio either.
    with HistoryStore(directory, HistoryOptions()) as store:
        store.open()
        store.add("after", np.zeros(8000, np.float32), uri=None, range=None, mode="fast", model="m", timings=TIMINGS)
        assert store.wait_encoded(30)
    assert {p.name: p.read_bytes() for p in kept_audio.iterdir()} == before


def test_the_history_command_keeps_the_audio_and_says_so_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = _two_utterances(data / "history")
    _junk_page(data / "history" / DB_NAME)
    env = dict(os.environ, SWICTATION_DATA_DIR=str(data))
    proc = subprocess.run(
        [sys.executable, "-m", "swictation_rpc", "history"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("history database was damaged") == 1, proc.stderr
    kept = [p for p in (data / "history").iterdir() if p.name.startswith(DB_NAME + ".damaged-")]
    assert len(kept) == 1
    kept_audio = _kept_audio(data / "history", kept[0])
    assert str(kept_audio) in proc.stderr, proc.stderr
    assert {p.name: p.read_bytes() for p in kept_audio.iterdir()} == before


def test_an_utterance_saved_while_the_database_is_found_damaged_keeps_its_audio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert finds the damage (after the new raw audio was written): recovered mid-save."""
    directory = tmp_path / "history"
    before = _two_utterances(directory)
    notices: list[str] = []
    with HistoryStore(directory, HistoryOptions(), notify=notices.append) as store:
        store.open()
        _junk_page(directory / DB_NAME)
        insert = store._insert
        calls: list[int] = []

        def damaged_once(conn: sqlite3.Connection, row: tuple) -> None:
            calls.append(1)
            if len(calls) == 1:  # an open connection's page cache may hide the damage: say it
                raise sqlite3.DatabaseError("database disk image is malformed")
            insert(conn, row)

        monkeypatch.setattr(store, "_insert", damaged_once)
        audio = np.full(16000, 0.05, np.float32)
        new = store.add("during", audio, uri=None, range=None, mode="fast", model="m", timings=TIMINGS)
        assert store.wait_encoded(30)
        kept = store.recovered_from
        assert kept is not None, "the damage was not noticed"
        assert store.audio(new) is not None  # the new row's audio is in the new audio/
    assert {p.name: p.read_bytes() for p in _kept_audio(directory, kept).iterdir()} == before
    assert len(notices) == 1

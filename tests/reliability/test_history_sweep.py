"""Partial ``.tmp`` files and orphan ``.flac`` files left by a killed server are swept at the next
start, whatever the first history access is, without waiting an hour (issue 19, item 11).

A file another live server is still writing (between its audio write and its commit) is never
swept: the writer holds a lock on it until its utterance is committed, so the sweep needs no age.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from swictation_rpc.history import HistoryStore
from swictation_rpc.options import HistoryOptions
from swictation_rpc.protocol import Timings

TIMINGS = Timings(audio_ms=1000.0, decode_ms=40.0, total_ms=50.0)


def _add(store: HistoryStore, text: str) -> str:
    return store.add(text, np.zeros(1600, np.float32), uri="file:///a", range=None, mode="fast", model="m",
                     timings=TIMINGS)  # fmt: skip


def _leftovers(audio: Path) -> tuple[Path, Path]:
    """What a SIGKILL leaves: a half-written ``.tmp`` and a FLAC renamed but never committed (fresh)."""
    partial = audio / f"{os.urandom(16).hex()}.tmp"
    partial.write_bytes(b"fLaC\x00\x00\x00\x22 half")
    orphan = audio / f"{os.urandom(16).hex()}.flac"
    orphan.write_bytes(b"fLaC never committed")
    return partial, orphan


def test_a_killed_servers_leftovers_are_swept_at_the_next_start_even_when_it_first_reads(spawn, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = spawn(data_dir=data, wait_ready=False)
    first.probe()
    with HistoryStore(data / "history", HistoryOptions()) as store:  # an utterance the server saved
        kept = _add(store, "kept")
    audio = data / "history" / "audio"
    partial, orphan = _leftovers(audio)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)

    second = spawn(data_dir=data, wait_ready=False)
    listed = second.request("swictation/history", {"limit": 5})  # the first history access is a read
    assert [item["id"] for item in listed["items"]] == [kept]
    assert not partial.exists() and not orphan.exists()
    assert (audio / f"{kept}.flac").is_file()
    second.probe()


def test_opening_sweeps_fresh_leftovers_deterministically(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    with HistoryStore(directory, HistoryOptions()) as store:
        kept = _add(store, "kept")
    partial, orphan = _leftovers(directory / "audio")
    with HistoryStore(directory, HistoryOptions()) as store:
        store.open()
        assert not partial.exists() and not orphan.exists()
        assert store.list()[0].id == kept
    assert sorted(p.name for p in (directory / "audio").iterdir()) == [f"{kept}.flac"]


def test_audio_another_store_is_still_committing_is_never_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "history"
    with HistoryStore(directory, HistoryOptions()) as store:
        _add(store, "first")
    written = threading.Event()
    release = threading.Event()
    original = HistoryStore._insert

    def slow_insert(self, conn, row):
        if row[2] == "in flight":
            written.set()  # the FLAC is written and renamed, the row not yet committed
            assert release.wait(30)
        return original(self, conn, row)

    monkeypatch.setattr(HistoryStore, "_insert", slow_insert)
    writer = HistoryStore(directory, HistoryOptions())
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(_add(writer, "in flight")))
    thread.start()
    try:
        assert written.wait(30)
        in_flight = [p for p in (directory / "audio").iterdir() if p.suffix == ".flac"]
        with HistoryStore(directory, HistoryOptions()) as sweeper:
            sweeper.open()  # sweeps: the file being committed must survive
        assert all(p.exists() for p in in_flight)
    finally:
        release.set()
        thread.join(30)
        writer.close()
    (uid,) = result
    with HistoryStore(directory, HistoryOptions()) as store:
        assert store.get(uid).text == "in flight"
        assert store.audio(uid) is not None

"""A damaged history database is moved aside, kept, and replaced by a fresh one (issue 19, item 4).

Before, a corrupted ``history.sqlite3`` meant every utterance after it went unsaved, with a wrong
remedy ("free disk space"). Now the damaged file is renamed ``history.sqlite3.damaged-<UTC time>``
(never deleted: what it holds may still be salvaged), a fresh database takes its place, and the
store says so once, naming the kept file.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from swictation_rpc.history import DB_NAME, HistoryStore
from swictation_rpc.options import HistoryOptions
from swictation_rpc.protocol import Timings
from tests.e2e.conftest import transcribe_params

from .conftest import add_figure

TIMINGS = Timings(audio_ms=1000.0, decode_ms=40.0, total_ms=50.0)


def _add(store: HistoryStore, text: str) -> str:
    return store.add(text, None, uri="file:///a", range=None, mode="fast", model="m", timings=TIMINGS)


def _garbage(db: Path) -> bytes:
    data = b"this is not a database, it was overwritten " * 200
    db.write_bytes(data)
    return data


def _damaged_page(db: Path) -> bytes:
    """A valid header, a destroyed b-tree page (what a bad sector or a stray write leaves)."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    assert len(data) >= 2 * page
    data[page : 2 * page] = b"\xa5" * page
    db.write_bytes(bytes(data))
    return bytes(data)


def _populated(directory: Path, count: int = 40) -> None:
    with HistoryStore(directory, HistoryOptions()) as store:
        for i in range(count):
            _add(store, f"utterance {i} " + "words " * 30)
    for suffix in ("-wal", "-shm"):
        assert not (directory / (DB_NAME + suffix)).exists() or suffix == "-shm"


@pytest.mark.parametrize("damage", [_garbage, _damaged_page], ids=["not-a-database", "damaged-page"])
def test_a_damaged_database_is_moved_aside_kept_and_a_fresh_one_started_and_said_once(tmp_path: Path, damage) -> None:
    directory = tmp_path / "history"
    _populated(directory)
    damaged_bytes = damage(directory / DB_NAME)

    notices: list[str] = []
    with HistoryStore(directory, HistoryOptions(), notify=notices.append) as store:
        new = _add(store, "after the damage")
        _add(store, "and again")
        assert [item.text for item in store.list()] == ["and again", "after the damage"]
        assert store.get(new).text == "after the damage"
        kept = store.recovered_from
    assert kept is not None and kept.parent == directory
    assert re.fullmatch(rf"{re.escape(DB_NAME)}\.damaged-\d{{8}}T\d{{6}}Z(-\d+)?", kept.name), kept.name
    assert kept.read_bytes() == damaged_bytes  # kept as it was
    assert len(notices) == 1 and str(kept) in notices[0], notices
    assert "disk space" not in notices[0]
    # The fresh database is sound, and another store finds it so (no second recovery).
    with sqlite3.connect(directory / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again: list[str] = []
    with HistoryStore(directory, HistoryOptions(), notify=again.append) as store:
        assert len(store.list()) == 2 and store.recovered_from is None
    assert again == []


def test_a_store_that_first_reads_a_damaged_database_recovers_it_too(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    _populated(directory, 2)
    _garbage(directory / DB_NAME)
    with HistoryStore(directory, HistoryOptions()) as store:
        assert store.list() == []
        assert store.recovered_from is not None
        _add(store, "fine")
        assert [item.text for item in store.list()] == ["fine"]


def test_the_server_saves_again_after_its_database_was_damaged(spawn, sentence_wav: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _populated(data / "history", 2)
    _garbage(data / "history" / DB_NAME)

    server = spawn(data_dir=data)
    result = server.request("swictation/transcribe", transcribe_params(sentence_wav))
    assert result["text"] and result["utteranceId"], result  # saved, not "free disk space"
    kept = sorted(p.name for p in (data / "history").iterdir() if ".damaged-" in p.name)
    assert len(kept) == 1, kept
    listed = server.request("swictation/history", {"limit": 5})
    assert [item["id"] for item in listed["items"]] == [result["utteranceId"]]
    server.probe()
    add_figure("faults_survived")

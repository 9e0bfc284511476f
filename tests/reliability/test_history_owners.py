"""Two editors on one data folder: one never rotates out or undoes the other's work (issue 19, item 5).

Each server passes the store an ``owner`` (a stable id of the editor and workspace it serves).
Rotation by ``maxItems`` counts and deletes only that owner's utterances, and :meth:`last` (what
``undoUtterance {}`` undoes) is that owner's newest. ``owner=None`` keeps one shared history.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from swictation_rpc.history import DB_NAME, HistoryStore
from swictation_rpc.options import HistoryOptions
from swictation_rpc.protocol import Timings

TIMINGS = Timings(audio_ms=1000.0, decode_ms=40.0, total_ms=50.0)
VSCODE = "Visual Studio Code\x00file:///home/u/project"
NVIM = "Neovim\x00file:///home/u/other"


def _add(store: HistoryStore, text: str) -> str:
    return store.add(text, np.zeros(800, np.float32), uri="file:///a", range=None, mode="fast", model="m",
                     timings=TIMINGS)  # fmt: skip


def test_one_editors_max_items_never_rotates_out_another_editors_utterances(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    with (
        HistoryStore(directory, HistoryOptions(max_items=3), owner=VSCODE) as code,
        HistoryStore(directory, HistoryOptions(max_items=2), owner=NVIM) as vim,
    ):
        mine = [_add(code, f"code {i}") for i in range(3)]
        theirs = [_add(vim, f"vim {i}") for i in range(6)]
        listed = {item.id for item in code.list(50)}
        assert set(mine) <= listed  # vim's six did not push code's three out
        assert set(theirs[-2:]) <= listed and not set(theirs[:-2]) & listed  # vim kept its own two
        more = _add(code, "code 3")
        listed = {item.id for item in vim.list(50)}
        assert set(mine[1:]) | {more} | set(theirs[-2:]) == listed
    audio = sorted(p.name.removesuffix(".flac") for p in (directory / "audio").iterdir())
    assert audio == sorted(listed)


def test_undo_last_is_the_owners_last_utterance(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    with (
        HistoryStore(directory, HistoryOptions(), owner=VSCODE) as code,
        HistoryStore(directory, HistoryOptions(), owner=NVIM) as vim,
    ):
        first = _add(code, "code's")
        second = _add(vim, "vim's")
        assert code.last().id == first
        assert vim.last().id == second
        code.mark_removed(first)
        assert code.last() is None and vim.last().id == second


def test_without_an_owner_the_history_is_shared_as_before(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    with HistoryStore(directory, HistoryOptions(max_items=2)) as one, HistoryStore(directory, HistoryOptions()) as two:
        _add(one, "a")
        b = _add(two, "b")
        c = _add(one, "c")
        assert [item.id for item in two.list()] == [c, b]
        assert two.last().id == c


def test_reconfigure_can_set_the_owner(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "history", HistoryOptions()) as store:
        store.reconfigure(HistoryOptions(max_items=1), owner=VSCODE)
        _add(store, "x")
        assert store.owner == VSCODE and store.last().text == "x"
        store.reconfigure(HistoryOptions(max_items=1))  # owner kept
        assert store.owner == VSCODE


def test_a_history_written_before_owners_existed_opens_and_keeps_its_utterances(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    directory.mkdir(mode=0o700)
    with sqlite3.connect(directory / DB_NAME) as conn:
        conn.executescript(
            """
            CREATE TABLE utterances (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL,
                text TEXT NOT NULL, uri TEXT, start_line INTEGER, start_character INTEGER, end_line INTEGER,
                end_character INTEGER, document_version INTEGER, mode TEXT NOT NULL, model TEXT NOT NULL,
                audio_ms REAL NOT NULL, decode_ms REAL NOT NULL, total_ms REAL NOT NULL, audio_file TEXT,
                removed INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX utterances_live ON utterances (removed, seq);
            INSERT INTO utterances (id, created_at, text, mode, model, audio_ms, decode_ms, total_ms)
                VALUES ('0123456789abcdef0123456789abcdef', '2026-01-01T00:00:00.000Z', 'old words', 'fast', 'm', 1, 1, 1);
            PRAGMA user_version=1;
            """
        )
    with HistoryStore(directory, HistoryOptions(max_items=1), owner=VSCODE) as store:
        new = _add(store, "new words")
        _add(store, "newer words")
        texts = [item.text for item in store.list()]
        assert texts[-1] == "old words" and new not in {item.id for item in store.list()}
        assert store.last().text == "newer words"


def test_list_can_be_limited_to_the_owners_utterances(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    with (
        HistoryStore(directory, HistoryOptions(), owner=VSCODE) as code,
        HistoryStore(directory, HistoryOptions(), owner=NVIM) as vim,
    ):
        mine = _add(code, "code's")
        theirs = _add(vim, "vim's")
        assert [item.id for item in code.list()] == [theirs, mine]
        assert [item.id for item in code.list(owner_only=True)] == [mine]

"""The utterance history: every utterance's text, place and audio, saved before its edit is sent.

One SQLite database (``history.sqlite3``, WAL journal, ``synchronous=FULL``, so a committed
utterance survives the process being killed and, as far as the disk keeps its word, a power cut)
and one 16-bit FLAC file per utterance under ``audio/``. The folder is the user's only (0700,
files 0600): it holds what they said. Beyond ``HistoryOptions.max_items`` the oldest utterances
and their audio are deleted.

With ``HistoryOptions.enabled`` false, nothing touches the disk: the store lives in memory, so
undo still works for the session. Failures to write raise :class:`HistoryWriteError`; the caller
still sends the edit and reports the error.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf
from attrs import define
from lsprotocol.types import Position, Range

from swictation_rpc import paths
from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.errors import HistoryWriteError, UtteranceNotFoundError
from swictation_rpc.options import ConcreteMode, HistoryOptions
from swictation_rpc.protocol import HistoryItem, Timings

log = logging.getLogger(__name__)

DB_NAME = "history.sqlite3"
AUDIO_DIR = "audio"
_SCHEMA_VERSION = 1
#: Unreferenced audio files older than this are removed when a store opens.
_ORPHAN_AGE_S = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS utterances (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    text TEXT NOT NULL,
    uri TEXT,
    start_line INTEGER, start_character INTEGER, end_line INTEGER, end_character INTEGER,
    document_version INTEGER,
    mode TEXT NOT NULL,
    model TEXT NOT NULL,
    audio_ms REAL NOT NULL, decode_ms REAL NOT NULL, total_ms REAL NOT NULL,
    audio_file TEXT,
    removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS utterances_live ON utterances (removed, seq);
"""

_COLUMNS = (
    "id, created_at, text, uri, start_line, start_character, end_line, end_character, "
    "document_version, mode, model, audio_ms, decode_ms, total_ms, audio_file, removed"
)


@define
class HistoryEntry:
    """A history item with what only the server needs (undo, refine, retranscribe)."""

    item: HistoryItem
    document_version: int | None
    removed: bool
    has_audio: bool


class HistoryStore:
    """Utterances under ``directory``; safe to use from several threads (one connection, a lock).

    Reading never creates anything: a store whose directory does not exist yet lists nothing.
    The directory and database are created by the first :meth:`add`.
    """

    def __init__(self, directory: Path, options: HistoryOptions | None = None):
        self.directory = Path(directory)
        self.options = options or HistoryOptions()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._in_memory = not self.options.enabled

    @property
    def db_path(self) -> Path:
        return self.directory / DB_NAME

    @property
    def audio_dir(self) -> Path:
        return self.directory / AUDIO_DIR

    # -- connection ------------------------------------------------------------------------

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        if self._in_memory:
            conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            conn.executescript(_SCHEMA)
            self._conn = conn
            return conn
        if not create and not self.db_path.exists():
            return None
        try:
            if create:
                self._make_private_dir(self.directory)
                # Create the file ourselves, 0600: SQLite gives -wal/-shm the same mode.
                fd = os.open(self.db_path, os.O_RDWR | os.O_CREAT, 0o600)
                os.close(fd)
            conn = sqlite3.connect(str(self.db_path), check_same_thread=False, isolation_level=None, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as exc:
            raise self._write_error("The history could not be opened", exc) from exc
        for suffix in ("", "-wal", "-shm"):
            path = Path(str(self.db_path) + suffix)
            if path.exists():
                try:
                    os.chmod(path, 0o600)
                except OSError:
                    pass
        self._conn = conn
        if create:
            self._sweep_orphans()
        return conn

    @staticmethod
    def _make_private_dir(path: Path) -> None:
        paths.ensure_private_dir(path)  # missing parents (the data folder) private too
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o700)

    def _write_error(self, message: str, exc: BaseException) -> HistoryWriteError:
        log.error("%s (%s): %s", message, self.directory, exc)
        return HistoryWriteError(
            f"{message}: {exc}",
            remedy=f"Free disk space or make {self.directory} writable; or set history.enabled to false.",
            directory=str(self.directory),
        )

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconfigure(self, options: HistoryOptions) -> None:
        """Apply new ``max_items``/``keep_audio`` (``enabled`` needs a new store)."""
        with self._lock:
            self.options = options

    # -- writing ---------------------------------------------------------------------------

    def add(
        self,
        text: str,
        audio: np.ndarray | None,
        *,
        uri: str | None,
        range: Range | None,
        mode: ConcreteMode,
        model: str,
        timings: Timings,
        document_version: int | None = None,
    ) -> str:
        """Save an utterance; returns its id once it is durably committed.

        ``audio`` is 16 kHz mono (float32 in [-1, 1] or int16); it is kept only if
        ``keep_audio``. Raises :class:`HistoryWriteError` if anything cannot be written (disk
        full, read-only folder); nothing half-written stays behind.
        """
        utterance_id = uuid.uuid4().hex
        created_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with self._lock:
            conn = self._connect(create=True)
            if conn is None:  # create=True connects or raises; this keeps type checkers calm
                raise HistoryWriteError("The history could not be opened")
            audio_file = None
            if audio is not None and self.options.keep_audio and not self._in_memory:
                audio_file = f"{utterance_id}.flac"
                self._write_audio(self.audio_dir / audio_file, audio)
            r = range
            row = (
                utterance_id,
                created_at,
                text,
                uri,
                r.start.line if r else None,
                r.start.character if r else None,
                r.end.line if r else None,
                r.end.character if r else None,
                document_version,
                mode,
                model,
                float(timings.audio_ms),
                float(timings.decode_ms),
                float(timings.total_ms),
                audio_file,
            )
            try:
                with self._transaction(conn):
                    conn.execute(
                        "INSERT INTO utterances (id, created_at, text, uri, start_line, start_character, "
                        "end_line, end_character, document_version, mode, model, audio_ms, decode_ms, "
                        "total_ms, audio_file) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    )
                    rotated = self._rotate(conn)
            except sqlite3.Error as exc:
                if audio_file:
                    _unlink(self.audio_dir / audio_file)
                raise self._write_error("The utterance could not be saved", exc) from exc
            for name in rotated:
                _unlink(self.audio_dir / name)
        return utterance_id

    def _write_audio(self, path: Path, audio: np.ndarray) -> None:
        samples = np.asarray(audio)
        if samples.dtype != np.int16:
            samples = (np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0) * 32767.0).round().astype(np.int16)
        tmp = path.with_suffix(".tmp")
        try:
            self._make_private_dir(path.parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                sf.write(f, samples.reshape(-1), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            _unlink(tmp)
            raise self._write_error("The utterance's audio could not be saved", exc) from exc

    def _rotate(self, conn: sqlite3.Connection) -> list[str]:
        """Delete utterances beyond ``max_items``, oldest first; returns their audio files."""
        rows = conn.execute(
            "SELECT seq, audio_file FROM utterances ORDER BY seq DESC LIMIT -1 OFFSET ?",
            (self.options.max_items,),
        ).fetchall()
        if not rows:
            return []
        conn.execute("DELETE FROM utterances WHERE seq <= ?", (rows[0][0],))
        return [name for _, name in rows if name]

    def _sweep_orphans(self) -> None:
        """Remove audio files no utterance refers to (left by a crash between commit and unlink)."""
        if not self.audio_dir.is_dir() or self._conn is None:
            return
        try:
            rows = self._conn.execute("SELECT audio_file FROM utterances WHERE audio_file IS NOT NULL")
            known = {name for (name,) in rows}
            # Another server (a second editor) may be between writing a file and committing it.
            cutoff = time.time() - _ORPHAN_AGE_S
            for path in self.audio_dir.iterdir():
                if path.name not in known and path.stat().st_mtime < cutoff:
                    _unlink(path)
        except (OSError, sqlite3.Error) as exc:
            log.warning("Could not tidy %s: %s", self.audio_dir, exc)

    def update_text_and_range(
        self,
        utterance_id: str,
        text: str,
        range: Range | None,
        *,
        document_version: int | None = None,
        mode: ConcreteMode | None = None,
        model: str | None = None,
        timings: Timings | None = None,
    ) -> None:
        """After refine or retranscribe replaced the utterance's text (and so its range).

        ``mode``, ``model`` and ``timings`` describe the decode that produced the new text.
        """
        r = range
        t = timings
        self._update(
            utterance_id,
            "text = ?, start_line = ?, start_character = ?, end_line = ?, end_character = ?, "
            "document_version = COALESCE(?, document_version), mode = COALESCE(?, mode), "
            "model = COALESCE(?, model), audio_ms = COALESCE(?, audio_ms), decode_ms = COALESCE(?, decode_ms), "
            "total_ms = COALESCE(?, total_ms)",
            (
                text,
                r.start.line if r else None,
                r.start.character if r else None,
                r.end.line if r else None,
                r.end.character if r else None,
                document_version,
                mode,
                model,
                t.audio_ms if t else None,
                t.decode_ms if t else None,
                t.total_ms if t else None,
            ),
        )

    def update_range(self, utterance_id: str, range: Range | None, *, document_version: int | None = None) -> None:
        """The utterance's text moved (edits before it); its text is unchanged."""
        r = range
        self._update(
            utterance_id,
            "start_line = ?, start_character = ?, end_line = ?, end_character = ?, "
            "document_version = COALESCE(?, document_version)",
            (
                r.start.line if r else None,
                r.start.character if r else None,
                r.end.line if r else None,
                r.end.character if r else None,
                document_version,
            ),
        )

    def update_ranges(self, rows: list[tuple[str, Range | None, int | None]]) -> int:
        """Save several moved ranges ``(id, range, document_version)`` in one transaction.

        Ids no longer in the history (rotated out) are skipped; returns how many rows changed.
        """
        if not rows:
            return 0
        values = [
            (
                r.start.line if r else None,
                r.start.character if r else None,
                r.end.line if r else None,
                r.end.character if r else None,
                version,
                utterance_id,
            )
            for utterance_id, r, version in rows
        ]
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return 0
            try:
                with self._transaction(conn):
                    cur = conn.executemany(
                        "UPDATE utterances SET start_line = ?, start_character = ?, end_line = ?, end_character = ?, "
                        "document_version = COALESCE(?, document_version) WHERE id = ?",
                        values,
                    )
            except sqlite3.Error as exc:
                raise self._write_error("The history could not be updated", exc) from exc
            return cur.rowcount

    def mark_removed(self, utterance_id: str) -> None:
        """The utterance was undone: it no longer shows in :meth:`list` or :meth:`last`."""
        self._update(utterance_id, "removed = 1", ())

    def _update(self, utterance_id: str, assignments: str, values: tuple) -> None:
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                raise UtteranceNotFoundError(f"No utterance {utterance_id} in the history", id=utterance_id)
            try:
                with self._transaction(conn):
                    cur = conn.execute(f"UPDATE utterances SET {assignments} WHERE id = ?", (*values, utterance_id))
            except sqlite3.Error as exc:
                raise self._write_error("The history could not be updated", exc) from exc
            if cur.rowcount == 0:
                raise UtteranceNotFoundError(f"No utterance {utterance_id} in the history", id=utterance_id)

    # -- reading ---------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self._lock:
            try:
                conn = self._connect(create=False)
                if conn is None:
                    return []
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._write_error("The history could not be read", exc) from exc

    def list(self, limit: int = 20, *, include_removed: bool = False) -> list[HistoryItem]:
        """The newest ``limit`` utterances, newest first (undone ones left out unless asked)."""
        where = "" if include_removed else "WHERE removed = 0"
        rows = self._query(f"SELECT {_COLUMNS} FROM utterances {where} ORDER BY seq DESC LIMIT ?", (max(0, limit),))
        return [_entry(row).item for row in rows]

    def entry(self, utterance_id: str) -> HistoryEntry:
        """The utterance with server-side details; :class:`UtteranceNotFoundError` if unknown."""
        rows = self._query(f"SELECT {_COLUMNS} FROM utterances WHERE id = ?", (utterance_id,))
        if not rows:
            raise UtteranceNotFoundError(f"No utterance {utterance_id} in the history", id=utterance_id)
        return _entry(rows[0])

    def get(self, utterance_id: str) -> HistoryItem:
        """The utterance (undone or not); :class:`UtteranceNotFoundError` if unknown."""
        return self.entry(utterance_id).item

    def last(self) -> HistoryItem | None:
        """The newest utterance not undone, if any."""
        items = self.list(1)
        return items[0] if items else None

    def audio(self, utterance_id: str) -> np.ndarray | None:
        """The utterance's audio, 16 kHz mono float32; ``None`` if it was not kept."""
        rows = self._query("SELECT audio_file FROM utterances WHERE id = ?", (utterance_id,))
        if not rows:
            raise UtteranceNotFoundError(f"No utterance {utterance_id} in the history", id=utterance_id)
        name = rows[0][0]
        if not name:
            return None
        try:
            data, _ = sf.read(self.audio_dir / name, dtype="float32", always_2d=False)
        except (OSError, RuntimeError, sf.LibsndfileError) as exc:
            log.warning("Audio of utterance %s unreadable: %s", utterance_id, exc)
            return None
        return data

    def __len__(self) -> int:
        rows = self._query("SELECT COUNT(*) FROM utterances WHERE removed = 0", ())
        return rows[0][0] if rows else 0


def _entry(row: tuple) -> HistoryEntry:
    (
        uid,
        created_at,
        text,
        uri,
        sl,
        sc,
        el,
        ec,
        version,
        mode,
        model,
        audio_ms,
        decode_ms,
        total_ms,
        audio_file,
        removed,
    ) = row
    rng = None
    if None not in (sl, sc, el, ec):
        rng = Range(start=Position(line=sl, character=sc), end=Position(line=el, character=ec))
    item = HistoryItem(
        id=uid,
        text=text,
        uri=uri,
        range=rng,
        mode=mode,
        model=model,
        timings=Timings(audio_ms=audio_ms, decode_ms=decode_ms, total_ms=total_ms),
        created_at=created_at,
    )
    return HistoryEntry(item, version, bool(removed), audio_file is not None)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("Could not remove %s: %s", path, exc)


def _fsync_dir(path: Path) -> None:
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

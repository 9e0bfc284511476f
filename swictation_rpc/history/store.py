"""The utterance history: every utterance's text, place and audio, saved before its edit is sent.

One SQLite database (``history.sqlite3``, WAL journal, ``synchronous=FULL``, so a committed
utterance survives the process being killed and, as far as the disk keeps its word, a power cut)
and one 16-bit FLAC file per utterance under ``audio/``. The folder is the user's only (0700,
files 0600): it holds what they said. Beyond ``HistoryOptions.max_items`` the oldest utterances
and their audio are deleted: only the store's own ``owner``'s (the editor and workspace a server
serves), so one editor never rotates out another's work on a shared data folder.

With ``HistoryOptions.enabled`` false, nothing touches the disk: the store lives in memory, so
undo still works for the session.

Never lose a word:

- Any failure while saving raises :class:`HistoryWriteError` (the caller still sends the edit and
  reports the error), leaves no audio file behind, and appends the utterance to ``spool.jsonl``
  (private, append-only); the spool is replayed into the database when the store next opens or
  next saves successfully.
- A damaged database is moved aside (``history.sqlite3.damaged-<UTC time>``, kept, never
  deleted), a fresh one is started, and ``notify`` is told once (:attr:`HistoryStore.recovered_from`).

Never touch a file the server did not create:

- A symlinked ``history/`` or ``history/audio/`` is followed for the location only: modes are set
  through descriptors opened with ``O_NOFOLLOW``, so the link's target keeps its mode.
- Only names the server makes (``<32 hex>.flac`` / ``.tmp``, regular files by ``lstat``) are ever
  removed from ``audio/``. Leftovers of a killed server are swept when the store opens (any first
  access, read or write): a file another live server is still committing is locked by it
  (``flock``) and skipped, so the sweep needs no age threshold.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import logging
import math
import os
import re
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from attrs import define
from lsprotocol.types import Position, Range

from swictation_rpc import paths
from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.errors import HistoryWriteError, UtteranceNotFoundError
from swictation_rpc.options import ConcreteMode, HistoryOptions
from swictation_rpc.protocol import HistoryItem, Timings

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the sweep falls back to an age threshold
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DB_NAME = "history.sqlite3"
AUDIO_DIR = "audio"
#: Utterances that could not be saved, one JSON object a line, replayed into the database later.
SPOOL_NAME = "spool.jsonl"
_SCHEMA_VERSION = 2
#: Without ``flock`` (Windows), unreferenced audio files older than this are removed on open.
_ORPHAN_AGE_S = 3600.0
#: The only names the server creates in ``audio/`` (an utterance id, then its suffix).
_AUDIO_NAME = re.compile(r"[0-9a-f]{32}\.(?:flac|tmp)")
#: SQLite cannot bind integers beyond 64 bits; a larger ``max_items`` means "keep everything".
_MAX_ITEMS_CAP = 2**62
#: LSP positions are uintegers (0 .. 2^31 - 1).
_POSITION_MAX = 2**31 - 1
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

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
    removed INTEGER NOT NULL DEFAULT 0,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS utterances_live ON utterances (removed, seq);
"""

_COLUMNS = (
    "id, created_at, text, uri, start_line, start_character, end_line, end_character, "
    "document_version, mode, model, audio_ms, decode_ms, total_ms, audio_file, removed"
)
_INSERT_COLUMNS = (
    "id, created_at, text, uri, start_line, start_character, end_line, end_character, "
    "document_version, mode, model, audio_ms, decode_ms, total_ms, audio_file, owner"
)
_RECORD_KEYS = tuple(name.strip() for name in _INSERT_COLUMNS.split(","))


class _Damaged(Exception):
    """The database file is not a sound SQLite database."""


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
    The directory and database are created by the first :meth:`add`. The first access, read or
    write (or :meth:`open`, which the server calls at start), recovers a damaged database,
    replays spooled utterances and sweeps what a killed server left in ``audio/``.

    ``owner`` (a stable id of the editor and workspace the server serves; ``None``: one history
    shared by all) scopes rotation and :meth:`last`. ``notify`` receives, once, the message that
    a damaged database was moved aside (from whatever thread noticed it).
    """

    def __init__(
        self,
        directory: Path,
        options: HistoryOptions | None = None,
        *,
        owner: str | None = None,
        notify: Callable[[str], None] | None = None,
    ):
        self.directory = Path(directory)
        self.options = options or HistoryOptions()
        self.owner = owner
        self.notify = notify
        #: Where the damaged database was moved, once this store recovered from one.
        self.recovered_from: Path | None = None
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._opened_ino: tuple[int, int] | None = None
        self._in_memory = not self.options.enabled

    @property
    def db_path(self) -> Path:
        return self.directory / DB_NAME

    @property
    def audio_dir(self) -> Path:
        return self.directory / AUDIO_DIR

    @property
    def spool_path(self) -> Path:
        return self.directory / SPOOL_NAME

    # -- connection ------------------------------------------------------------------------

    def open(self) -> None:
        """Open the history now: recover, replay the spool, sweep. Creates nothing that is not there.

        The server calls this once at start (off the event loop), so leftovers of a killed
        server are swept and a damaged database is reported before the first utterance.
        """
        with self._lock:
            try:
                if self._connect(create=False) is None and os.path.lexists(self.spool_path):
                    self._connect(create=True)
            except HistoryWriteError:
                pass  # logged; add() reports it to the user when it matters

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
            try:
                conn = self._open_db(create=create)
            except _Damaged as damaged:
                conn = self._recover(str(damaged))
        except (OSError, sqlite3.Error) as exc:
            raise self._write_error("The history could not be opened", exc) from exc
        self._conn = conn
        self._replay_spool()
        self._sweep_orphans()
        return conn

    def _open_db(self, *, create: bool) -> sqlite3.Connection:
        if create:
            self._make_private_dir(self.directory)
            self._create_db_file()
        try:
            info = os.lstat(self.db_path)  # as _recover compares it: a symlinked file is renamed, not its target
            self._opened_ino = (info.st_dev, info.st_ino)
        except OSError:
            self._opened_ino = None
        conn = sqlite3.connect(str(self.db_path), check_same_thread=False, isolation_level=None, timeout=10)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise _Damaged("; ".join(str(p) for p in problems))
            conn.executescript(_SCHEMA)
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _is_corruption(exc):
                raise _Damaged(str(exc)) from exc
            raise
        except BaseException:
            conn.close()
            raise
        for suffix in ("-wal", "-shm"):
            _tighten_file(Path(str(self.db_path) + suffix))
        return conn

    def _create_db_file(self) -> None:
        """Create the database file ourselves, 0600 (SQLite gives -wal/-shm the same mode).

        A ``history.sqlite3`` that is a symlink is the user's arrangement: SQLite follows it, and
        its target keeps its mode. Anything but a regular file (a FIFO) is refused.
        """
        try:
            os.close(paths.open_private_fd(self.db_path, os.O_RDWR | os.O_CREAT))
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        """Version 1 had no ``owner``: add it (every old utterance belongs to nobody in particular)."""
        columns = {row[1] for row in conn.execute("PRAGMA table_info(utterances)")}
        if "owner" not in columns:
            conn.execute("BEGIN IMMEDIATE")
            try:
                columns = {row[1] for row in conn.execute("PRAGMA table_info(utterances)")}
                if "owner" not in columns:  # another server may have added it meanwhile
                    conn.execute("ALTER TABLE utterances ADD COLUMN owner TEXT")
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        conn.execute("CREATE INDEX IF NOT EXISTS utterances_owner ON utterances (owner, removed, seq)")
        if conn.execute("PRAGMA user_version").fetchone()[0] < _SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def _recover(self, reason: str) -> sqlite3.Connection:
        """Move the damaged database aside (kept, with its -wal), start a fresh one, say so once."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        kept: Path | None = None
        try:
            info = os.lstat(self.db_path)
            current = (info.st_dev, info.st_ino)
        except FileNotFoundError:
            current = None
        # Another server may have recovered already: then the file there now is its fresh one.
        if current is not None and current == self._opened_ino:
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            kept = self.directory / f"{DB_NAME}.damaged-{stamp}"
            n = 1
            while os.path.lexists(kept):
                kept = self.directory / f"{DB_NAME}.damaged-{stamp}-{n}"
                n += 1
            os.rename(self.db_path, kept)
            for suffix in ("-wal", "-shm"):
                try:
                    os.rename(str(self.db_path) + suffix, str(kept) + suffix)
                except FileNotFoundError:
                    pass
            _fsync_dir(self.directory)
        try:
            conn = self._open_db(create=True)
        except _Damaged as exc:
            raise sqlite3.DatabaseError(f"the new history database is damaged too: {exc}") from None
        if kept is not None:
            self.recovered_from = kept
            message = (
                f"The history database was damaged ({reason}). It was kept as {kept} and a new "
                "history started: utterances saved before are in the kept file."
            )
            log.warning("%s", message)
            if self.notify is not None:
                try:
                    self.notify(message)
                except Exception:  # telling the user must not break saving
                    log.exception("Reporting the history recovery failed")
        return conn

    def _make_private_dir(self, path: Path) -> None:
        """Create ``path`` private; an existing real folder of ours is made private too.

        Inside a symlinked history folder (another disk, the user's folder) nothing that exists
        already is chmodded: the server did not create it.
        """
        paths.ensure_private_dir(path)  # missing parents (the data folder) private too
        if path != self.directory and self.directory.is_symlink():
            return
        paths.tighten_dir(path)  # never through a symlink

    def _write_error(self, message: str, exc: BaseException, *, spooled: bool | None = None) -> HistoryWriteError:
        log.error("%s (%s): %s: %s", message, self.directory, type(exc).__name__, exc)
        detail = None if isinstance(exc, (OSError, sqlite3.Error)) else f"{message}: {type(exc).__name__}: {exc}"
        if isinstance(exc, (OSError, sqlite3.OperationalError)) or type(exc) is sqlite3.DatabaseError:
            remedy = f"Free disk space or make {self.directory} writable; or set history.enabled to false."
        else:
            remedy = "Please report this (the server log has the details); set history.enabled to false to stop saving."
        text = detail or f"{message}: {exc}"
        if spooled:
            text += f". The text was kept in the spool {self.spool_path} and goes into the history when it next opens"
        elif spooled is False:
            text += ". The text could not be kept either"
        return HistoryWriteError(text, remedy=remedy, directory=str(self.directory))

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            _rollback(conn)
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

    _KEEP = object()

    def reconfigure(self, options: HistoryOptions, *, owner: Any = _KEEP) -> None:
        """Apply new ``max_items``/``keep_audio`` (``enabled`` needs a new store); ``owner`` if given."""
        with self._lock:
            self.options = options
            if owner is not HistoryStore._KEEP:
                self.owner = owner

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
        ``keep_audio``. Any failure (disk full, read-only folder, a value SQLite refuses, a bug)
        raises :class:`HistoryWriteError`, with no audio file left behind and the utterance kept
        in the spool (see the module's docstring) when the spool can be written.
        """
        utterance_id = uuid.uuid4().hex
        created_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record: dict[str, Any] = {"id": utterance_id, "created_at": created_at, "text": text, "uri": uri}
        with self._lock:
            guard: int | None = None
            audio_file: str | None = None
            try:
                r = range
                record.update(
                    start_line=r.start.line if r else None,
                    start_character=r.start.character if r else None,
                    end_line=r.end.line if r else None,
                    end_character=r.end.character if r else None,
                    document_version=document_version,
                    mode=mode,
                    model=model,
                    audio_ms=float(timings.audio_ms),
                    decode_ms=float(timings.decode_ms),
                    total_ms=float(timings.total_ms),
                    audio_file=None,
                    owner=self.owner,
                )
                conn = self._connect(create=True)
                if conn is None:  # create=True connects or raises; this keeps type checkers calm
                    raise HistoryWriteError("The history could not be opened")
                if audio is not None and self.options.keep_audio and not self._in_memory:
                    audio_file = f"{utterance_id}.flac"
                    guard = self._write_audio(audio_file, audio)
                    record["audio_file"] = audio_file
                rotated = self._commit(conn, _row(record))
            except Exception as exc:  # noqa: BLE001 - any failure: the words go to the spool
                if audio_file:
                    self._unlink_audio(audio_file)
                if isinstance(exc, HistoryWriteError) and exc.data.get("stage") == "audio":
                    message = "The utterance's audio could not be saved"
                    cause: BaseException = exc.__cause__ or exc
                elif isinstance(exc, HistoryWriteError):
                    message, cause = "The history could not be opened", exc.__cause__ or exc
                else:
                    message, cause = "The utterance could not be saved", exc
                record["audio_file"] = None
                spooled = self._spool(record) if not self._in_memory else None
                raise self._write_error(message, cause, spooled=spooled) from cause
            finally:
                if guard is not None:
                    os.close(guard)  # committed (or removed): a sweep may look at it now
            for name in rotated:
                self._unlink_audio(name)
            if os.path.lexists(self.spool_path):
                self._replay_spool()
        return utterance_id

    def _commit(self, conn: sqlite3.Connection, row: tuple) -> list[str]:
        """Insert ``row`` and rotate, in one transaction; a damaged database is recovered once."""
        for attempt in (1, 2):
            try:
                with self._transaction(conn):
                    self._insert(conn, row)
                    return self._rotate(conn)
            except sqlite3.DatabaseError as exc:
                if attempt == 2 or self._in_memory or not _is_corruption(exc):
                    raise
                conn = self._recover(str(exc))
                self._conn = conn
        raise AssertionError("unreachable")

    def _insert(self, conn: sqlite3.Connection, row: tuple) -> None:
        conn.execute(
            f"INSERT INTO utterances ({_INSERT_COLUMNS}) VALUES ({', '.join('?' * len(_RECORD_KEYS))})",
            row,
        )

    def _write_audio(self, name: str, audio: np.ndarray) -> int:
        """Write ``audio/<name>`` (via a ``.tmp``) durably; returns a descriptor holding its lock.

        The lock (``flock``, on the file itself) is held until the caller committed the
        utterance, so another server's sweep never removes a file that is about to be referenced.
        """
        samples = np.asarray(audio)
        if samples.dtype != np.int16:
            samples = (np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0) * 32767.0).round().astype(np.int16)
        path = self.audio_dir / name
        tmp = path.with_suffix(".tmp")
        fd: int | None = None
        try:
            self._make_private_dir(self.audio_dir)
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
                sf.write(f, samples.reshape(-1), SAMPLE_RATE, format="FLAC", subtype="PCM_16")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except Exception as exc:
            if fd is not None:
                self._unlink_audio(tmp.name)
                os.close(fd)
            raise HistoryWriteError(str(exc), stage="audio") from exc
        return fd

    def _rotate(self, conn: sqlite3.Connection) -> list[str]:
        """Delete the owner's utterances beyond ``max_items``, oldest first; returns their audio files.

        Without an owner, every utterance counts (one shared history).
        """
        keep = min(int(self.options.max_items), _MAX_ITEMS_CAP)
        if self.owner is None:
            where, params = "", ()
        else:
            where, params = "WHERE owner = ?", (self.owner,)
        rows = conn.execute(
            f"SELECT seq, audio_file FROM utterances {where} ORDER BY seq DESC LIMIT -1 OFFSET ?",
            (*params, keep),
        ).fetchall()
        if not rows:
            return []
        conn.execute(f"DELETE FROM utterances {where or 'WHERE 1'} AND seq <= ?", (*params, rows[0][0]))
        return [name for _, name in rows if name]

    # -- the spool: utterances that could not be saved -------------------------------------

    def _spool(self, record: dict[str, Any]) -> bool:
        """Append ``record`` to the spool; whether it is durably there (never raises)."""
        line = (json.dumps(record, ensure_ascii=True, default=str) + "\n").encode("ascii")
        try:
            self._make_private_dir(self.directory)
            for _ in range(5):
                fd = paths.open_private_fd(self.spool_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                try:
                    if fcntl is not None:
                        fcntl.flock(fd, fcntl.LOCK_EX)
                    info = os.fstat(fd)
                    if info.st_nlink == 0:
                        continue  # replayed and removed while we waited for the lock: a new one
                    try:
                        view = memoryview(line)
                        while view:
                            view = view[os.write(fd, view) :]
                        os.fsync(fd)
                    except OSError:
                        os.ftruncate(fd, info.st_size)  # no half line left for the replay
                        raise
                    _fsync_dir(self.directory)
                    log.warning("Utterance %s kept in the spool %s", record.get("id"), self.spool_path)
                    return True
                finally:
                    os.close(fd)
        except Exception as exc:  # noqa: BLE001 - reported by the caller's HistoryWriteError
            log.error("Could not keep the utterance in the spool %s: %s", self.spool_path, exc)
        return False

    def _replay_spool(self) -> None:
        """Move spooled utterances into the database, then remove the spool (never raises)."""
        conn = self._conn
        if conn is None or self._in_memory or not os.path.lexists(self.spool_path):
            return
        try:
            fd = paths.open_private_fd(self.spool_path, os.O_RDWR)
        except OSError as exc:
            log.warning("Cannot read the spool %s: %s", self.spool_path, exc)
            return
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:
                return  # another server replayed it
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            records, bad = [], []
            for raw in b"".join(chunks).splitlines():
                try:
                    record = json.loads(raw)
                    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                        raise ValueError("not an utterance")
                    records.append(record)
                except ValueError:
                    if raw.strip():
                        bad.append(raw)
            with self._transaction(conn):
                for record in records:
                    # Not INSERT OR IGNORE: that would also skip a row SQLite refuses, silently.
                    if (
                        record.get("id")
                        and conn.execute(
                            "SELECT 1 FROM utterances WHERE id = ?", (_storable(str(record["id"])),)
                        ).fetchone()
                    ):
                        continue  # replayed before (killed between the commit and the unlink)
                    try:
                        self._insert(conn, _row(record))
                    except (sqlite3.InterfaceError, sqlite3.IntegrityError, OverflowError, ValueError, TypeError):
                        self._insert(conn, _row(record, minimal=True))  # the words, without what was refused
            if bad:
                stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                kept = self.directory / f"{SPOOL_NAME}.unreadable-{stamp}"
                os.rename(self.spool_path, kept)
                log.warning("%d unreadable spool lines kept in %s", len(bad), kept)
            else:
                os.unlink(self.spool_path)
            _fsync_dir(self.directory)
            log.info("Replayed %d spooled utterances into the history", len(records))
        except (OSError, sqlite3.Error) as exc:
            log.warning("Could not replay the spool %s (kept for later): %s", self.spool_path, exc)
        finally:
            os.close(fd)

    # -- leftovers -------------------------------------------------------------------------

    def _sweep_orphans(self) -> None:
        """Remove audio files no utterance refers to (left by a server killed mid-save).

        Only regular files named as the server names them; one another server still holds
        locked (it is between writing and committing) is left alone.
        """
        conn = self._conn
        if conn is None or self._in_memory:
            return
        try:
            entries = list(os.scandir(self.audio_dir))  # a symlinked audio/ is followed for the location
        except OSError:
            return
        try:
            known = {name for (name,) in conn.execute("SELECT audio_file FROM utterances WHERE audio_file IS NOT NULL")}
            removed = 0
            for entry in entries:
                if entry.name in known or not _AUDIO_NAME.fullmatch(entry.name):
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                removed += self._remove_orphan(conn, entry.path, entry.name)
            if removed:
                log.info("Removed %d leftover audio files from %s", removed, self.audio_dir)
        except (OSError, sqlite3.Error) as exc:
            log.warning("Could not tidy %s: %s", self.audio_dir, exc)

    def _remove_orphan(self, conn: sqlite3.Connection, path: str, name: str) -> int:
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
            elif info.st_mtime > time.time() - _ORPHAN_AGE_S:
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

    def _unlink_audio(self, name: str) -> None:
        """Remove ``audio/<name>``: only a name the server makes (a damaged row never points elsewhere)."""
        if not name or not _AUDIO_NAME.fullmatch(name):
            log.warning("Not removing %r from %s: not a name the server makes", name, self.audio_dir)
            return
        _unlink(self.audio_dir / name)

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
                try:
                    return conn.execute(sql, params).fetchall()
                except sqlite3.DatabaseError as exc:
                    if self._in_memory or not _is_corruption(exc):
                        raise
                    self._conn = self._recover(str(exc))
                    return self._conn.execute(sql, params).fetchall()
            except (OSError, sqlite3.Error) as exc:
                raise self._write_error("The history could not be read", exc) from exc

    def list(self, limit: int = 20, *, include_removed: bool = False, owner_only: bool = False) -> list[HistoryItem]:
        """The newest ``limit`` utterances, newest first (undone ones left out unless asked).

        Every editor's, unless ``owner_only`` (and the store has an owner): then only its own.
        """
        conditions, params = [], []
        if not include_removed:
            conditions.append("removed = 0")
        if owner_only and self.owner is not None:
            conditions.append("owner = ?")
            params.append(self.owner)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM utterances {where} ORDER BY seq DESC LIMIT ?", (*params, max(0, limit))
        )
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
        """The newest utterance not undone, if any: the owner's, when the store has one."""
        items = self.list(1, owner_only=True)
        return items[0] if items else None

    def audio(self, utterance_id: str) -> np.ndarray | None:
        """The utterance's audio, 16 kHz mono float32; ``None`` if it was not kept."""
        rows = self._query("SELECT audio_file FROM utterances WHERE id = ?", (utterance_id,))
        if not rows:
            raise UtteranceNotFoundError(f"No utterance {utterance_id} in the history", id=utterance_id)
        name = rows[0][0]
        if not name or not _AUDIO_NAME.fullmatch(name):
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
    if all(_is_int_in(v, 0, _POSITION_MAX) for v in (sl, sc, el, ec)):  # a row from elsewhere may hold anything
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


def _storable(value: Any) -> Any:
    """A string SQLite can store (UTF-8): lone surrogates become U+FFFD, the rest is kept."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    return value


def _row(record: dict[str, Any], *, minimal: bool = False) -> tuple:
    """The INSERT parameters of an utterance record (from :meth:`HistoryStore.add` or the spool).

    ``minimal`` keeps only what cannot be refused: the words, where and when (for a spooled
    record whose range or timings SQLite would not take).
    """
    if minimal:
        record = {
            "id": record["id"] if isinstance(record.get("id"), str) and record["id"] else uuid.uuid4().hex,
            "created_at": str(record.get("created_at") or ""),
            "text": record["text"],
            "uri": record.get("uri") if isinstance(record.get("uri"), str) else None,
            "mode": str(record.get("mode") or "fast"),
            "model": str(record.get("model") or "unknown"),
            "audio_ms": 0.0,
            "decode_ms": 0.0,
            "total_ms": 0.0,
            "owner": record.get("owner") if isinstance(record.get("owner"), str) else None,
        }
    values = {key: record.get(key) for key in _RECORD_KEYS}
    for key in ("audio_ms", "decode_ms", "total_ms"):
        try:
            number = float(values[key] or 0.0)
        except (TypeError, ValueError, OverflowError):
            number = 0.0
        values[key] = number if math.isfinite(number) else 0.0
    position = ("start_line", "start_character", "end_line", "end_character")
    if not all(_is_int_in(values[key], 0, _POSITION_MAX) for key in position):
        for key in position:  # a range LSP cannot express is dropped, never the words
            values[key] = None
    if not _is_int_in(values["document_version"], -(2**63), 2**63 - 1):
        values["document_version"] = None
    return tuple(_storable(values[key]) for key in _RECORD_KEYS)


def _is_int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite already rolled back (e.g. after SQLITE_FULL)


def _tighten_file(path: Path) -> None:
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

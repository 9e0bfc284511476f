"""The history store: :class:`HistoryStore`, its connection, saving, rotation, updates and queries.

This module is long (about 570 lines) on purpose: saving (row first, FLAC after), rotation, updates
and queries all go through the one connection and its transaction rules.

The package docstring (:mod:`swictation_rpc.history`) states what the store promises; the
files, the spool and the damaged-database handling it relies on live in the sibling modules.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from lsprotocol.types import Range

from swictation_rpc.errors import HistoryWriteError, UtteranceNotFoundError
from swictation_rpc.history import spool
from swictation_rpc.history.database import (
    DB_NAME,
    Damaged,
    FileId,
    is_corruption,
    kept_audio_dir,
    move_aside,
    open_database,
    prepare_file,
    synchronous,
    transaction,
)
from swictation_rpc.history.files import (
    AUDIO_DIR,
    RAW_SUFFIX,
    encode_flac,
    make_private_dir,
    read_audio,
    sweep_orphans,
    unlink_audio,
    write_raw_audio,
)
from swictation_rpc.history.schema import (
    COLUMNS,
    INSERT_SQL,
    SCHEMA,
    HistoryEntry,
    encode_surroundings,
    entry_from_row,
    range_values,
    row_from_record,
)
from swictation_rpc.options import ConcreteMode, HistoryOptions
from swictation_rpc.protocol import HistoryItem, Timings

log = logging.getLogger(__name__)

#: SQLite cannot bind integers beyond 64 bits; a larger ``max_items`` means "keep everything".
_MAX_ITEMS_CAP = 2**62
#: The encoder thread's job for a commit with no audio to encode (it syncs the log after every job).
_SYNC_LOG = ""


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
        self._opened_ino: FileId | None = None
        self._in_memory = not self.options.enabled
        self._to_encode: queue.Queue[str] = queue.Queue()
        self._encoder: threading.Thread | None = None
        self._encoding = 0  # raw files queued or being encoded
        self._encoded = threading.Condition(self._lock)

    @property
    def db_path(self) -> Path:
        return self.directory / DB_NAME

    @property
    def audio_dir(self) -> Path:
        return self.directory / AUDIO_DIR

    @property
    def spool_path(self) -> Path:
        return self.directory / spool.SPOOL_NAME

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
            conn.executescript(SCHEMA)
            self._conn = conn
            return conn
        if not create and not self.db_path.exists():
            return None
        try:
            try:
                conn = self._open_db(create=create)
            except Damaged as damaged:
                conn = self._recover(str(damaged))
        except (OSError, sqlite3.Error) as exc:
            raise self._write_error("The history could not be opened", exc) from exc
        self._conn = conn
        self._replay_spool()
        sweep_orphans(conn, self.audio_dir)
        # Raw audio a killed server saved but did not encode yet: encode it now.
        for (name,) in conn.execute(
            "SELECT audio_file FROM utterances WHERE audio_file LIKE ?", (f"%{RAW_SUFFIX}",)
        ).fetchall():
            self._encode_later(name)
        return conn

    def _open_db(self, *, create: bool) -> sqlite3.Connection:
        self._opened_ino = prepare_file(self.directory, create=create)
        return open_database(self.directory)

    def _recover(self, reason: str) -> sqlite3.Connection:
        """Move the damaged database aside (kept, with its -wal), start a fresh one, say so once."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        # Another server may have recovered already: then the file there now is its fresh one.
        kept = move_aside(self.directory, self._opened_ino)
        try:
            conn = self._open_db(create=True)
        except Damaged as exc:
            raise sqlite3.DatabaseError(f"the new history database is damaged too: {exc}") from None
        if kept is not None:
            self.recovered_from = kept
            message = (
                f"The history database was damaged ({reason}). It was kept as {kept}, with its audio "
                f"in {kept_audio_dir(kept)}, and a new history started: utterances saved before are "
                "in the kept file."
            )
            told = False
            if self.notify is not None:
                try:
                    self.notify(message)
                    told = True
                except Exception:  # telling the user must not break saving
                    log.exception("Reporting the history recovery failed")
            # Once on stderr: when notify told the user, the log (file) gets it at INFO only.
            log.log(logging.INFO if told else logging.WARNING, "%s", message)
        return conn

    def _replay_spool(self) -> None:
        """Move spooled utterances into the database (never raises; see :mod:`.spool`)."""
        if self._conn is not None and not self._in_memory:
            spool.replay(self._conn, self.directory, self._insert)

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

    def close(self, encode_timeout_s: float = 0.5) -> None:
        """Close the database, after up to ``encode_timeout_s`` for FLACs in progress; raw audio
        still waiting then stays WAV (readable) and is encoded at the next open."""
        self.wait_encoded(encode_timeout_s)
        with self._lock:
            while not self._to_encode.empty():
                try:
                    self._to_encode.get_nowait()
                    self._encoding -= 1
                except queue.Empty:
                    break
            self._encoded.notify_all()
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
        surroundings: tuple[str, str] | None = None,
    ) -> str:
        """Save an utterance; returns its id once it is durably committed.

        ``surroundings`` is the text just before and after where it goes (see
        :attr:`~swictation_rpc.history.schema.HistoryEntry.surroundings`).

        ``audio`` is 16 kHz mono (float32 in [-1, 1] or int16); it is kept only if
        ``keep_audio``. Any failure (disk full, read-only folder, a value SQLite refuses, a bug)
        raises :class:`HistoryWriteError`, with no audio file left behind and the utterance kept
        in the spool (see the package's docstring) when the spool can be written.
        """
        utterance_id = uuid.uuid4().hex
        created_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        record: dict[str, Any] = {"id": utterance_id, "created_at": created_at, "text": text, "uri": uri}
        with self._lock:
            guard: int | None = None
            audio_file: str | None = None
            try:
                start_line, start_character, end_line, end_character = range_values(range)
                record.update(
                    start_line=start_line,
                    start_character=start_character,
                    end_line=end_line,
                    end_character=end_character,
                    document_version=document_version,
                    mode=mode,
                    model=model,
                    audio_ms=float(timings.audio_ms),
                    decode_ms=float(timings.decode_ms),
                    total_ms=float(timings.total_ms),
                    audio_file=None,
                    owner=self.owner,
                    surroundings=encode_surroundings(surroundings),
                    writer_pid=os.getpid(),
                )
                conn = self._connect(create=True)
                if conn is None:  # create=True connects or raises; this keeps type checkers calm
                    raise HistoryWriteError("The history could not be opened")
                if audio is not None and self.options.keep_audio and not self._in_memory:
                    # Raw PCM now (cheap); the FLAC is encoded after the edit has left.
                    audio_file = f"{utterance_id}{RAW_SUFFIX}"
                    guard = write_raw_audio(self.audio_dir, audio_file, audio, history_dir=self.directory)
                    record["audio_file"] = audio_file
                # No fsync before the edit leaves: in WAL mode a NORMAL commit is written to the
                # log before it returns, so it survives the process being killed; the encoder
                # thread makes it durable against a power cut right after (``_durable_later``).
                with synchronous(conn, "NORMAL"):
                    rotated = self._commit(conn, row_from_record(record), audio_file)
            except Exception as exc:  # noqa: BLE001 - any failure: the words go to the spool
                if audio_file:
                    unlink_audio(self.audio_dir, audio_file)
                if isinstance(exc, HistoryWriteError) and exc.data.get("stage") == "audio":
                    message = "The utterance's audio could not be saved"
                    cause: BaseException = exc.__cause__ or exc
                elif isinstance(exc, HistoryWriteError):
                    message, cause = "The history could not be opened", exc.__cause__ or exc
                else:
                    message, cause = "The utterance could not be saved", exc
                record["audio_file"] = None
                spooled = spool.append(self.directory, record) if not self._in_memory else None
                raise self._write_error(message, cause, spooled=spooled) from cause
            finally:
                if guard is not None:
                    os.close(guard)  # committed (or removed): a sweep may look at it now
            for name in rotated:
                unlink_audio(self.audio_dir, name)
            if os.path.lexists(self.spool_path):
                self._replay_spool()
            if not self._in_memory:
                self._durable_later(audio_file)
        return utterance_id

    # -- the FLAC, off the request path ----------------------------------------------------

    def _durable_later(self, raw_name: str | None) -> None:
        """After a commit that was not synced: encode its audio, then sync the log, on the encoder
        thread (with no audio, only the sync)."""
        self._encode_later(raw_name or _SYNC_LOG)

    def _encode_later(self, raw_name: str) -> None:
        """Queue ``audio/<raw_name>`` for FLAC encoding on the store's encoder thread."""
        with self._lock:
            self._encoding += 1
            self._to_encode.put(raw_name)
            if self._encoder is None or not self._encoder.is_alive():
                self._encoder = threading.Thread(target=self._encode_loop, name="history-flac", daemon=True)
                self._encoder.start()

    def _encode_loop(self) -> None:
        while True:
            try:
                raw_name = self._to_encode.get(timeout=5.0)
            except queue.Empty:
                with self._lock:
                    if self._to_encode.empty():
                        self._encoder = None
                        return
                continue
            try:
                if raw_name != _SYNC_LOG:
                    self._encode_one(raw_name)
            except Exception:  # the raw file stays, readable, and is encoded again at the next open
                log.exception("Encoding %s as FLAC failed", raw_name)
            try:
                if self._to_encode.empty():
                    # Whatever the jobs did (an encode that failed commits nothing), every commit
                    # ``add`` made without a sync is synced once the queue is done.
                    self._sync_log()
            except OSError as exc:
                log.warning("Syncing the history's log failed: %s", exc)
            finally:
                with self._lock:
                    self._encoding -= 1
                    self._encoded.notify_all()

    def _sync_log(self) -> None:
        """fsync the write-ahead log (the commits ``add`` made without a sync)."""
        with self._lock:
            if self._conn is None:
                return
            wal = self.db_path.with_name(self.db_path.name + "-wal")
            try:
                fd = os.open(wal, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except FileNotFoundError:
                return  # checkpointed and removed: the database file itself was synced
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _encode_one(self, raw_name: str) -> None:
        """Encode, point the utterance at the FLAC, then remove the raw file (each step crash-safe)."""
        encoded = encode_flac(self.audio_dir, raw_name, history_dir=self.directory)
        if encoded is None:
            return
        flac, guard = encoded
        try:
            with self._lock:
                conn = self._conn
                if conn is None:
                    return  # closed: both files stay; the next open sweeps the unreferenced one
                with transaction(conn):
                    changed = conn.execute(
                        "UPDATE utterances SET audio_file = ? WHERE audio_file = ?", (flac, raw_name)
                    ).rowcount
                if changed:
                    unlink_audio(self.audio_dir, raw_name)
                elif not conn.execute("SELECT 1 FROM utterances WHERE audio_file = ?", (flac,)).fetchone():
                    unlink_audio(self.audio_dir, flac)  # the utterance went meanwhile (rotated out)
                # else another server encoded it first and its row points at this FLAC: keep it
        finally:
            os.close(guard)

    def wait_encoded(self, timeout_s: float | None = None) -> bool:
        """Wait until every raw file queued so far is FLAC; False on timeout (tests, shutdown)."""
        with self._encoded:
            return self._encoded.wait_for(lambda: self._encoding == 0, timeout_s)

    def _commit(self, conn: sqlite3.Connection, row: tuple, audio_file: str | None = None) -> list[str]:
        """Insert ``row`` and rotate, in one transaction; a damaged database is recovered once.

        The recovery moves ``audio/`` aside with the damaged database: ``audio_file`` (this row's,
        written just before) is brought back into a fresh ``audio/`` for the new database.
        """
        for attempt in (1, 2):
            try:
                with transaction(conn):
                    self._insert(conn, row)
                    return self._rotate(conn)
            except sqlite3.DatabaseError as exc:
                if attempt == 2 or self._in_memory or not is_corruption(exc):
                    raise
                conn = self._recover(str(exc))
                self._conn = conn
                if audio_file and self.recovered_from is not None:
                    self._bring_back(audio_file, kept_audio_dir(self.recovered_from))
        raise AssertionError("unreachable")

    def _bring_back(self, name: str, kept_audio: Path) -> None:
        try:
            make_private_dir(self.audio_dir, history_dir=self.directory)
            os.rename(kept_audio / name, self.audio_dir / name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("The audio of the utterance being saved stays in %s: %s", kept_audio, exc)

    def _insert(self, conn: sqlite3.Connection, row: tuple) -> None:
        conn.execute(INSERT_SQL, row)

    def _rotate(self, conn: sqlite3.Connection) -> list[str]:
        """Delete the owner's utterances beyond ``max_items``, oldest first; returns their audio files.

        Without an owner, every utterance counts (one shared history).
        """
        keep = min(int(self.options.max_items), _MAX_ITEMS_CAP)
        params: tuple[str, ...]
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
        t = timings
        self._update(
            utterance_id,
            "text = ?, start_line = ?, start_character = ?, end_line = ?, end_character = ?, "
            "document_version = COALESCE(?, document_version), mode = COALESCE(?, mode), "
            "model = COALESCE(?, model), audio_ms = COALESCE(?, audio_ms), decode_ms = COALESCE(?, decode_ms), "
            "total_ms = COALESCE(?, total_ms)",
            (
                text,
                *range_values(range),
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
        self._update(
            utterance_id,
            "start_line = ?, start_character = ?, end_line = ?, end_character = ?, "
            "document_version = COALESCE(?, document_version)",
            (*range_values(range), document_version),
        )

    def update_ranges(self, rows: list[tuple[str, Range | None, int | None, tuple[str, str] | None]]) -> int:
        """Save several moved ranges ``(id, range, document_version, surroundings)`` in one transaction.

        Ids no longer in the history (rotated out) are skipped; returns how many rows changed.
        """
        if not rows:
            return 0
        values = [
            (*range_values(r), version, encode_surroundings(around), utterance_id)
            for utterance_id, r, version, around in rows
        ]
        with self._lock:
            conn = self._connect(create=False)
            if conn is None:
                return 0
            try:
                with transaction(conn):
                    cur = conn.executemany(
                        "UPDATE utterances SET start_line = ?, start_character = ?, end_line = ?, end_character = ?, "
                        "document_version = COALESCE(?, document_version), surroundings = ? WHERE id = ?",
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
                with transaction(conn):
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
                    if self._in_memory or not is_corruption(exc):
                        raise
                    self._conn = self._recover(str(exc))
                    return self._conn.execute(sql, params).fetchall()
            except (OSError, sqlite3.Error) as exc:
                raise self._write_error("The history could not be read", exc) from exc

    def list(
        self,
        limit: int = 20,
        *,
        include_removed: bool = False,
        owner_only: bool = False,
        not_running_others: bool = False,
    ) -> list[HistoryItem]:
        """The newest ``limit`` utterances, newest first (undone ones left out unless asked).

        Every editor's, unless ``owner_only`` (and the store has an owner): then only its own.
        ``not_running_others`` also leaves out those another server that is still running saved:
        two editors of one kind on one workspace share an owner, and "undo last" in one must not
        reach into the other (after a restart the old server is gone and its utterances count).
        """
        conditions: list[str] = []
        params: list[Any] = []
        if not include_removed:
            conditions.append("removed = 0")
        if owner_only and self.owner is not None:
            conditions.append("owner = ?")
            params.append(self.owner)
        if not_running_others:
            others = self._running_other_writers()
            if others:
                conditions.append(f"(writer_pid IS NULL OR writer_pid NOT IN ({', '.join('?' * len(others))}))")
                params.extend(others)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self._query(
            f"SELECT {COLUMNS} FROM utterances {where} ORDER BY seq DESC LIMIT ?", (*params, max(0, limit))
        )
        return [entry_from_row(row).item for row in rows]

    def _running_other_writers(self) -> tuple[int, ...]:
        """Pids of other swictation servers, still running, that saved utterances here."""
        rows = self._query(
            "SELECT DISTINCT writer_pid FROM utterances WHERE writer_pid IS NOT NULL AND writer_pid != ?",
            (os.getpid(),),
        )
        return tuple(pid for (pid,) in rows if isinstance(pid, int) and _is_swictation_server(pid))

    def entry(self, utterance_id: str) -> HistoryEntry:
        """The utterance with server-side details; :class:`UtteranceNotFoundError` if unknown."""
        rows = self._query(f"SELECT {COLUMNS} FROM utterances WHERE id = ?", (utterance_id,))
        if not rows:
            raise UtteranceNotFoundError(f"No utterance {utterance_id} in the history", id=utterance_id)
        return entry_from_row(rows[0])

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
        return read_audio(self.audio_dir, rows[0][0], utterance_id)

    def __len__(self) -> int:
        rows = self._query("SELECT COUNT(*) FROM utterances WHERE removed = 0", ())
        return rows[0][0] if rows else 0


def _is_swictation_server(pid: int) -> bool:
    """Whether ``pid`` is a running swictation-rpc process (a reused pid is some other program)."""
    import psutil

    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return False
    return "swictation" in cmdline

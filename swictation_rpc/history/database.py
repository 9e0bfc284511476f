"""The history's SQLite file: opening it (checks, schema, migration), transactions, damage.

A database that fails ``quick_check`` or reports corruption is :class:`Damaged`;
:func:`move_aside` renames it (with its ``-wal``/``-shm``) to ``history.sqlite3.damaged-<UTC
time>`` and its ``audio/`` to ``audio.damaged-<same time>``, kept and never deleted, unless
another server already did.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from swictation_rpc import paths
from swictation_rpc.history.files import AUDIO_DIR, fsync_dir, make_private_dir, tighten_file
from swictation_rpc.history.schema import SCHEMA, SCHEMA_VERSION

DB_NAME = "history.sqlite3"
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

#: ``(st_dev, st_ino)`` of the database file as it was opened (``lstat``), to tell it from a newer one.
FileId = tuple[int, int]


class Damaged(Exception):
    """The database file is not a sound SQLite database."""


def prepare_file(directory: Path, *, create: bool) -> FileId | None:
    """Make the folder and the database file (private) when ``create``; the file's id as it is now.

    The id is taken before the file is opened, so a file found damaged is still known to
    :func:`move_aside` as the one this store opened.
    """
    db_path = directory / DB_NAME
    if create:
        make_private_dir(directory, history_dir=directory)
        _create_db_file(db_path)
    try:
        info = os.lstat(db_path)  # as move_aside compares it: a symlinked file is renamed, not its target
        return (info.st_dev, info.st_ino)
    except OSError:
        return None


def open_database(directory: Path) -> sqlite3.Connection:
    """Open ``directory/history.sqlite3`` (WAL, ``synchronous=FULL``), checked and migrated.

    Raises :class:`Damaged` for a database that is not sound, ``OSError``/``sqlite3.Error`` for
    anything else.
    """
    db_path = directory / DB_NAME
    conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None, timeout=10)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise Damaged("; ".join(str(p) for p in problems))
        conn.executescript(SCHEMA)
        _migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if is_corruption(exc):
            raise Damaged(str(exc)) from exc
        raise
    except BaseException:
        conn.close()
        raise
    for suffix in ("-wal", "-shm"):
        tighten_file(Path(str(db_path) + suffix))
    return conn


def _create_db_file(db_path: Path) -> None:
    """Create the database file ourselves, 0600 (SQLite gives -wal/-shm the same mode).

    A ``history.sqlite3`` that is a symlink is the user's arrangement: SQLite follows it, and
    its target keeps its mode. Anything but a regular file (a FIFO) is refused.
    """
    try:
        os.close(paths.open_private_fd(db_path, os.O_RDWR | os.O_CREAT))
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise


#: Columns later versions added, in order: version 2 ``owner`` (every old utterance belongs to
#: nobody in particular), version 3 ``surroundings`` and ``writer_pid`` (unknown for old ones).
_ADDED_COLUMNS = (("owner", "TEXT"), ("surroundings", "TEXT"), ("writer_pid", "INTEGER"))


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns an older history lacks (old rows get NULL)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(utterances)")}
    if any(name not in columns for name, _ in _ADDED_COLUMNS):
        conn.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(utterances)")}
            for name, kind in _ADDED_COLUMNS:
                if name not in columns:  # another server may have added it meanwhile
                    conn.execute(f"ALTER TABLE utterances ADD COLUMN {name} {kind}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    conn.execute("CREATE INDEX IF NOT EXISTS utterances_owner ON utterances (owner, removed, seq)")
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def move_aside(directory: Path, opened: FileId | None) -> Path | None:
    """Rename the damaged database (and its -wal, -shm) aside; returns where it was kept.

    Only the file this store opened (``opened``): when another server recovered already, the
    file there now is its fresh one, and nothing is moved (``None``).
    """
    db_path = directory / DB_NAME
    try:
        info = os.lstat(db_path)
        current = (info.st_dev, info.st_ino)
    except FileNotFoundError:
        current = None
    if current is None or current != opened:
        return None
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = directory / f"{DB_NAME}.damaged-{stamp}"
    n = 1
    while os.path.lexists(kept) or os.path.lexists(kept_audio_dir(kept)):
        kept = directory / f"{DB_NAME}.damaged-{stamp}-{n}"
        n += 1
    os.rename(db_path, kept)
    for suffix in ("-wal", "-shm"):
        try:
            os.rename(str(db_path) + suffix, str(kept) + suffix)
        except FileNotFoundError:
            pass
    # The kept database's audio goes with it: the fresh database refers to none of it, so left in
    # audio/ it would be swept as orphans. A symlinked audio/ is renamed as the link (its target
    # and files untouched); a new audio/ is made on the next save.
    kept_audio = kept_audio_dir(kept)
    try:
        os.rename(directory / AUDIO_DIR, kept_audio)
    except FileNotFoundError:
        pass
    fsync_dir(directory)
    return kept


def kept_audio_dir(kept: Path) -> Path:
    """Where the audio of the database kept as ``kept`` was moved: ``audio.damaged-<same time>``."""
    return kept.parent / (AUDIO_DIR + kept.name[len(DB_NAME) :])


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        rollback(conn)
        raise
    else:
        conn.execute("COMMIT")


@contextmanager
def synchronous(conn: sqlite3.Connection, level: str) -> Iterator[sqlite3.Connection]:
    """Commits inside the block at ``PRAGMA synchronous=level``; the connection's ``FULL`` after."""
    conn.execute(f"PRAGMA synchronous={level}")
    try:
        yield conn
    finally:
        try:
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error:
            pass  # closed: a damaged database was moved aside (the new connection opened FULL)


def is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # SQLite already rolled back (e.g. after SQLITE_FULL)

"""The spool: utterances that could not be saved, kept until the database takes them.

``spool.jsonl`` (private, append-only, one JSON record a line) receives an utterance whenever
saving it failed; :func:`replay` moves its records into the database (once each, the words kept
even when SQLite refuses the rest) and removes it, keeping unreadable lines aside. Both hold the
spool's ``flock``, so servers sharing a data folder never replay a line twice or lose one.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swictation_rpc import paths
from swictation_rpc.history.database import transaction
from swictation_rpc.history.files import fsync_dir, make_private_dir
from swictation_rpc.history.schema import row_from_record, storable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]  # the module is absent there; every use checks for None

log = logging.getLogger(__name__)

#: Utterances that could not be saved, one JSON object a line, replayed into the database later.
SPOOL_NAME = "spool.jsonl"


def append(directory: Path, record: dict[str, Any]) -> bool:
    """Append ``record`` to ``directory``'s spool; whether it is durably there (never raises)."""
    spool_path = directory / SPOOL_NAME
    line = (json.dumps(record, ensure_ascii=True, default=str) + "\n").encode("ascii")
    try:
        make_private_dir(directory, history_dir=directory)
        for _ in range(5):
            fd = paths.open_private_fd(spool_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
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
                fsync_dir(directory)
                log.warning("Utterance %s kept in the spool %s", record.get("id"), spool_path)
                return True
            finally:
                os.close(fd)
    except Exception as exc:  # noqa: BLE001 - reported by the caller's HistoryWriteError
        log.error("Could not keep the utterance in the spool %s: %s", spool_path, exc)
    return False


def replay(conn: sqlite3.Connection, directory: Path, insert: Callable[[sqlite3.Connection, tuple], None]) -> None:
    """Move spooled utterances into the database with ``insert``, then remove the spool (never raises)."""
    spool_path = directory / SPOOL_NAME
    if not os.path.lexists(spool_path):
        return
    try:
        fd = paths.open_private_fd(spool_path, os.O_RDWR)
    except OSError as exc:
        log.warning("Cannot read the spool %s: %s", spool_path, exc)
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
        with transaction(conn):
            for record in records:
                # Not INSERT OR IGNORE: that would also skip a row SQLite refuses, silently.
                if (
                    record.get("id")
                    and conn.execute("SELECT 1 FROM utterances WHERE id = ?", (storable(str(record["id"])),)).fetchone()
                ):
                    continue  # replayed before (killed between the commit and the unlink)
                try:
                    insert(conn, row_from_record(record))
                except (sqlite3.InterfaceError, sqlite3.IntegrityError, OverflowError, ValueError, TypeError):
                    insert(conn, row_from_record(record, minimal=True))  # the words, without what was refused
        if bad:
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            kept = directory / f"{SPOOL_NAME}.unreadable-{stamp}"
            os.rename(spool_path, kept)
            log.warning("%d unreadable spool lines kept in %s", len(bad), kept)
        else:
            os.unlink(spool_path)
        fsync_dir(directory)
        log.info("Replayed %d spooled utterances into the history", len(records))
    except (OSError, sqlite3.Error) as exc:
        log.warning("Could not replay the spool %s (kept for later): %s", spool_path, exc)
    finally:
        os.close(fd)

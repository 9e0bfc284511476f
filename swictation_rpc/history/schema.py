"""The history's table, and utterance records turned into rows and rows into :class:`HistoryEntry`.

A record is a plain dict (from :meth:`~swictation_rpc.history.store.HistoryStore.add` or a
spooled line); its conversion never drops the words: a range LSP cannot express, a timing that is
not a finite number or a string SQLite cannot store is replaced, the text is kept.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from attrs import define
from lsprotocol.types import Position, Range

from swictation_rpc.protocol import HistoryItem, Timings

SCHEMA_VERSION = 3
#: LSP positions are uintegers (0 .. 2^31 - 1).
POSITION_MAX = 2**31 - 1

SCHEMA = """
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
    owner TEXT,
    surroundings TEXT,
    writer_pid INTEGER
);
CREATE INDEX IF NOT EXISTS utterances_live ON utterances (removed, seq);
"""

#: What :func:`entry_from_row` reads, in its order.
COLUMNS = (
    "id, created_at, text, uri, start_line, start_character, end_line, end_character, "
    "document_version, mode, model, audio_ms, decode_ms, total_ms, audio_file, removed, surroundings, writer_pid"
)
INSERT_COLUMNS = (
    "id, created_at, text, uri, start_line, start_character, end_line, end_character, "
    "document_version, mode, model, audio_ms, decode_ms, total_ms, audio_file, owner, surroundings, writer_pid"
)
RECORD_KEYS = tuple(name.strip() for name in INSERT_COLUMNS.split(","))
INSERT_SQL = f"INSERT INTO utterances ({INSERT_COLUMNS}) VALUES ({', '.join('?' * len(RECORD_KEYS))})"


@define
class HistoryEntry:
    """A history item with what only the server needs (undo, refine, retranscribe)."""

    item: HistoryItem
    document_version: int | None
    removed: bool
    has_audio: bool
    surroundings: tuple[str, str] | None = None
    """The text just before and just after the utterance when its range was last saved: after a
    restart the saved range is trusted only where both still read the same."""
    writer_pid: int | None = None
    """The server process that saved it (undo last skips a running other server's utterances)."""


def entry_from_row(row: tuple) -> HistoryEntry:
    """A row of :data:`COLUMNS` as a :class:`HistoryEntry`."""
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
        surroundings,
        writer_pid,
    ) = row
    rng = None
    if all(is_int_in(v, 0, POSITION_MAX) for v in (sl, sc, el, ec)):  # a row from elsewhere may hold anything
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
    return HistoryEntry(
        item,
        version,
        bool(removed),
        audio_file is not None,
        decode_surroundings(surroundings),
        writer_pid if is_int_in(writer_pid, 1, 2**31 - 1) else None,
    )


def encode_surroundings(value: tuple[str, str] | None) -> str | None:
    return None if value is None else json.dumps(list(value))


def decode_surroundings(value: Any) -> tuple[str, str] | None:
    """What :func:`encode_surroundings` wrote; ``None`` for anything else (old rows, damage)."""
    if not isinstance(value, str):
        return None
    try:
        pair = json.loads(value)
    except ValueError:
        return None
    if isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair):
        return (pair[0], pair[1])
    return None


def storable(value: Any) -> Any:
    """A string SQLite can store (UTF-8): lone surrogates become U+FFFD, the rest is kept."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    return value


def row_from_record(record: dict[str, Any], *, minimal: bool = False) -> tuple:
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
    values = {key: record.get(key) for key in RECORD_KEYS}
    for key in ("audio_ms", "decode_ms", "total_ms"):
        try:
            number = float(values[key] or 0.0)
        except (TypeError, ValueError, OverflowError):
            number = 0.0
        values[key] = number if math.isfinite(number) else 0.0
    position = ("start_line", "start_character", "end_line", "end_character")
    if not all(is_int_in(values[key], 0, POSITION_MAX) for key in position):
        for key in position:  # a range LSP cannot express is dropped, never the words
            values[key] = None
    if not is_int_in(values["document_version"], -(2**63), 2**63 - 1):
        values["document_version"] = None
    if not isinstance(values["surroundings"], str):
        values["surroundings"] = None
    if not is_int_in(values["writer_pid"], 1, 2**31 - 1):
        values["writer_pid"] = None
    return tuple(storable(values[key]) for key in RECORD_KEYS)


def range_values(r: Range | None) -> tuple[int | None, int | None, int | None, int | None]:
    """``start_line, start_character, end_line, end_character`` of ``r`` (all ``None`` without one)."""
    if r is None:
        return (None, None, None, None)
    return (r.start.line, r.start.character, r.end.line, r.end.character)


def is_int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

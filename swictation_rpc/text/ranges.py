"""LSP positions and ranges for tracked utterances: where inserted text ends, how edits move it.

Positions count UTF-16 code units (LSP's default ``positionEncoding``): a character outside the
Basic Multilingual Plane (most emoji, some CJK) counts 2. Line breaks are ``\\n``, ``\\r\\n`` and
``\\r``, as LSP defines them.
"""

from __future__ import annotations

import re

from lsprotocol.types import Position, Range

_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def end_position(start: Position, text: str) -> Position:
    """Where ``text`` ends once inserted at ``start``."""
    lines = _LINE_BREAK_RE.split(text)
    if len(lines) == 1:
        return Position(line=start.line, character=start.character + utf16_len(text))
    return Position(line=start.line + len(lines) - 1, character=utf16_len(lines[-1]))


def inserted_range(start: Position, text: str) -> Range:
    """The range ``text`` occupies once inserted at ``start``."""
    return Range(start=start, end=end_position(start, text))


def _key(p: Position) -> tuple[int, int]:
    return (p.line, p.character)


def _shift(p: Position, edit: Range, new_end: Position) -> Position:
    """``p`` (at or after ``edit.end``) after ``edit`` was replaced by text ending at ``new_end``."""
    if p.line == edit.end.line:
        return Position(line=new_end.line, character=new_end.character + p.character - edit.end.character)
    return Position(line=p.line + new_end.line - edit.end.line, character=p.character)


def shift_range_after_edit(tracked: Range, edit: Range, new_text: str) -> Range | None:
    """``tracked`` after the document had ``edit`` replaced by ``new_text``; ``None`` if edited inside.

    An edit wholly before ``tracked`` (ending at or before its start) moves it; one wholly after
    (starting at or after its end) leaves it; anything else touched the utterance's own text, and
    the caller should stop trusting the range (two-pass refine must not overwrite the user's edit).
    An insertion exactly at the start counts as before, exactly at the end as after.
    """
    if _key(edit.start) >= _key(tracked.end) and not (
        _key(edit.start) == _key(tracked.start) and _key(edit.end) == _key(tracked.start)
    ):
        return tracked
    if _key(edit.end) <= _key(tracked.start):
        new_end = end_position(edit.start, new_text)
        return Range(start=_shift(tracked.start, edit, new_end), end=_shift(tracked.end, edit, new_end))
    return None


def offset_at(text: str, position: Position) -> int:
    """Index into ``text`` (a Python ``str`` index) of an LSP position; clamped to the line."""
    line_starts = [0] + [m.end() for m in _LINE_BREAK_RE.finditer(text)]
    if position.line >= len(line_starts):
        return len(text)
    start = line_starts[position.line]
    end = line_starts[position.line + 1] if position.line + 1 < len(line_starts) else len(text)
    line = _LINE_BREAK_RE.sub("", text[start:end])
    units = 0
    for i, c in enumerate(line):
        if units >= position.character:
            return start + i
        units += 2 if ord(c) > 0xFFFF else 1
    return start + len(line)


def position_at(text: str, offset: int) -> Position:
    """LSP position of index ``offset`` into ``text``."""
    return end_position(Position(line=0, character=0), text[:offset])


def apply_edit(text: str, edit: Range, new_text: str) -> str:
    """``text`` with ``edit`` replaced by ``new_text``: what an editor does, for tests and tools."""
    return text[: offset_at(text, edit.start)] + new_text + text[offset_at(text, edit.end) :]


def text_in_range(text: str, rng: Range) -> str:
    return text[offset_at(text, rng.start) : offset_at(text, rng.end)]

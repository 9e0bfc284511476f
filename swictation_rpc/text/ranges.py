"""LSP positions and ranges for tracked utterances: where inserted text ends, how edits move it.

Positions count UTF-16 code units by default (LSP's default ``positionEncoding``): a character
outside the Basic Multilingual Plane (most emoji, some CJK) counts 2. Functions that measure text
take ``encoding`` for clients that negotiated another one (Neovim asks for ``utf-8``: bytes;
``utf-32``: code points). Line breaks are ``\\n``, ``\\r\\n`` and ``\\r``, as LSP defines them.
"""

from __future__ import annotations

import re
from typing import Literal

from lsprotocol.types import Position, Range

#: LSP ``PositionEncodingKind`` values.
Encoding = Literal["utf-16", "utf-8", "utf-32"]

_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def units(text: str, encoding: str = "utf-16") -> int:
    """Length of ``text`` in the code units of a position ``encoding``."""
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len(text)
    return utf16_len(text)


def char_units(c: str, encoding: str = "utf-16") -> int:
    """Code units of one character."""
    code = ord(c)
    if encoding == "utf-8":
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    if encoding == "utf-32":
        return 1
    return 2 if code > 0xFFFF else 1


def end_position(start: Position, text: str, encoding: str = "utf-16") -> Position:
    """Where ``text`` ends once inserted at ``start``."""
    lines = _LINE_BREAK_RE.split(text)
    if len(lines) == 1:
        return Position(line=start.line, character=start.character + units(text, encoding))
    return Position(line=start.line + len(lines) - 1, character=units(lines[-1], encoding))


def inserted_range(start: Position, text: str, encoding: str = "utf-16") -> Range:
    """The range ``text`` occupies once inserted at ``start``."""
    return Range(start=start, end=end_position(start, text, encoding))


def _key(p: Position) -> tuple[int, int]:
    return (p.line, p.character)


def _shift(p: Position, edit: Range, new_end: Position) -> Position:
    """``p`` (at or after ``edit.end``) after ``edit`` was replaced by text ending at ``new_end``."""
    if p.line == edit.end.line:
        return Position(line=new_end.line, character=new_end.character + p.character - edit.end.character)
    return Position(line=p.line + new_end.line - edit.end.line, character=p.character)


def shift_range_after_edit(tracked: Range, edit: Range, new_text: str, encoding: str = "utf-16") -> Range | None:
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
        new_end = end_position(edit.start, new_text, encoding)
        return Range(start=_shift(tracked.start, edit, new_end), end=_shift(tracked.end, edit, new_end))
    return None


def follow_edit(tracked: Range, edit: Range, new_text: str, encoding: str = "utf-16") -> tuple[Range | None, bool]:
    """Where ``tracked`` is after ``edit`` was replaced by ``new_text``, and whether it was touched.

    Edits before or after move it exactly as :func:`shift_range_after_edit` does (``touched`` is
    false). An edit inside it keeps following it: the range grows or shrinks to hold the edited
    text (``touched`` is true, so refine leaves it alone but undo still removes it). An edit across
    one of its boundaries counts as outside: what it replaced leaves the range and its new text
    stays out. ``None`` when nothing of the tracked text is left. A zero-width ``tracked`` (a point
    where text is about to be inserted) swallowed by an edit moves to the edit's start.
    """
    shifted = shift_range_after_edit(tracked, edit, new_text, encoding)
    if shifted is not None:
        return shifted, False
    new_end = end_position(edit.start, new_text, encoding)
    start, end = tracked.start, tracked.end
    if _key(start) == _key(end):
        return Range(start=edit.start, end=edit.start), True
    if _key(start) > _key(edit.start):  # the edit began before it: its new text stays outside
        start = new_end if _key(start) < _key(edit.end) else _shift(start, edit, new_end)
    if _key(end) >= _key(edit.end):
        end = _shift(end, edit, new_end)
    else:  # the edit ran past its end: the range stops where the edit began
        end = edit.start
    if _key(start) >= _key(end):
        return None, True
    return Range(start=start, end=end), True


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

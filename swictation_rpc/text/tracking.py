"""Utterances as tracked ranges: where each dictated text is now, in the documents the editor syncs.

This module is long (about 620 lines) on purpose: following ranges through incremental changes, the
expected/live states and the kept document texts are one state machine, tested (property tests
included) as one.

The server inserts an utterance by answering with an edit; the editor applies it and, when it
syncs the document (``textDocument/didOpen``/``didChange``, incremental), tells us about that
insertion and every later change. :class:`UtteranceTracker` follows each utterance's range
through those changes, so ``undoUtterance`` deletes exactly its current text and two-pass refine
replaces it only while the user has not edited inside it.

The states of an utterance:

- **expected**: the server sent an edit (insertion, refinement, retranscription) that the editor
  has not applied yet: ``expect`` holds the text it will put at ``range``. The change that applies
  it is recognised exactly (same range, same text) or, when the editor describes it as a smaller
  diff (Neovim trims the common prefix and suffix of old and new text), by the document text at
  the range afterwards. Changes elsewhere meanwhile move ``range`` like any other.
- **live**: ``range`` holds ``text``. An edit inside it (see
  :func:`~swictation_rpc.text.ranges.follow_edit`) sets ``edited``; deleting all of it sets ``gone``.

In documents the editor does not sync, every edit the server sends is assumed applied at once.

The tracker keeps each open document's text (bounded in size), so it can tell an edit that really
changed an utterance from one that merely touched its boundary. Everything here runs on the
server's event loop: no locks. Bounded: at most :data:`MAX_PER_DOCUMENT` utterances in each of
:data:`MAX_DOCUMENTS` documents, the text of at most :data:`MAX_OPEN_TEXTS` open documents, none
over :data:`MAX_TEXT_CHARS` characters.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from attrs import define
from lsprotocol.types import Position, Range

from swictation_rpc.protocol import TextContext
from swictation_rpc.text.ranges import _key, char_units, end_position, follow_edit, inserted_range, units

#: Documents whose utterances are followed; the least recently dictated into is dropped first.
MAX_DOCUMENTS = 64
#: Utterances followed per document; older ones fall back to the range saved in the history.
MAX_PER_DOCUMENT = 32
#: Open documents whose text is kept (to check what an edit did to an utterance).
MAX_OPEN_TEXTS = 256
#: Larger documents are followed by range arithmetic alone.
MAX_TEXT_CHARS = 4_000_000
#: Texts kept in all (beyond it, the least recently opened lose theirs: range arithmetic alone).
MAX_TOTAL_CHARS = 16_000_000

#: How much of the text after an expected edit identifies it when the text was already there.
_ALREADY_CHARS = 8

_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")

#: One content change of ``didChange``: a range (``None`` for the whole document) and its new text.
Change = tuple["Range | None", str]


def _split_lines(text: str) -> list[str]:
    """Lines with their line breaks; the last one has none (and may be empty)."""
    lines: list[str] = []
    pos = 0
    for match in _LINE_BREAK_RE.finditer(text):
        lines.append(text[pos : match.end()])
        pos = match.end()
    lines.append(text[pos:])
    return lines


def _content(line: str) -> str:
    return line.rstrip("\r\n")


def _index(content: str, character: int, encoding: str) -> int:
    """Python index into one line's content of a ``character`` offset in ``encoding`` (clamped)."""
    if character <= 0:
        return 0
    if encoding == "utf-32" or content.isascii():
        return min(character, len(content))
    units = 0
    for i, c in enumerate(content):
        if units >= character:
            return i
        units += char_units(c, encoding)
    return len(content)


class DocumentText:
    """An open document's text as lines, edited in place by LSP content changes."""

    def __init__(self, text: str, language_id: str | None = None, encoding: str = "utf-16"):
        self.lines = _split_lines(text)
        self.language_id = language_id
        self.encoding = encoding
        """How positions count characters (the ``positionEncoding`` the client and server agreed)."""
        self.size = len(text)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def _locate(self, position: Position) -> tuple[int, int]:
        """(line, python index in that line) of an LSP position, clamped to the document."""
        if position.line >= len(self.lines):
            last = len(self.lines) - 1
            return last, len(_content(self.lines[last]))
        line = max(0, position.line)
        return line, _index(_content(self.lines[line]), position.character, self.encoding)

    def apply(self, rng: Range | None, new_text: str) -> None:
        if rng is None:
            self.lines = _split_lines(new_text)
            self.size = len(new_text)
            return
        start_line, start_index = self._locate(rng.start)
        end_line, end_index = self._locate(rng.end)
        if (end_line, end_index) < (start_line, start_index):
            end_line, end_index = start_line, start_index
        head = self.lines[start_line][:start_index]
        tail = self.lines[end_line][end_index:]
        replaced = sum(len(line) for line in self.lines[start_line : end_line + 1]) - len(head) - len(tail)
        new_lines = _split_lines(head + new_text + tail)
        if end_line < len(self.lines) - 1:
            new_lines.pop()  # ``tail`` ended with a line break: the empty line after it is not new
        self.lines[start_line : end_line + 1] = new_lines
        self.size += len(new_text) - replaced

    def has_position(self, position: Position) -> bool:
        """Whether ``position`` is in the document (not past a line's end or the last line)."""
        if position.line < 0 or position.line >= len(self.lines) or position.character < 0:
            return False
        content = _content(self.lines[position.line])
        return position.character <= units(content, self.encoding)

    def holds(self, rng: Range, text: str) -> bool:
        """Whether ``rng`` lies in the document and reads exactly ``text`` (no clamping)."""
        if _key(rng.end) < _key(rng.start) or not self.has_position(rng.start) or not self.has_position(rng.end):
            return False
        return self.text_in(rng) == text and units(text, self.encoding) == _span_units(self, rng)

    def text_in(self, rng: Range) -> str:
        start_line, start_index = self._locate(rng.start)
        end_line, end_index = self._locate(rng.end)
        if (end_line, end_index) <= (start_line, start_index):
            return ""
        if start_line == end_line:
            return self.lines[start_line][start_index:end_index]
        middle = "".join(self.lines[start_line + 1 : end_line])
        return self.lines[start_line][start_index:] + middle + self.lines[end_line][:end_index]

    def following(self, position: Position, chars: int) -> str:
        """Up to ``chars`` characters from ``position`` on."""
        line, index = self._locate(position)
        out = self.lines[line][index:]
        while len(out) < chars and line < len(self.lines) - 1:
            line += 1
            out += self.lines[line]
        return out[:chars]

    def around(self, rng: Range, chars: int = 200) -> tuple[str, str]:
        """Up to ``chars`` characters before the range's start and after its end."""
        start_line, start_index = self._locate(rng.start)
        before = self.lines[start_line][:start_index]
        line = start_line
        while len(before) < chars and line > 0:
            line -= 1
            before = self.lines[line] + before
        end_line, end_index = self._locate(rng.end)
        after = self.lines[end_line][end_index:]
        line = end_line
        while len(after) < chars and line < len(self.lines) - 1:
            line += 1
            after += self.lines[line]
        return before[-chars:], after[:chars]


def _span_units(doc: DocumentText, rng: Range) -> int:
    """Code units between the range's ends (line breaks counted as in the text)."""
    if rng.start.line == rng.end.line:
        return rng.end.character - rng.start.character
    first = doc.lines[rng.start.line]
    total = units(first, doc.encoding) - rng.start.character
    for line in doc.lines[rng.start.line + 1 : rng.end.line]:
        total += units(line, doc.encoding)
    return total + rng.end.character


@define(eq=False)
class Utterance:
    """One dictated text in one document, as the tracker follows it."""

    id: str
    uri: str
    range: Range
    """Where ``text`` is (live), or where ``expect`` will go (expected)."""
    text: str
    """The utterance's text as the server last wrote it."""
    expect: str | None = None
    """Text of an edit the server sent for ``range`` that the editor has not applied yet."""
    edited: bool = False
    """The user changed text inside it: refine must not overwrite their edit."""
    gone: bool = False
    """All of its text was deleted (by the user, or the document was replaced)."""
    context: TextContext | None = None
    """What surrounded the cursor when it was dictated (identifiers, languageId)."""
    dirty: bool = False
    """Its range changed since it was last saved in the history."""
    unsaved: bool = False
    """Its text reached the editor's buffer after the document was last saved to disk."""
    removing: bool = False
    """The server sent the deletion of its text (undo, "scratch that"): a change over all of it
    is that deletion arriving, whatever text the change puts there (a scratch's new utterance)."""
    _touched: bool = False
    _replaced: bool = False
    """The touch was a whole-document change (``rng`` None): where its text went is unknown."""
    _already: str | None = None
    """Set when the text at the expected range already read ``expect`` before our edit: the text
    that followed then, so the applied edit (``expect`` then this) can still be recognised."""

    @property
    def _is_insertion(self) -> bool:
        return _key(self.range.start) == _key(self.range.end)

    @property
    def arriving(self) -> bool:
        """Its insertion was sent and the editor has not shown it applied yet."""
        return self.expect is not None and self._is_insertion


class UtteranceTracker:
    """Open documents' text and versions, and the utterances dictated into them."""

    def __init__(
        self,
        *,
        max_documents: int = MAX_DOCUMENTS,
        max_per_document: int = MAX_PER_DOCUMENT,
        max_open_texts: int = MAX_OPEN_TEXTS,
        max_text_chars: int = MAX_TEXT_CHARS,
    ):
        self.max_documents = max_documents
        self.max_per_document = max_per_document
        self.max_open_texts = max_open_texts
        self.max_text_chars = max_text_chars
        #: The ``positionEncoding`` in effect (set once the client and server agreed on one).
        self.encoding = "utf-16"
        #: Open documents (``didOpen`` seen, ``didClose`` not): uri -> text, or ``None`` if too big.
        self._open: OrderedDict[str, DocumentText | None] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._languages: dict[str, str] = {}
        self._docs: OrderedDict[str, OrderedDict[str, Utterance]] = OrderedDict()
        self._by_id: dict[str, Utterance] = {}
        #: Called when the editor applied an edit the server sent (insertion, refinement).
        self.on_applied: Callable[[Utterance], None] | None = None
        #: The editor sends ``didSave`` (it said so in its capabilities): then a document closed
        #: without a save since an utterance went in was discarded with it (see :meth:`close`).
        self.reports_saves = False

    # -- documents ------------------------------------------------------------------------------

    def is_synced(self, uri: str) -> bool:
        """Whether the editor tells us about this document's changes."""
        return uri in self._open

    def version(self, uri: str) -> int | None:
        return self._versions.get(uri)

    def language_id(self, uri: str) -> str | None:
        return self._languages.get(uri)

    def text(self, uri: str) -> str | None:
        doc = self._open.get(uri)
        return doc.text if doc is not None else None

    def has_text(self, uri: str) -> bool:
        """Whether the document is synced and its text kept (so what a range holds can be checked)."""
        return self._open.get(uri) is not None

    def in_document(self, uri: str, rng: Range) -> bool:
        """Whether both ends of ``rng`` lie in the synced document (not past a line's end or its last line)."""
        doc = self._open.get(uri)
        return doc is not None and doc.has_position(rng.start) and doc.has_position(rng.end)

    def holds(self, uri: str, rng: Range, text: str) -> bool:
        """Whether the synced document's ``rng`` lies in it and reads exactly ``text`` now."""
        doc = self._open.get(uri)
        return doc is not None and doc.holds(rng, text)

    def around(self, uri: str, rng: Range, chars: int = 200) -> tuple[str, str] | None:
        doc = self._open.get(uri)
        return doc.around(rng, chars) if doc is not None else None

    def open(self, uri: str, text: str, version: int | None = None, language_id: str | None = None) -> None:
        kept = self._open.get(uri)
        if kept is not None and len(text) <= self.max_text_chars:
            # Sent again while open (a reload): follow the utterances through what changed.
            old = kept.text
            if old != text:
                self.change(uri, [_difference(old, text, self.encoding)], version)
            elif version is not None:
                self._versions[uri] = version
            if language_id:
                self._languages[uri] = language_id
            self._open.move_to_end(uri)
            return
        doc = DocumentText(text, language_id, self.encoding) if len(text) <= self.max_text_chars else None
        self._open[uri] = doc
        self._open.move_to_end(uri)
        while len(self._open) > self.max_open_texts:
            self._open.popitem(last=False)
        total = sum(d.size for d in self._open.values() if d is not None)
        for other, kept in self._open.items():
            if total <= MAX_TOTAL_CHARS or other == uri:
                break
            if kept is not None:
                total -= kept.size
                self._open[other] = None
        if version is not None:
            self._versions[uri] = version
        if language_id:
            self._languages[uri] = language_id
        # The text may have changed while the document was closed: check what we follow.
        for utterance in self._utterances(uri):
            self._settle(utterance, doc, touched=doc is not None)

    def close(self, uri: str) -> None:
        """The editor no longer syncs it: keep its utterances where they were last seen.

        One that went in after the last save is gone when the editor reports saves: closing a
        document with unsaved changes discards them (``:e!``, ``:bwipeout!``, "Don't Save"), and
        the same words typed again at that place before it is opened again are not the utterance.
        """
        if self.reports_saves and uri in self._open:
            for utterance in self._utterances(uri):
                if utterance.unsaved and not utterance.gone:
                    utterance.gone = True
                    utterance.dirty = True
        self._open.pop(uri, None)
        if uri not in self._docs:
            self._versions.pop(uri, None)
            self._languages.pop(uri, None)

    def saved(self, uri: str) -> None:
        """The editor wrote the document to disk: its utterances' text is there now."""
        for utterance in self._utterances(uri):
            utterance.unsaved = False

    def change(self, uri: str, changes: Iterable[Change], version: int | None = None) -> None:
        """Apply one ``didChange`` (its content changes in order) to the text and the utterances."""
        if version is not None:
            self._versions[uri] = version
        doc = self._open.get(uri)
        utterances = [u for u in self._utterances(uri) if not u.gone]
        for rng, new_text in changes:
            # Followed as the smallest change that has the same effect: rewriting text with the
            # same text (a diff that includes unchanged characters) changes no utterance.
            followed: Change | None = (rng, new_text)
            if doc is not None:
                if rng is not None:
                    followed = _smallest(doc, rng, new_text)
                doc.apply(rng, new_text)
                if doc.size > self.max_text_chars:
                    self._open[uri] = doc = None
            for utterance in utterances:
                if utterance.gone:
                    continue
                if rng is None:  # the whole document was replaced: judged from the new text below
                    utterance._touched = True
                    utterance._replaced = True
                elif utterance.removing and _covers(rng, utterance.range):
                    utterance.gone = True
                    utterance.dirty = True
                elif utterance.expect is not None and _same(rng, utterance.range) and new_text == utterance.expect:
                    self._applied(utterance, inserted_range(rng.start, new_text, self.encoding))
                elif followed is not None and followed[0] is not None:
                    self._follow(utterance, followed[0], followed[1])
        for utterance in utterances:
            if utterance.expect is not None or utterance._touched:
                self._settle(utterance, doc, touched=utterance._touched)

    def _follow(self, utterance: Utterance, rng: Range, new_text: str) -> None:
        new_range, touched = follow_edit(utterance.range, rng, new_text, self.encoding)
        if new_range is None:
            utterance._touched = True
            if utterance.expect is None:
                utterance.gone = True
                utterance.dirty = True
            return
        if new_range != utterance.range:
            utterance.range = new_range
            utterance.dirty = True
        elif rng.start.line <= new_range.end.line and rng.end.line >= new_range.start.line:
            utterance.dirty = True  # text next to it changed: the history keeps what surrounds it
        if touched:
            utterance._touched = True

    def _settle(self, utterance: Utterance, doc: DocumentText | None, *, touched: bool) -> None:
        """After a change touched it (or while an edit is expected): decide from the document text."""
        utterance._touched = False
        replaced, utterance._replaced = utterance._replaced, False
        if utterance.expect is not None:
            if doc is not None:
                target = inserted_range(utterance.range.start, utterance.expect, self.encoding)
                if doc.text_in(target) == utterance.expect and (
                    utterance._already is None
                    or doc.following(target.end, len(utterance._already)) == utterance._already
                ):
                    # Applied, though described as a smaller diff (or in several changes).
                    self._applied(utterance, target)
                    return
            if not touched or utterance._is_insertion:
                return  # not applied yet (the user may type where it will go)
            # The user changed the text before our replacement arrived: it no longer applies.
            utterance.expect = None
        if not touched or utterance.gone:
            return
        if doc is not None:
            intact = self._intact(utterance, doc)
            if intact is not None:  # a change touched its boundary, but its text is still there
                if intact != utterance.range:
                    utterance.range = intact
                    utterance.dirty = True
                return
        if utterance.removing and replaced:
            # Its deletion was sent and its text is no longer there: the deletion arrived, described
            # as a whole-document change (clients that sync full text) rather than an edit over it.
            utterance.gone = True
            utterance.dirty = True
            return
        if not utterance.edited:
            utterance.edited = True
            utterance.dirty = True  # saved without a range: after a restart it is never found by position

    def _intact(self, utterance: Utterance, doc: DocumentText) -> Range | None:
        """Its range, if it still reads exactly as written (a whole-document replacement that
        left it as it was); never another place: text that reads the same elsewhere is not it."""
        if doc.holds(utterance.range, utterance.text):
            return utterance.range
        return None

    def _applied(self, utterance: Utterance, rng: Range) -> None:
        if utterance.expect is not None:
            utterance.text = utterance.expect
        utterance.expect = None
        utterance._already = None
        if rng != utterance.range:
            utterance.dirty = True
        utterance.range = rng
        utterance.gone = False
        utterance.unsaved = True
        if self.on_applied is not None:
            self.on_applied(utterance)

    # -- utterances -----------------------------------------------------------------------------

    def _utterances(self, uri: str) -> list[Utterance]:
        doc = self._docs.get(uri)
        return list(doc.values()) if doc else []

    def get(self, utterance_id: str) -> Utterance | None:
        return self._by_id.get(utterance_id)

    def current_range(self, utterance: Utterance) -> Range | None:
        """The range to delete or replace now: where its text is, or will be once our edit applies.

        ``None`` when its text is gone.
        """
        if utterance.gone:
            return None
        if utterance.expect is not None and utterance._is_insertion:
            return inserted_range(utterance.range.start, utterance.expect, self.encoding)
        return utterance.range

    def latest(self, uri: str) -> Utterance | None:
        """The newest utterance of the document whose text is still there.

        An insertion the editor has not applied (in a document it syncs) is not there yet: skipped.
        """
        for utterance in reversed(self._utterances(uri)):
            if not utterance.gone and not (utterance.expect is not None and utterance._is_insertion):
                return utterance
        return None

    def track(
        self, utterance_id: str, uri: str, position: Position, text: str, context: TextContext | None = None
    ) -> Utterance:
        """Follow a new utterance the server is about to insert at ``position``."""
        utterance = Utterance(utterance_id, uri, Range(start=position, end=position), text, context=context)
        if uri in self._open:
            utterance.expect = text
            utterance._already = self._already(uri, Range(start=position, end=position), text)
        else:
            utterance.range = inserted_range(position, text, self.encoding)
            # Not synced: assumed applied where it was asked for, so the utterances already followed
            # there move (or count as edited, if it went inside one) as if the editor had said so.
            for other in self._utterances(uri):
                if not other.gone:
                    self._follow(other, Range(start=position, end=position), text)
                    if other._touched:
                        self._settle(other, None, touched=True)
        per_doc = self._docs.setdefault(uri, OrderedDict())
        per_doc[utterance_id] = utterance
        self._docs.move_to_end(uri)
        self._by_id[utterance_id] = utterance
        while len(per_doc) > self.max_per_document:
            _, old = per_doc.popitem(last=False)
            self._by_id.pop(old.id, None)
        while len(self._docs) > self.max_documents:
            old_uri, old_doc = self._docs.popitem(last=False)
            for old in old_doc.values():
                self._by_id.pop(old.id, None)
            if old_uri not in self._open:
                self._versions.pop(old_uri, None)
                self._languages.pop(old_uri, None)
        return utterance

    def adopt(
        self, utterance_id: str, uri: str, rng: Range, text: str, context: TextContext | None = None
    ) -> Utterance:
        """Follow an utterance the tracker did not know (from the history, after a restart) whose
        text the synced document was just checked to hold at ``rng``."""
        known = self._by_id.get(utterance_id)
        if known is not None:
            return known
        utterance = Utterance(utterance_id, uri, rng, text, context=context)
        per_doc = self._docs.setdefault(uri, OrderedDict())
        if len(per_doc) >= self.max_per_document:
            _, old = per_doc.popitem(last=False)
            self._by_id.pop(old.id, None)
        per_doc[utterance_id] = utterance
        # Older than what this session dictated: first in line, so "latest" stays the newest.
        per_doc.move_to_end(utterance_id, last=False)
        self._by_id[utterance_id] = utterance
        return utterance

    def replace(self, utterance_id: str, new_text: str) -> Range | None:
        """The server sent an edit replacing the utterance's current range with ``new_text``.

        Returns the range the new text will occupy. In a synced document the tracker waits for
        the editor's change; otherwise it assumes the edit applied.
        """
        utterance = self._by_id.get(utterance_id)
        rng = self.current_range(utterance) if utterance is not None else None
        if utterance is None or rng is None:
            return None
        if self.is_synced(utterance.uri):
            utterance.range = rng
            utterance.expect = new_text
            utterance._already = self._already(utterance.uri, rng, new_text)
        else:
            utterance.range = inserted_range(rng.start, new_text, self.encoding)
            utterance.text = new_text
            utterance.expect = None
        utterance.edited = False
        utterance.gone = False
        return inserted_range(rng.start, new_text, self.encoding)

    def _already(self, uri: str, rng: Range, new_text: str) -> str | None:
        doc = self._open.get(uri)
        if doc is None or doc.text_in(inserted_range(rng.start, new_text, self.encoding)) != new_text:
            return None
        return doc.following(rng.end, _ALREADY_CHARS)

    def expect_removal(self, utterance_id: str, removing: bool = True) -> None:
        """The server sent (``removing``) or withdrew the deletion of the utterance's text."""
        utterance = self._by_id.get(utterance_id)
        if utterance is not None:
            utterance.removing = removing

    def cancel_expectation(self, utterance_id: str) -> None:
        """The editor refused the edit the server sent: the old text stays."""
        utterance = self._by_id.get(utterance_id)
        if utterance is not None and utterance.expect is not None and not utterance._is_insertion:
            utterance.expect = None

    def forget(self, utterance_id: str) -> None:
        utterance = self._by_id.pop(utterance_id, None)
        if utterance is not None:
            doc = self._docs.get(utterance.uri)
            if doc is not None:
                doc.pop(utterance_id, None)

    def take_dirty(self) -> list[Utterance]:
        """Utterances whose range moved since the last call (to save in the history)."""
        dirty = [u for u in self._by_id.values() if u.dirty]
        for utterance in dirty:
            utterance.dirty = False
        return dirty

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, utterance_id: object) -> bool:
        return utterance_id in self._by_id


def _position_in(text: str, offset: int, encoding: str) -> Position:
    """The position of ``offset`` (a Python index) in ``text``."""
    before = text[:offset]
    breaks = list(_LINE_BREAK_RE.finditer(before))
    if not breaks:
        return Position(line=0, character=units(before, encoding))
    return Position(line=len(breaks), character=units(before[breaks[-1].end() :], encoding))


def _shared(old: str, new: str) -> tuple[int, int]:
    """Lengths of the common prefix and (not overlapping it) common suffix, never inside a CRLF."""
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    if prefix and old[prefix - 1 : prefix + 1] == "\r\n":
        prefix -= 1
    suffix = 0
    while suffix < limit - prefix and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]:
        suffix += 1
    if suffix and old[len(old) - suffix - 1 : len(old) - suffix + 1] == "\r\n":
        suffix -= 1
    return prefix, suffix


def _difference(old: str, new: str, encoding: str) -> Change:
    """The one change that turns ``old`` into ``new``, as small as their shared ends allow."""
    prefix, suffix = _shared(old, new)
    rng = Range(start=_position_in(old, prefix, encoding), end=_position_in(old, len(old) - suffix, encoding))
    return rng, new[prefix : len(new) - suffix]


def _smallest(doc: DocumentText, rng: Range, new_text: str) -> Change | None:
    """``rng`` -> ``new_text`` without the text it rewrites with itself; ``None`` if it changes nothing."""
    if _key(rng.end) < _key(rng.start) or not doc.has_position(rng.start) or not doc.has_position(rng.end):
        return rng, new_text
    old = doc.text_in(rng)
    if old == new_text:
        return None
    prefix, suffix = _shared(old, new_text)
    if not prefix and not suffix:
        return rng, new_text
    start = end_position(rng.start, old[:prefix], doc.encoding) if prefix else rng.start
    end = end_position(rng.start, old[: len(old) - suffix], doc.encoding) if suffix else rng.end
    return Range(start=start, end=end), new_text[prefix : len(new_text) - suffix]


def _covers(edit: Range, tracked: Range) -> bool:
    """Whether ``edit`` replaces all of ``tracked`` (and maybe more)."""
    return _key(edit.start) <= _key(tracked.start) and _key(edit.end) >= _key(tracked.end)


def _same(a: Range, b: Range) -> bool:
    return _key(a.start) == _key(b.start) and _key(a.end) == _key(b.end)


def changes_of(content_changes: Sequence[object]) -> list[Change]:
    """``(range, text)`` pairs from lsprotocol content change events (whole-document ones: ``None``)."""
    out: list[Change] = []
    for change in content_changes:
        out.append((getattr(change, "range", None), getattr(change, "text", "")))
    return out


__all__ = ["DocumentText", "Utterance", "UtteranceTracker", "changes_of"]

"""Where each utterance is now: documents the editor syncs, followed through their changes.

The editor tells us about document changes (``textDocument/didOpen``, incremental ``didChange``,
``didClose``); :class:`~swictation_rpc.text.tracking.UtteranceTracker` follows every utterance's
range through them. Ranges that moved are saved in the history (with the document version) a
moment after the typing stops, in one transaction, so typing above dictated text does not write
to the disk on every keystroke. Editors that sync nothing still get correct results for the text
as inserted (ranges then stay where the server put them).

Before the server proposes any edit of an earlier utterance (undo, "scratch that", retranscribe,
refine), :meth:`DocumentTracking.check` finds it in the document *as synced now*: the range must
lie in the document and read exactly the utterance's text, and the user must not have edited
inside it. Otherwise nothing is proposed and a :class:`Refusal` says why (``changed``,
``not-synced``, ``gone``). An utterance is never found by its position alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from attrs import define
from lsprotocol.types import Range

from swictation_rpc.protocol import EditRefusal, TextContext
from swictation_rpc.text.tracking import Utterance, UtteranceTracker, changes_of
from swictation_rpc.utterances.ports import Blocking, HistoryGetter

logger = logging.getLogger(__name__)

#: Ranges that moved are saved this long after the last change (typing is coalesced).
SAVE_DELAY_S = 1.0
#: Characters of text before and after an utterance saved with its range: after a restart the
#: saved range is trusted only where they still read the same (the same words at the same place
#: with other text around them are not the utterance).
SURROUNDING_CHARS = 40


@define
class Target:
    """An earlier utterance found in its document now: ``range`` reads exactly ``text``."""

    utterance_id: str
    uri: str
    range: Range
    text: str
    version: int | None
    """The synced document's version the range was checked against."""


@define
class Refusal:
    """Why no edit of an earlier utterance is proposed, in one sentence for the user."""

    reason: EditRefusal
    message: str
    uri: str | None = None
    version: int | None = None


#: What the edit would have done, for the sentence: ``remove`` (undo, scratch that) or ``replace``.
Action = str


def document_name(uri: str | None) -> str:
    """The file name of ``uri`` for a message (``demo.py``), or ``the document``."""
    if not uri:
        return "the document"
    path = unquote(urlsplit(uri).path) or uri
    return PurePosixPath(path).name or uri


def refusal(
    reason: EditRefusal, uri: str | None, *, action: Action = "remove", version: int | None = None, last: bool = False
) -> Refusal:
    """The refusal with its message (the wording clients show as is)."""
    name = document_name(uri)
    if reason == "already-undone":
        message = (
            "The last utterance was already removed; undo an older one from the history."
            if last
            else "This utterance was already undone."
        )
    elif reason == "not-synced":
        message = (
            f"Swictation does not have {name} open now (it was closed, or the server restarted), so it cannot "
            f"check the utterance; open {name} and try again."
        )
    elif reason == "gone":
        message = f"The utterance's text is no longer in {name}, so there is nothing to {action}."
    elif action == "replace":
        message = (
            f"The utterance was edited in {name} since it was dictated, so the new text is offered "
            "instead of replacing it."
        )
    else:
        message = f"The utterance was edited in {name} since it was dictated, so Swictation left it as it is."
    return Refusal(reason, message, uri, version)


class DocumentTracking:
    """The tracker in the agreed position encoding, waiters for applied edits, delayed saving."""

    def __init__(self, history: HistoryGetter, blocking: Blocking, encoding: Callable[[], str]):
        self._history = history
        self._blocking = blocking
        self._encoding = encoding
        self._tracker = UtteranceTracker()
        self._tracker.on_applied = self._applied
        self._waiters: dict[str, asyncio.Event] = {}
        self._save_handle: asyncio.TimerHandle | None = None
        self._saving: set[asyncio.Task[None]] = set()
        #: Called after each ``didOpen``/``didChange`` with the document's uri.
        self.change_listeners: list[Callable[[str], None]] = []
        #: Called when the editor applied an edit the server sent for an utterance.
        self.applied_listeners: list[Callable[[Utterance], None]] = []

    @property
    def tracker(self) -> UtteranceTracker:
        """The tracker, counting characters as agreed at initialize."""
        self._tracker.encoding = self._encoding()
        return self._tracker

    def check(
        self,
        utterance_id: str,
        uri: str | None,
        saved_range: Range | None,
        saved_text: str | None,
        *,
        action: Action = "remove",
        context: TextContext | None = None,
        saved_surroundings: tuple[str, str] | None = None,
    ) -> Target | Refusal:
        """Find the utterance in its document as synced now, or say why it cannot be edited.

        Followed utterances are checked where the tracker has them; others (older than it keeps,
        or from before a restart) where the history saved them (``saved_range``, ``saved_text``),
        and are followed from then on. Either way the range must read exactly the text now.
        """
        tracker = self.tracker
        if not uri:
            return refusal("gone", uri, action=action)
        if not tracker.has_text(uri):
            return refusal("not-synced", uri, action=action)
        version = tracker.version(uri)
        utterance = tracker.get(utterance_id)
        if utterance is not None and utterance.uri == uri:
            if utterance.gone:
                return refusal("gone", uri, action=action, version=version)
            if utterance.edited or utterance.arriving:
                return refusal("changed", uri, action=action, version=version)
            rng, text = utterance.range, utterance.text
        else:
            if saved_range is None or not saved_text:
                # Deleted, or edited, before the server restarted: where it was is not known.
                return Refusal(
                    "gone",
                    f"Swictation no longer knows where the utterance is in {document_name(uri)} (it was edited or "
                    f"deleted), so it left {document_name(uri)} as it is.",
                    uri,
                    version,
                )
            rng, text = saved_range, saved_text
        if not text:
            return refusal("gone", uri, action=action, version=version)
        if not tracker.holds(uri, rng, text):
            reason: EditRefusal = "changed" if tracker.in_document(uri, rng) else "gone"
            return refusal(reason, uri, action=action, version=version)
        if (utterance is None or utterance.uri != uri) and saved_surroundings is not None:
            if not same_surroundings(saved_surroundings, tracker.around(uri, rng, SURROUNDING_CHARS)):
                logger.info("Utterance %s: its words are at the saved place, with other text around them", utterance_id)
                return refusal("changed", uri, action=action, version=version)
        if utterance is None or utterance.uri != uri:
            tracker.adopt(utterance_id, uri, rng, text, context)
        return Target(utterance_id, uri, rng, text, version)

    def current_range(self, utterance_id: str, saved: Range | None) -> Range | None:
        """Where the utterance's text is now: followed if we can, else where the history saw it last."""
        tracker = self.tracker
        utterance = tracker.get(utterance_id)
        if utterance is None:
            return saved
        return tracker.current_range(utterance)

    # -- the editor's document sync ---------------------------------------------------------------

    def open(self, uri: str, text: str, version: int | None, language_id: str | None) -> None:
        self.tracker.open(uri, text, version, language_id)
        self.schedule_save()
        self._changed(uri)

    def change(self, uri: str, content_changes: Sequence[object], version: int | None) -> None:
        self.tracker.change(uri, changes_of(content_changes), version)
        self.schedule_save()
        self._changed(uri)

    def _changed(self, uri: str) -> None:
        for listener in list(self.change_listeners):
            try:
                listener(uri)
            except Exception:
                logger.exception("A document change listener failed")

    def close(self, uri: str) -> None:
        self.tracker.close(uri)
        self.schedule_save()

    def saved(self, uri: str) -> None:
        self.tracker.saved(uri)

    # -- waiting for the editor -------------------------------------------------------------------

    def _applied(self, utterance: Utterance) -> None:
        event = self._waiters.get(utterance.id)
        if event is not None:
            event.set()
        for listener in list(self.applied_listeners):
            try:
                listener(utterance)
            except Exception:
                logger.exception("An applied-edit listener failed")

    async def wait_applied(self, utterance_id: str, timeout: float) -> bool:
        """Wait until the editor applied the edit the server sent for the utterance.

        True at once in documents the editor does not sync (nothing to wait for); false if the
        utterance is not followed or its edit did not show up within ``timeout``.
        """
        tracker = self.tracker
        utterance = tracker.get(utterance_id)
        if utterance is None:
            return False
        if utterance.expect is None or not tracker.is_synced(utterance.uri):
            return True
        event = self._waiters.setdefault(utterance_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            self._waiters.pop(utterance_id, None)
        utterance = tracker.get(utterance_id)
        return utterance is not None and utterance.expect is None

    # -- saving moved ranges ----------------------------------------------------------------------

    def schedule_save(self) -> None:
        if self._save_handle is not None or self._history() is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._save_handle = loop.call_later(SAVE_DELAY_S, self._save_soon)

    def _save_soon(self) -> None:
        self._save_handle = None
        task = asyncio.ensure_future(self.save())
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    async def save(self) -> None:
        """Write the ranges that moved (and the document versions) to the history."""
        store = self._history()
        tracker = self.tracker
        dirty = tracker.take_dirty()
        if store is None or not dirty:
            return
        # An utterance the user edited is saved without a range: after a restart, text that reads
        # like it again at the old place (an edit undone by hand) is not taken for it.
        rows = []
        for u in dirty:
            rng = None if u.edited else tracker.current_range(u)
            around = tracker.around(u.uri, rng, SURROUNDING_CHARS) if rng is not None else None
            rows.append((u.id, rng, tracker.version(u.uri), around))
        try:
            await self._blocking(store.update_ranges, rows)
        except Exception as exc:  # noqa: BLE001 - positions are a convenience; the text is saved
            logger.warning("Could not save %d moved utterance ranges: %s", len(rows), exc)


def same_surroundings(saved: tuple[str, str], now: tuple[str, str] | None) -> bool:
    """Whether the text around a range reads as it did when saved (as far as it was saved: a
    shorter saved side was the start or the end of the document, and must still be)."""
    if now is None:
        return False
    (saved_before, saved_after), (before, after) = saved, now
    before_ok = before == saved_before or (len(saved_before) >= SURROUNDING_CHARS and before.endswith(saved_before))
    after_ok = after == saved_after or (len(saved_after) >= SURROUNDING_CHARS and after.startswith(saved_after))
    return before_ok and after_ok

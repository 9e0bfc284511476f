"""Edits of earlier utterances the server proposed, kept until they are known to be applied.

An utterance is marked undone, or gets its new text (retranscribe, refine), only once its edit
is in the document: ``workspace/applyEdit`` answered ``applied: true``, the client confirmed it
(``swictation/utteranceEditApplied``), or the synced document showed it (``didChange``: the
utterance's text deleted, or the expected replacement arrived). A refused or failed edit leaves
the utterance exactly as it was: still undoable, its text unchanged in the history.

History writes made from document sync (which runs synchronously) go to the thread pool;
:meth:`Proposals.settled` waits for them, so a request that reads the history afterwards sees them.
"""

from __future__ import annotations

import asyncio
import logging

from attrs import define
from lsprotocol.types import Range

from swictation_rpc.errors import SwictationError
from swictation_rpc.protocol import Transcript, UtteranceEditKind
from swictation_rpc.text.ranges import inserted_range
from swictation_rpc.text.tracking import Utterance
from swictation_rpc.utterances.documents import DocumentTracking
from swictation_rpc.utterances.ports import Blocking, HistoryGetter

logger = logging.getLogger(__name__)


@define
class Proposal:
    """One edit of an earlier utterance, sent and not yet known to be applied."""

    kind: UtteranceEditKind
    uri: str
    version: int | None
    range: Range
    """The range the edit replaces (the utterance's text when proposed)."""
    text: str = ""
    """The new text (retranscribe, refine); empty for undo."""
    transcript: Transcript | None = None
    """The decode that produced ``text`` (its mode, model and timings go to the history)."""


class Proposals:
    """Pending edits of earlier utterances, by utterance id (a newer proposal replaces an older one)."""

    def __init__(self, documents: DocumentTracking, history: HistoryGetter, blocking: Blocking):
        self._documents = documents
        self._history = history
        self._blocking = blocking
        self._pending: dict[str, Proposal] = {}
        self._writes: set[asyncio.Task[None]] = set()
        documents.change_listeners.append(self._document_changed)
        documents.applied_listeners.append(self._utterance_applied)

    def propose(self, utterance_id: str, proposal: Proposal) -> None:
        previous = self._pending.get(utterance_id)
        if previous is not None and previous.kind == "undo" and proposal.kind != "undo":
            self._documents.tracker.expect_removal(utterance_id, False)
        self._pending[utterance_id] = proposal
        if proposal.kind == "undo":
            self._documents.tracker.expect_removal(utterance_id)

    def pending(self, utterance_id: str) -> Proposal | None:
        return self._pending.get(utterance_id)

    def withdraw(self, utterance_id: str, kind: UtteranceEditKind | None = None) -> Proposal | None:
        """The edit was refused or failed: forget it; a replacement the tracker expected is cancelled."""
        proposal = self._pending.get(utterance_id)
        if proposal is None or (kind is not None and proposal.kind != kind):
            return None
        del self._pending[utterance_id]
        if proposal.kind == "undo":
            self._documents.tracker.expect_removal(utterance_id, False)
        else:
            self._documents.tracker.cancel_expectation(utterance_id)
        return proposal

    async def settled(self) -> None:
        """Wait for history writes started by document sync."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    # -- applied ------------------------------------------------------------------------------------

    async def applied(self, utterance_id: str, kind: UtteranceEditKind) -> bool:
        """The edit of ``kind`` is in the document: record it. False if none of that kind was pending.

        An undo confirmed without a pending proposal (sent before a restart) is recorded all the
        same: the client says the utterance's text is gone.
        """
        proposal = self._pending.get(utterance_id)
        if proposal is not None and proposal.kind != kind:
            proposal = None
        if proposal is None and kind != "undo":
            return False
        self._pending.pop(utterance_id, None)
        if kind == "undo":
            await self._mark_undone(utterance_id)
        elif proposal is not None:
            await self._save_text(utterance_id, proposal)
        return True

    async def _mark_undone(self, utterance_id: str) -> None:
        self._documents.tracker.forget(utterance_id)
        store = self._history()
        if store is None:
            return
        try:
            await self._blocking(store.mark_removed, utterance_id)
        except SwictationError as exc:
            logger.warning("Could not mark utterance %s undone: %s", utterance_id, exc)
        logger.info("Utterance %s undone", utterance_id)

    async def _save_text(self, utterance_id: str, proposal: Proposal) -> None:
        tracker = self._documents.tracker
        utterance = tracker.get(utterance_id)
        encoding = tracker.encoding
        if utterance is not None and utterance.expect is None and utterance.text == proposal.text:
            new_range = tracker.current_range(utterance)  # applied and followed since
        else:
            start = utterance.range.start if utterance is not None else proposal.range.start
            new_range = inserted_range(start, proposal.text, encoding)
        store = self._history()
        if store is None:
            return
        transcript = proposal.transcript
        try:
            await self._blocking(
                store.update_text_and_range,
                utterance_id,
                proposal.text,
                new_range,
                document_version=tracker.version(proposal.uri),
                mode=transcript.mode if transcript else None,
                model=transcript.model if transcript else None,
                timings=transcript.timings if transcript else None,
            )
        except SwictationError as exc:
            logger.warning("Could not save the new text of %s: %s", utterance_id, exc)
        logger.info("Utterance %s replaced (%s)", utterance_id, proposal.kind)

    # -- what document sync shows -------------------------------------------------------------------

    def _document_changed(self, uri: str) -> None:
        tracker = self._documents.tracker
        for utterance_id, proposal in list(self._pending.items()):
            if proposal.kind != "undo" or proposal.uri != uri:
                continue
            utterance = tracker.get(utterance_id)
            if utterance is not None and utterance.gone:
                self._record_soon(utterance_id, "undo")

    def _utterance_applied(self, utterance: Utterance) -> None:
        proposal = self._pending.get(utterance.id)
        if proposal is not None and proposal.kind != "undo" and utterance.text == proposal.text:
            self._record_soon(utterance.id, proposal.kind)

    def _record_soon(self, utterance_id: str, kind: UtteranceEditKind) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        # Taken now, so a second change before the write does not record it twice.
        proposal = self._pending.pop(utterance_id, None)
        if proposal is None:
            return
        task = asyncio.ensure_future(self._record(utterance_id, proposal))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _record(self, utterance_id: str, proposal: Proposal) -> None:
        if proposal.kind == "undo":
            await self._mark_undone(utterance_id)
        else:
            await self._save_text(utterance_id, proposal)

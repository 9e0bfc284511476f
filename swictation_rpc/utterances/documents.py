"""Where each utterance is now: documents the editor syncs, followed through their changes.

The editor tells us about document changes (``textDocument/didOpen``, incremental ``didChange``,
``didClose``); :class:`~swictation_rpc.text.tracking.UtteranceTracker` follows every utterance's
range through them. Ranges that moved are saved in the history (with the document version) a
moment after the typing stops, in one transaction, so typing above dictated text does not write
to the disk on every keystroke. Editors that sync nothing still get correct results for the text
as inserted (ranges then stay where the server put them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from lsprotocol.types import Range

from swictation_rpc.text.tracking import Utterance, UtteranceTracker, changes_of
from swictation_rpc.utterances.ports import Blocking, HistoryGetter

logger = logging.getLogger(__name__)

#: Ranges that moved are saved this long after the last change (typing is coalesced).
SAVE_DELAY_S = 1.0


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

    @property
    def tracker(self) -> UtteranceTracker:
        """The tracker, counting characters as agreed at initialize."""
        self._tracker.encoding = self._encoding()
        return self._tracker

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

    def change(self, uri: str, content_changes: Sequence[object], version: int | None) -> None:
        self.tracker.change(uri, changes_of(content_changes), version)
        self.schedule_save()

    def close(self, uri: str) -> None:
        self.tracker.close(uri)

    # -- waiting for the editor -------------------------------------------------------------------

    def _applied(self, utterance: Utterance) -> None:
        event = self._waiters.get(utterance.id)
        if event is not None:
            event.set()

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
        rows = [(u.id, tracker.current_range(u), tracker.version(u.uri)) for u in dirty]
        try:
            await self._blocking(store.update_ranges, rows)
        except Exception as exc:  # noqa: BLE001 - positions are a convenience; the text is saved
            logger.warning("Could not save %d moved utterance ranges: %s", len(rows), exc)

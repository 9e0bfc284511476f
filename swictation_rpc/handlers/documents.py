"""Document sync, so the server knows where each utterance is now (undo, refine, scratch that).

The editor tells us about document changes (``textDocument/didOpen``, incremental ``didChange``,
``didClose``); :class:`~swictation_rpc.text.tracking.UtteranceTracker` follows every utterance's
range through them. Ranges that moved are saved in the history (with the document version) a
moment after the typing stops, in one transaction, so typing above dictated text does not write
to the disk on every keystroke.

Sync is offered to the editor by dynamic registration (``client/registerCapability``) right after
``initialized``, for ``file:`` and ``untitled:`` documents, when the client supports it and the
static capabilities do not already ask for it. Editors that sync nothing still get correct
results for the text as inserted (ranges then stay where the server put them).

Registered by :mod:`swictation_rpc.handlers.history` (the server loads a fixed list of handler
modules).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from swictation_rpc.text.tracking import Utterance, UtteranceTracker, changes_of

if TYPE_CHECKING:
    from swictation_rpc.server import SwictationServer

logger = logging.getLogger(__name__)

#: Ranges that moved are saved this long after the last change (typing is coalesced).
SAVE_DELAY_S = 1.0
#: Documents the editor is asked to sync (dynamic registration).
SYNC_SELECTOR = [types.TextDocumentFilterScheme(scheme="file"), types.TextDocumentFilterScheme(scheme="untitled")]
#: A client that does not answer ``client/registerCapability`` within this long is not waited on.
REGISTER_TIMEOUT_S = 10.0


class Utterances:
    """The server's utterance tracking: the tracker, waiters for applied edits, delayed saving."""

    def __init__(self, ls: SwictationServer):
        self._ls = ls
        self.tracker = UtteranceTracker()
        self.tracker.on_applied = self._applied
        self._waiters: dict[str, asyncio.Event] = {}
        self._save_handle: asyncio.TimerHandle | None = None

    def _applied(self, utterance: Utterance) -> None:
        event = self._waiters.get(utterance.id)
        if event is not None:
            event.set()

    async def wait_applied(self, utterance_id: str, timeout: float) -> bool:
        """Wait until the editor applied the edit the server sent for the utterance.

        True at once in documents the editor does not sync (nothing to wait for); false if the
        utterance is not followed or its edit did not show up within ``timeout``.
        """
        utterance = self.tracker.get(utterance_id)
        if utterance is None:
            return False
        if utterance.expect is None or not self.tracker.is_synced(utterance.uri):
            return True
        event = self._waiters.setdefault(utterance_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            self._waiters.pop(utterance_id, None)
        utterance = self.tracker.get(utterance_id)
        return utterance is not None and utterance.expect is None

    # -- saving moved ranges ----------------------------------------------------------------------

    def schedule_save(self) -> None:
        loop = self._ls.loop
        if loop is None or self._save_handle is not None or self._ls.history is None:
            return
        self._save_handle = loop.call_later(SAVE_DELAY_S, self._save_soon)

    def _save_soon(self) -> None:
        self._save_handle = None
        asyncio.ensure_future(self.save())

    async def save(self) -> None:
        """Write the ranges that moved (and the document versions) to the history."""
        store = self._ls.history
        dirty = self.tracker.take_dirty()
        if store is None or not dirty:
            return
        rows = [(u.id, self.tracker.current_range(u), self.tracker.version(u.uri)) for u in dirty]
        from swictation_rpc.handlers.dictation import run_blocking

        try:
            await run_blocking(self._ls, store.update_ranges, rows)
        except Exception as exc:  # noqa: BLE001 - positions are a convenience; the text is saved
            logger.warning("Could not save %d moved utterance ranges: %s", len(rows), exc)


def register(server: SwictationServer) -> None:
    server.utterances = Utterances(server)  # type: ignore[attr-defined]
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)


def utterances(ls: Any) -> Utterances | None:
    """The server's tracking, if this module is registered on it (in the agreed position encoding)."""
    tracking = getattr(ls, "utterances", None)
    if not isinstance(tracking, Utterances):
        return None
    tracking.tracker.encoding = position_encoding(ls)
    return tracking


def position_encoding(ls: Any) -> str:
    """The ``positionEncoding`` agreed at initialize (``utf-16`` unless the client asked otherwise)."""
    capabilities = getattr(getattr(ls, "protocol", None), "server_capabilities", None)
    encoding = getattr(capabilities, "position_encoding", None)
    value = getattr(encoding, "value", encoding)
    return value if value in ("utf-8", "utf-16", "utf-32") else "utf-16"


def did_open(ls: SwictationServer, params: types.DidOpenTextDocumentParams) -> None:
    tracking = utterances(ls)
    if tracking is None:
        return
    doc = params.text_document
    tracking.tracker.open(doc.uri, doc.text, doc.version, doc.language_id)
    tracking.schedule_save()


def did_change(ls: SwictationServer, params: types.DidChangeTextDocumentParams) -> None:
    tracking = utterances(ls)
    if tracking is None:
        return
    doc = params.text_document
    tracking.tracker.change(doc.uri, changes_of(params.content_changes), doc.version)
    tracking.schedule_save()


def did_close(ls: SwictationServer, params: types.DidCloseTextDocumentParams) -> None:
    tracking = utterances(ls)
    if tracking is not None:
        tracking.tracker.close(params.text_document.uri)


# -- asking the editor to sync ---------------------------------------------------------------------


def _static_sync_is_incremental(ls: SwictationServer) -> bool:
    capabilities = getattr(ls.protocol, "server_capabilities", None)
    sync = getattr(capabilities, "text_document_sync", None)
    if isinstance(sync, types.TextDocumentSyncOptions):
        return bool(sync.open_close) and sync.change == types.TextDocumentSyncKind.Incremental
    return sync == types.TextDocumentSyncKind.Incremental


def _client_registers_sync(ls: SwictationServer) -> bool:
    text_document = getattr(getattr(ls.protocol, "client_capabilities", None), "text_document", None)
    synchronization = getattr(text_document, "synchronization", None)
    return bool(synchronization and synchronization.dynamic_registration)


def sync_registrations() -> list[types.Registration]:
    """didOpen, incremental didChange and didClose for :data:`SYNC_SELECTOR`."""
    selector = types.TextDocumentRegistrationOptions(document_selector=SYNC_SELECTOR)
    return [
        types.Registration(
            id=f"swictation-{uuid.uuid4().hex[:8]}", method=types.TEXT_DOCUMENT_DID_OPEN, register_options=selector
        ),
        types.Registration(
            id=f"swictation-{uuid.uuid4().hex[:8]}",
            method=types.TEXT_DOCUMENT_DID_CHANGE,
            register_options=types.TextDocumentChangeRegistrationOptions(
                sync_kind=types.TextDocumentSyncKind.Incremental, document_selector=SYNC_SELECTOR
            ),
        ),
        types.Registration(
            id=f"swictation-{uuid.uuid4().hex[:8]}", method=types.TEXT_DOCUMENT_DID_CLOSE, register_options=selector
        ),
    ]


async def request_sync(ls: SwictationServer) -> bool:
    """Ask the editor to sync documents (dynamic registration); true if it agreed.

    Nothing is asked when the static capabilities already request incremental sync, or when the
    client cannot register sync dynamically (Neovim 0.11 cannot: it then syncs per the static
    capabilities, and its plugin follows its own insertions with extmarks).
    """
    if utterances(ls) is None or _static_sync_is_incremental(ls) or not _client_registers_sync(ls):
        return False
    try:
        await asyncio.wait_for(
            ls.client_register_capability_async(types.RegistrationParams(registrations=sync_registrations())),
            REGISTER_TIMEOUT_S,
        )
    except Exception as exc:  # noqa: BLE001 - tracking is best effort; dictation works without it
        logger.info("The editor did not register document sync (%s): utterance ranges stay as inserted", exc)
        return False
    logger.info("Document sync registered: utterance ranges follow edits")
    return True

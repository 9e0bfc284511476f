"""Document sync, so the server knows where each utterance is now (undo, refine, scratch that).

``textDocument/didOpen``, incremental ``didChange`` and ``didClose`` feed
:class:`~swictation_rpc.utterances.documents.DocumentTracking`.

Sync is offered to the editor by dynamic registration (``client/registerCapability``) right after
``initialized`` (:func:`request_sync`), for ``file:`` and ``untitled:`` documents, when the client
supports it and the static capabilities do not already ask for it. Editors that sync nothing
still get correct results for the text as inserted (ranges then stay where the server put them).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from swictation_rpc.handlers.base import Server

logger = logging.getLogger(__name__)

#: Documents the editor is asked to sync (dynamic registration).
SYNC_SELECTOR = [types.TextDocumentFilterScheme(scheme="file"), types.TextDocumentFilterScheme(scheme="untitled")]
#: A client that does not answer ``client/registerCapability`` within this long is not waited on.
REGISTER_TIMEOUT_S = 10.0


def did_open(ls: Server, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    ls.documents.open(doc.uri, doc.text, doc.version, doc.language_id)


def did_change(ls: Server, params: types.DidChangeTextDocumentParams) -> None:
    doc = params.text_document
    ls.documents.change(doc.uri, params.content_changes, doc.version)


def did_close(ls: Server, params: types.DidCloseTextDocumentParams) -> None:
    ls.documents.close(params.text_document.uri)


def did_save(ls: Server, params: types.DidSaveTextDocumentParams) -> None:
    ls.documents.saved(params.text_document.uri)


FEATURES: dict[str, Callable[..., Any]] = {
    types.TEXT_DOCUMENT_DID_OPEN: did_open,
    types.TEXT_DOCUMENT_DID_CHANGE: did_change,
    types.TEXT_DOCUMENT_DID_CLOSE: did_close,
    types.TEXT_DOCUMENT_DID_SAVE: did_save,
}


# -- asking the editor to sync ---------------------------------------------------------------------


def sync_registrations() -> list[types.Registration]:
    """didOpen, incremental didChange, didClose and didSave for :data:`SYNC_SELECTOR`."""
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
        types.Registration(
            id=f"swictation-{uuid.uuid4().hex[:8]}",
            method=types.TEXT_DOCUMENT_DID_SAVE,
            register_options=types.TextDocumentSaveRegistrationOptions(
                document_selector=SYNC_SELECTOR, include_text=False
            ),
        ),
    ]


async def request_sync(ls: Server) -> bool:
    """Ask the editor to sync documents (dynamic registration); true if it agreed.

    Nothing is asked when the static capabilities already request incremental sync, or when the
    client cannot register sync dynamically (Neovim 0.11 cannot: it then syncs per the static
    capabilities, and its plugin follows its own insertions with extmarks).
    """
    if ls.static_sync_is_incremental() or not ls.registers_sync():
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

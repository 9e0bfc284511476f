"""The utterance history over the wire: list it, undo an utterance, transcribe or insert one again.

``swictation/history`` lists the newest utterances with their *current* ranges (followed through
the document's changes), undone ones too with ``includeUndone``. ``undoUtterance`` answers the
edit that deletes an utterance's text and ``retranscribe`` the edit that replaces it with a new
decode of its saved audio, each only if the utterance's text is still exactly where it was put
(otherwise a ``reason``); both name the document (``uri``) and its ``version``.
``insertUtterance`` inserts a history item again at a cursor, as a new utterance, and
``utteranceEditApplied`` is the client's word that it applied (or refused) such an edit. The work
is :class:`~swictation_rpc.utterances.service.UtteranceService`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from swictation_rpc.handlers.base import Server
from swictation_rpc.protocol import (
    HISTORY,
    INSERT_UTTERANCE,
    RETRANSCRIBE,
    UNDO_UTTERANCE,
    UTTERANCE_EDIT_APPLIED,
    HistoryParams,
    HistoryResult,
    InsertUtteranceParams,
    RetranscribeParams,
    RetranscribeResult,
    TranscribeResult,
    UndoUtteranceParams,
    UndoUtteranceResult,
    UtteranceEditAppliedParams,
    UtteranceEditAppliedResult,
)

#: The most items one ``swictation/history`` answers.
MAX_LIMIT = 1000


async def history(ls: Server, params: HistoryParams) -> HistoryResult:
    if params.limit < 0:
        raise JsonRpcInvalidParams(f"Invalid params: limit must be >= 0, got {params.limit} @ $.limit")
    items = await ls.utterances.list(min(params.limit, MAX_LIMIT), include_undone=params.include_undone)
    return HistoryResult(items=items)


async def undo_utterance(ls: Server, params: UndoUtteranceParams) -> UndoUtteranceResult:
    return await ls.utterances.undo(params.id)


async def retranscribe(ls: Server, params: RetranscribeParams) -> RetranscribeResult:
    return await ls.utterances.retranscribe(params.id, params.mode)


async def insert_utterance(ls: Server, params: InsertUtteranceParams) -> TranscribeResult:
    return await ls.utterances.insert(params.utterance_id, params.text_document.uri, params.position, params.context)


async def utterance_edit_applied(ls: Server, params: UtteranceEditAppliedParams) -> UtteranceEditAppliedResult:
    return await ls.utterances.edit_applied(params.utterance_id, params.kind, params.applied, params.failure_reason)


FEATURES: dict[str, Callable[..., Any]] = {
    HISTORY: history,
    UNDO_UTTERANCE: undo_utterance,
    RETRANSCRIBE: retranscribe,
    INSERT_UTTERANCE: insert_utterance,
    UTTERANCE_EDIT_APPLIED: utterance_edit_applied,
}

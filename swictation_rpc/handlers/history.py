"""The utterance history over the wire: list it, undo an utterance, transcribe one again.

``swictation/history`` lists the newest utterances with their *current* ranges (followed through
the document's changes); ``undoUtterance`` answers the edit that deletes an utterance's current
text, wherever it moved, and marks it removed; ``retranscribe`` decodes an utterance's saved audio
again (typically accurate after fast) and answers edits that replace its current text. The work
is :class:`~swictation_rpc.utterances.service.UtteranceService`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from swictation_rpc.handlers.base import Server
from swictation_rpc.protocol import (
    HISTORY,
    RETRANSCRIBE,
    UNDO_UTTERANCE,
    HistoryParams,
    HistoryResult,
    RetranscribeParams,
    TranscribeResult,
    UndoUtteranceParams,
    UndoUtteranceResult,
)

#: The most items one ``swictation/history`` answers.
MAX_LIMIT = 1000


async def history(ls: Server, params: HistoryParams) -> HistoryResult:
    if params.limit < 0:
        raise JsonRpcInvalidParams(f"Invalid params: limit must be >= 0, got {params.limit} @ $.limit")
    return HistoryResult(items=await ls.utterances.list(min(params.limit, MAX_LIMIT)))


async def undo_utterance(ls: Server, params: UndoUtteranceParams) -> UndoUtteranceResult:
    return await ls.utterances.undo(params.id)


async def retranscribe(ls: Server, params: RetranscribeParams) -> TranscribeResult:
    return await ls.utterances.retranscribe(params.id, params.mode)


FEATURES: dict[str, Callable[..., Any]] = {
    HISTORY: history,
    UNDO_UTTERANCE: undo_utterance,
    RETRANSCRIBE: retranscribe,
}

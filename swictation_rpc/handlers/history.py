"""The utterance history over the wire: list it, undo an utterance, transcribe one again.

``swictation/history`` lists the newest utterances with their *current* ranges (followed through
the document's changes, see :mod:`swictation_rpc.handlers.documents`); ``undoUtterance`` answers
the edit that deletes an utterance's current text, wherever it moved, and marks it removed;
``retranscribe`` decodes an utterance's saved audio again (typically accurate after fast) and
answers edits that replace its current text.

This module also registers document tracking (the server loads a fixed list of handler modules).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from lsprotocol.types import Range, TextEdit
from pygls.exceptions import JsonRpcInvalidParams

from swictation_rpc.errors import AudioUnreadableError, SwictationError
from swictation_rpc.handlers import documents
from swictation_rpc.handlers.dictation import (
    apply_edit,
    client_can_apply_edit,
    format_result,
    hotwords_for_context,
    run_blocking,
)
from swictation_rpc.protocol import (
    HISTORY,
    RETRANSCRIBE,
    UNDO_UTTERANCE,
    HistoryParams,
    HistoryResult,
    RetranscribeParams,
    TextContext,
    Timings,
    TranscribeResult,
    UndoUtteranceParams,
    UndoUtteranceResult,
)

if TYPE_CHECKING:
    from swictation_rpc.server import SwictationServer

logger = logging.getLogger(__name__)

#: The most items one ``swictation/history`` answers.
MAX_LIMIT = 1000
#: Characters of document text around an utterance used to format a retranscription.
CONTEXT_CHARS = 200


def register(server: SwictationServer) -> None:
    documents.register(server)
    server.feature(HISTORY)(history)
    server.feature(UNDO_UTTERANCE)(undo_utterance)
    server.feature(RETRANSCRIBE)(retranscribe)


def _current_range(ls: SwictationServer, utterance_id: str, saved: Range | None) -> Range | None:
    """Where the utterance's text is now: followed if we can, else where the history saw it last."""
    tracking = documents.utterances(ls)
    utterance = tracking.tracker.get(utterance_id) if tracking is not None else None
    if utterance is None:
        return saved
    return tracking.tracker.current_range(utterance)


async def history(ls: SwictationServer, params: HistoryParams) -> HistoryResult:
    if params.limit < 0:
        raise JsonRpcInvalidParams(f"Invalid params: limit must be >= 0, got {params.limit} @ $.limit")
    if ls.history is None:
        return HistoryResult()
    items = await run_blocking(ls, ls.history.list, min(params.limit, MAX_LIMIT))
    for item in items:
        item.range = _current_range(ls, item.id, item.range)
    return HistoryResult(items=items)


async def undo_utterance(ls: SwictationServer, params: UndoUtteranceParams) -> UndoUtteranceResult:
    """Delete the utterance's current text (the newest one not undone when no id is given).

    An utterance already undone, or whose text the user already deleted, gives no edits.
    """
    store = ls.history
    if store is None:
        return UndoUtteranceResult()
    utterance_id = params.id
    if utterance_id is None:
        last = await run_blocking(ls, store.last)
        if last is None:
            return UndoUtteranceResult()
        utterance_id = last.id
    entry = await run_blocking(ls, store.entry, utterance_id)  # UtteranceNotFoundError if unknown
    if entry.removed:
        logger.info("Utterance %s was already undone", utterance_id)
        return UndoUtteranceResult(id=utterance_id)
    rng = _current_range(ls, utterance_id, entry.item.range)
    edits = [TextEdit(range=rng, new_text="")] if rng is not None and rng.start != rng.end else []
    tracking = documents.utterances(ls)
    if tracking is not None:
        tracking.tracker.forget(utterance_id)
    await run_blocking(ls, store.mark_removed, utterance_id)
    logger.info("Undo utterance %s: %s", utterance_id, "deleting its text" if edits else "its text is already gone")
    return UndoUtteranceResult(edits=edits, id=utterance_id)


async def retranscribe(ls: SwictationServer, params: RetranscribeParams) -> TranscribeResult:
    """Decode the utterance's saved audio again; the edits replace its current text.

    No edits when the utterance was undone or its text is gone (the text is in the result). The
    history keeps the new text, mode and model.
    """
    store = ls.history
    if store is None:
        raise AudioUnreadableError("The history is not open", remedy="Initialize the server first.")
    started = time.perf_counter()
    entry = await run_blocking(ls, store.entry, params.id)  # UtteranceNotFoundError if unknown
    audio = await run_blocking(ls, store.audio, params.id)
    if audio is None:
        raise AudioUnreadableError(
            f"The audio of utterance {params.id} was not kept, so it cannot be transcribed again",
            remedy="Set swictation.history.keepAudio to true (it applies to new utterances).",
            id=params.id,
        )
    item = entry.item
    tracking = documents.utterances(ls)
    utterance = tracking.tracker.get(params.id) if tracking is not None else None
    context = utterance.context if utterance is not None else None
    ls.transcribing += 1
    ls.publish_state()
    try:
        engine = await ls.ensure_engine(wait=True)
        transcript = await run_blocking(
            ls, engine.transcribe, audio, params.mode, final=True, hotwords=hotwords_for_context(context)
        )
    finally:
        ls.transcribing -= 1
        ls.publish_state()
    rng = None if entry.removed else _current_range(ls, params.id, item.range)
    if rng is not None and item.uri is not None and tracking is not None:
        context = _context_now(tracking, item.uri, rng, context)
    text = format_result(ls, transcript.text, context).text if transcript.text else ""
    timings = Timings(
        audio_ms=transcript.timings.audio_ms,
        decode_ms=transcript.timings.decode_ms,
        total_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    result = TranscribeResult(
        text=text, mode=transcript.mode, model=transcript.model, timings=timings, utterance_id=params.id
    )
    if not text:
        return result  # nothing recognised: the old text stays
    new_range = None
    if rng is not None and item.uri is not None:
        result.edits = [TextEdit(range=rng, new_text=text)]
        new_range = tracking.tracker.replace(params.id, text) if utterance is not None and tracking else None
        if new_range is None:
            from swictation_rpc.text.ranges import inserted_range

            new_range = inserted_range(rng.start, text, documents.position_encoding(ls))
    try:
        version = tracking.tracker.version(item.uri) if tracking is not None and item.uri else None
        await run_blocking(
            ls,
            store.update_text_and_range,
            params.id,
            text,
            new_range if rng is not None else item.range,
            document_version=version,
            mode=transcript.mode,
            model=transcript.model,
            timings=timings,
        )
    except SwictationError as exc:
        logger.warning("Could not save the new text of %s: %s", params.id, exc)
    if result.edits and item.uri and ls.options.apply_edits == "server" and client_can_apply_edit(ls):
        if await apply_edit(ls, item.uri, result.edits):
            result.edits, result.applied_by_server = [], True
        elif tracking is not None:
            tracking.tracker.cancel_expectation(params.id)
    return result


def _context_now(
    tracking: documents.Utterances, uri: str, rng: Range, context: TextContext | None
) -> TextContext | None:
    """The text around the utterance as the document reads now (identifiers from dictation time)."""
    around = tracking.tracker.around(uri, rng, CONTEXT_CHARS)
    if around is None:
        return context
    before, after = around
    return TextContext(
        before=before,
        after=after,
        language_id=(context.language_id if context else None) or tracking.tracker.language_id(uri),
        identifiers=list(context.identifiers) if context else [],
    )

"""The one utterance pipeline: format for the cursor -> save to history -> track -> apply or return.

Every path that puts recognised text into a document goes through :class:`UtteranceService`: a
new utterance (:meth:`~UtteranceService.deliver`, after ``transcribe`` or a microphone session),
the accurate second pass (:class:`~swictation_rpc.utterances.refine.Refiner`), a transcription
again from the saved audio (:meth:`~UtteranceService.retranscribe`), undo and "scratch that". The
order is always the same: the text is formatted for the text around the cursor, saved in the
history *before* the edit goes out (so the words survive a crash), followed through the
document's changes (:class:`~swictation_rpc.utterances.documents.DocumentTracking`), then either
applied by the server with ``workspace/applyEdit`` (``applyEdits: "server"``, when the client
can) or returned as ``edits`` for the client to apply
(:class:`~swictation_rpc.utterances.edits.EditSender`). Checks that every edit of an earlier
utterance must pass (against the synced document, with its uri and version) belong here and in
the refiner, the only places such edits are made.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from lsprotocol import types
from lsprotocol.types import Position, Range, TextEdit

from swictation_rpc.audio.io import audio_from_input
from swictation_rpc.errors import AudioUnreadableError, HistoryWriteError, SwictationError
from swictation_rpc.options import Mode
from swictation_rpc.protocol import (
    AudioInput,
    HistoryItem,
    TextContext,
    Timings,
    TranscribeResult,
    Transcript,
    UndoUtteranceResult,
)
from swictation_rpc.text.ranges import follow_edit, inserted_range
from swictation_rpc.utterances.documents import DocumentTracking
from swictation_rpc.utterances.edits import EditSender
from swictation_rpc.utterances.fitting import (
    format_for_cursor,
    hints_for_context,
    key,
    refine_plan,
    without_scratched,
)
from swictation_rpc.utterances.ports import Blocking, Client, Engine, EngineSource, HistoryGetter, OptionsGetter
from swictation_rpc.utterances.refine import Refiner

logger = logging.getLogger(__name__)

#: Characters of document text around an utterance used to format a retranscription.
CONTEXT_CHARS = 200


class UtteranceService:
    """Utterances from recognised text to edits, and every later change to them."""

    def __init__(
        self,
        *,
        engines: EngineSource,
        client: Client,
        blocking: Blocking,
        options: OptionsGetter,
        history: HistoryGetter,
        documents: DocumentTracking,
    ):
        self.engines = engines
        self.client = client
        self.blocking = blocking
        self.options = options
        self.history = history
        self.documents = documents
        #: Decodes of requests in flight (the server's state is ``transcribing`` while above 0).
        self.transcribing = 0
        self.edits = EditSender(client, options)
        self.refiner = Refiner(
            client=client, edits=self.edits, blocking=blocking, options=options, history=history, documents=documents
        )

    # -- new utterances ---------------------------------------------------------------------------

    async def transcribe(
        self,
        audio_input: AudioInput,
        uri: str,
        position: Position,
        context: TextContext | None,
        mode: Mode | None,
        *,
        wait_for_engine: bool,
    ) -> TranscribeResult:
        """Decode a file or inline PCM and deliver it at ``position`` (refined later if planned)."""
        if not wait_for_engine:
            await self.engines.ensure(wait=False)
        started = time.perf_counter()
        hints = hints_for_context(context, self.options())
        with self._decoding():
            # Read while the engine may still be loading: a bad file fails without waiting for it.
            audio = await self.blocking(audio_from_input, audio_input)
            read_ms = (time.perf_counter() - started) * 1000
            engine = await self.engines.ensure(wait=True)
            mode, refine = refine_plan(self.options(), engine, mode or self.options().default_mode)
            transcript = await self.blocking(engine.transcribe, audio, mode, final=True, **hints)
        transcript.timings = Timings(
            audio_ms=transcript.timings.audio_ms,
            decode_ms=transcript.timings.decode_ms,
            total_ms=round(transcript.timings.total_ms + read_ms, 2),
        )
        result = await self.deliver(transcript, uri, position, context, audio)
        if refine:
            self.refiner.start(engine, result, uri, context, audio)
        return result

    async def deliver(
        self,
        transcript: Transcript,
        uri: str,
        position: Position,
        context: TextContext | None,
        audio: np.ndarray | None = None,
    ) -> TranscribeResult:
        """The result for one utterance: the text as an insertion at ``position``.

        The utterance is saved in the history (text, place, audio) before the result goes out; a
        history that cannot be written is reported, and the text is delivered all the same. It is
        then followed through the document's changes.

        "scratch that" said first removes the previous utterance of the document: ``edits`` then
        also delete its current range (and the history marks it removed).

        With ``applyEdits: "server"`` and a client that can apply workspace edits, the server
        applies the edit itself and returns no ``edits`` (so no client inserts the text twice); if
        the client refuses or does not answer, the edits are returned for it to apply.
        """
        options = self.options()
        heard = {"words": getattr(transcript, "words", None), "language": transcript.language}
        formatted = format_for_cursor(transcript.text, context, options, **heard) if transcript.text else None
        scratched: tuple[str, Range] | None = None
        if formatted is not None and formatted.scratch_that:
            scratched = await self.previous_utterance(uri)
            if scratched is None:
                logger.info("'scratch that' heard, but no earlier utterance of %s is known", uri)
            else:
                # Lay the rest out as if the scratched text were already gone.
                fitted = without_scratched(context, position, scratched[1], await self._text_of(scratched[0]))
                if fitted is not context:
                    formatted = format_for_cursor(transcript.text, fitted, options, **heard)
        text = formatted.text if formatted is not None else ""
        edits: list[TextEdit] = []
        insert_at = position
        if scratched is not None:
            removed = scratched[1]
            if key(removed.start) < key(position) < key(removed.end):
                # The cursor is inside the scratched text: one edit replaces it (edits must not overlap).
                insert_at = removed.start
                edits.append(TextEdit(range=removed, new_text=text))
            else:
                edits.append(TextEdit(range=removed, new_text=""))
                if text:
                    edits.append(TextEdit(range=Range(start=position, end=position), new_text=text))
            await self._forget(scratched[0])
        elif text:
            edits.append(TextEdit(range=Range(start=position, end=position), new_text=text))
        result = TranscribeResult(
            text=text,
            mode=transcript.mode,
            model=transcript.model,
            timings=transcript.timings,
            edits=edits,
            language=transcript.language,
        )
        if text and self.history() is not None:
            # Where the text will be once all the edits are applied (the deletion may move it).
            saved_at = insert_at
            if scratched is not None and len(edits) == 2:
                moved, _ = follow_edit(
                    Range(start=position, end=position), scratched[1], "", self.client.position_encoding()
                )
                saved_at = moved.start if moved is not None else position
            result.utterance_id = await self._record(result, audio, uri, saved_at)
            if result.utterance_id:
                tracker = self.documents.tracker
                # A synced document reports each edit (in its own coordinates); otherwise assume them applied.
                at = insert_at if tracker.is_synced(uri) else saved_at
                tracker.track(result.utterance_id, uri, at, text, context)
        if edits and await self.edits.apply_if_server_applies(uri, edits):
            result.edits, result.applied_by_server = [], True
        return result

    async def _record(
        self, result: TranscribeResult, audio: np.ndarray | None, uri: str, position: Position
    ) -> str | None:
        store = self.history()
        if store is None:
            return None
        try:
            return await self.blocking(
                store.add,
                result.text,
                audio,
                uri=uri,
                range=inserted_range(position, result.text, self.client.position_encoding()),
                mode=result.mode,
                model=result.model,
                timings=result.timings,
                document_version=self.documents.tracker.version(uri),
            )
        except HistoryWriteError as exc:
            logger.warning("%s", exc)
            self.client.show_message(f"Swictation: {exc.message}. {exc.remedy}".strip(), types.MessageType.Warning)
            return None

    # -- earlier utterances -----------------------------------------------------------------------

    async def previous_utterance(self, uri: str) -> tuple[str, Range] | None:
        """The newest utterance of the document still in it, with its current range."""
        tracker = self.documents.tracker
        utterance = tracker.latest(uri)
        rng = tracker.current_range(utterance) if utterance is not None else None
        if utterance is not None and rng is not None:
            return utterance.id, rng
        store = self.history()
        if store is None:
            return None
        items = await self.blocking(store.list, 50)
        for item in items:
            if item.uri != uri or item.id in tracker:
                continue  # followed ones were considered above (gone, or not inserted yet)
            # Not followed (older than the tracker keeps, or from before a restart): where it was saved.
            return (item.id, item.range) if item.range is not None else None
        return None

    async def _text_of(self, utterance_id: str) -> str | None:
        utterance = self.documents.tracker.get(utterance_id)
        if utterance is not None:
            return utterance.expect if utterance.expect is not None else utterance.text
        store = self.history()
        if store is None:
            return None
        try:
            return (await self.blocking(store.get, utterance_id)).text
        except Exception:  # noqa: BLE001
            return None

    async def _forget(self, utterance_id: str) -> None:
        """The utterance is being deleted from its document: stop following it, mark it removed."""
        self.documents.tracker.forget(utterance_id)
        store = self.history()
        if store is None:
            return
        try:
            await self.blocking(store.mark_removed, utterance_id)
        except SwictationError as exc:
            logger.warning("Could not mark utterance %s removed: %s", utterance_id, exc)

    async def list(self, limit: int) -> list[HistoryItem]:
        """The newest ``limit`` utterances, with their *current* ranges."""
        store = self.history()
        if store is None:
            return []
        items = await self.blocking(store.list, limit)
        for item in items:
            item.range = self.documents.current_range(item.id, item.range)
        return items

    async def undo(self, utterance_id: str | None) -> UndoUtteranceResult:
        """Delete the utterance's current text (the newest one not undone when no id is given).

        An utterance already undone, or whose text the user already deleted, gives no edits.
        """
        store = self.history()
        if store is None:
            return UndoUtteranceResult()
        if utterance_id is None:
            last = await self.blocking(store.last)
            if last is None:
                return UndoUtteranceResult()
            utterance_id = last.id
        entry = await self.blocking(store.entry, utterance_id)  # UtteranceNotFoundError if unknown
        if entry.removed:
            logger.info("Utterance %s was already undone", utterance_id)
            return UndoUtteranceResult(id=utterance_id)
        rng = self.documents.current_range(utterance_id, entry.item.range)
        edits = [TextEdit(range=rng, new_text="")] if rng is not None and rng.start != rng.end else []
        self.documents.tracker.forget(utterance_id)
        await self.blocking(store.mark_removed, utterance_id)
        logger.info("Undo utterance %s: %s", utterance_id, "deleting its text" if edits else "its text is already gone")
        return UndoUtteranceResult(edits=edits, id=utterance_id)

    async def retranscribe(self, utterance_id: str, mode: Mode) -> TranscribeResult:
        """Decode the utterance's saved audio again; the edits replace its current text.

        No edits when the utterance was undone or its text is gone (the text is in the result). The
        history keeps the new text, mode and model.
        """
        store = self.history()
        if store is None:
            raise AudioUnreadableError("The history is not open", remedy="Initialize the server first.")
        started = time.perf_counter()
        entry = await self.blocking(store.entry, utterance_id)  # UtteranceNotFoundError if unknown
        audio = await self.blocking(store.audio, utterance_id)
        if audio is None:
            raise AudioUnreadableError(
                f"The audio of utterance {utterance_id} was not kept, so it cannot be transcribed again",
                remedy="Set swictation.history.keepAudio to true (it applies to new utterances).",
                id=utterance_id,
            )
        item = entry.item
        tracker = self.documents.tracker
        utterance = tracker.get(utterance_id)
        context = utterance.context if utterance is not None else None
        with self._decoding():
            engine = await self.engines.ensure(wait=True)
            transcript = await self.blocking(
                engine.transcribe, audio, mode, final=True, **hints_for_context(context, self.options())
            )
        rng = None if entry.removed else self.documents.current_range(utterance_id, item.range)
        if rng is not None and item.uri is not None:
            context = self._context_now(item.uri, rng, context)
        heard = {"words": getattr(transcript, "words", None), "language": transcript.language}
        text = format_for_cursor(transcript.text, context, self.options(), **heard).text if transcript.text else ""
        timings = Timings(
            audio_ms=transcript.timings.audio_ms,
            decode_ms=transcript.timings.decode_ms,
            total_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        result = TranscribeResult(
            text=text,
            mode=transcript.mode,
            model=transcript.model,
            timings=timings,
            utterance_id=utterance_id,
            language=transcript.language,
        )
        if not text:
            return result  # nothing recognised: the old text stays
        new_range = None
        if rng is not None and item.uri is not None:
            result.edits = [TextEdit(range=rng, new_text=text)]
            new_range = tracker.replace(utterance_id, text) if utterance is not None else None
            if new_range is None:
                new_range = inserted_range(rng.start, text, self.client.position_encoding())
        try:
            await self.blocking(
                store.update_text_and_range,
                utterance_id,
                text,
                new_range if rng is not None else item.range,
                document_version=tracker.version(item.uri) if item.uri else None,
                mode=transcript.mode,
                model=transcript.model,
                timings=timings,
            )
        except SwictationError as exc:
            logger.warning("Could not save the new text of %s: %s", utterance_id, exc)
        if result.edits and item.uri:
            if await self.edits.apply_if_server_applies(item.uri, result.edits):
                result.edits, result.applied_by_server = [], True
            elif self.edits.server_applies():
                tracker.cancel_expectation(utterance_id)
        return result

    def _context_now(self, uri: str, rng: Range, context: TextContext | None) -> TextContext | None:
        """The text around the utterance as the document reads now (identifiers from dictation time)."""
        tracker = self.documents.tracker
        around = tracker.around(uri, rng, CONTEXT_CHARS)
        if around is None:
            return context
        before, after = around
        return TextContext(
            before=before,
            after=after,
            language_id=(context.language_id if context else None) or tracker.language_id(uri),
            identifiers=list(context.identifiers) if context else [],
        )

    def refine_plan(self, engine: Engine, requested: Mode | None) -> tuple[Mode, bool]:
        """The first pass's mode (``None``: the ``defaultMode`` setting) and whether to refine it."""
        options = self.options()
        return refine_plan(options, engine, requested or options.default_mode)

    # -- state ------------------------------------------------------------------------------------

    def _decoding(self) -> _Decoding:
        return _Decoding(self)


class _Decoding:
    """While a request decodes, the server's state is ``transcribing``."""

    def __init__(self, service: UtteranceService):
        self._service = service

    def __enter__(self) -> None:
        self._service.transcribing += 1
        self._service.client.publish_state()

    def __exit__(self, *exc: object) -> None:
        self._service.transcribing -= 1
        self._service.client.publish_state()

"""The one utterance pipeline: format for the cursor -> save to history -> track -> apply or return.

This module is long (about 550 lines) on purpose: it holds every entry into the pipeline (deliver,
retranscribe, undo, scratch that, insert from history), which share one ordering guarantee; what they
use lives in refine, proposals, documents, edits and fitting.

Every path that puts recognised text into a document goes through :class:`UtteranceService`: a
new utterance (:meth:`~UtteranceService.deliver`, after ``transcribe`` or a microphone session),
the accurate second pass (:class:`~swictation_rpc.utterances.refine.Refiner`), a transcription
again from the saved audio (:meth:`~UtteranceService.retranscribe`), undo and "scratch that". The
order is always the same: the text is formatted for the text around the cursor, saved in the
history *before* the edit goes out (so the words survive a crash), followed through the
document's changes (:class:`~swictation_rpc.utterances.documents.DocumentTracking`), then either
applied by the server with ``workspace/applyEdit`` (``applyEdits: "server"``, when the client
can) or returned as ``edits`` for the client to apply
(:class:`~swictation_rpc.utterances.edits.EditSender`).

Edits of earlier utterances (undo, "scratch that", retranscribe; refine in the refiner) are made
only here and in the refiner, and each passes the same gate:

- the utterance is found by its id, never by position, and checked in its document *as synced
  now* (:meth:`~swictation_rpc.utterances.documents.DocumentTracking.check`): its range must read
  exactly its text; otherwise nothing is proposed and the answer says why (``changed``,
  ``not-synced``, ``gone``, ``already-undone``) in one sentence;
- the edit names the document and the version it was checked against (``uri``, ``version``);
- the utterance is marked undone, or gets its new text, only once the edit is applied
  (:class:`~swictation_rpc.utterances.proposals.Proposals`); a refused edit changes nothing;
- retranscribe and refine never overwrite an utterance the user edited: the new text is offered;
- "undo last" is the newest utterance of this editor, undone or not: if it was already undone the
  answer is ``already-undone``, never an older utterance the user did not mean (older ones are
  undone by id, from the history).
"""

from __future__ import annotations

import logging
import time

import numpy as np
from lsprotocol import types
from lsprotocol.types import Position, Range, TextEdit

from swictation_rpc.audio.io import audio_from_input
from swictation_rpc.errors import AudioUnreadableError, HistoryWriteError, SwictationError, UtteranceNotFoundError
from swictation_rpc.history import HistoryEntry
from swictation_rpc.options import Mode
from swictation_rpc.protocol import (
    AudioInput,
    HistoryItem,
    RetranscribeResult,
    TextContext,
    Timings,
    TranscribeResult,
    Transcript,
    UndoUtteranceResult,
    UtteranceEditAppliedResult,
    UtteranceEditKind,
)
from swictation_rpc.text.formatting import FormattedText
from swictation_rpc.text.ranges import follow_edit, inserted_range
from swictation_rpc.utterances.corrections import Corrections
from swictation_rpc.utterances.documents import (
    SURROUNDING_CHARS,
    DocumentTracking,
    Refusal,
    Target,
    document_name,
    refusal,
)
from swictation_rpc.utterances.edits import EditSender
from swictation_rpc.utterances.fitting import (
    format_again,
    format_for_cursor,
    hints_for_context,
    key,
    refine_plan,
    without_scratched,
)
from swictation_rpc.utterances.ports import Blocking, Client, Engine, EngineSource, HistoryGetter, OptionsGetter
from swictation_rpc.utterances.proposals import Proposal, Proposals
from swictation_rpc.utterances.refine import Refiner

logger = logging.getLogger(__name__)

#: "scratch that" looks this many of the newest utterances up to tell whether rotation keeps one.
_ROTATION_LOOKUP = 1000

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
        self.proposals = Proposals(documents, history, blocking)
        #: "Correct that": alternatives, and the chosen one put in place through :meth:`replace`.
        self.corrections = Corrections(self)
        self.refiner = Refiner(
            client=client,
            edits=self.edits,
            blocking=blocking,
            options=options,
            history=history,
            documents=documents,
            proposals=self.proposals,
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
        *,
        formatted: FormattedText | None = None,
    ) -> TranscribeResult:
        """The result for one utterance: the text as an insertion at ``position``.

        ``formatted`` is the text already laid out for the cursor (insert from the history);
        otherwise the transcript is formatted here.

        The utterance is saved in the history (text, place, audio) before the result goes out; a
        history that cannot be written is reported, and the text is delivered all the same. It is
        then followed through the document's changes.

        "scratch that" said first removes the previous utterance of the document, if it passes the
        check of earlier utterances (else the rest is inserted and a message says why): ``edits``
        then also delete its current range, and it is marked undone once that is applied.

        With ``applyEdits: "server"`` and a client that can apply workspace edits, the server
        applies the edit itself and returns no ``edits`` (so no client inserts the text twice); if
        the client refuses or does not answer, the edits are returned for it to apply.
        """
        options = self.options()
        heard = {"words": getattr(transcript, "words", None), "language": transcript.language}
        if formatted is None and transcript.text:
            formatted = format_for_cursor(transcript.text, context, options, **heard)
        if formatted is not None and formatted.correct_that:
            return await self._correct_that(transcript, uri)
        scratched: Target | None = None
        if formatted is not None and formatted.scratch_that:
            scratched = await self._scratch_target(uri, adding=bool(formatted.text))
            if scratched is not None:
                # Lay the rest out as if the scratched text were already gone.
                fitted = without_scratched(context, position, scratched.range, scratched.text)
                if fitted is not context:
                    formatted = format_for_cursor(transcript.text, fitted, options, **heard)
        text = formatted.text if formatted is not None else ""
        edits: list[TextEdit] = []
        insert_at = position
        if scratched is not None:
            removed = scratched.range
            if key(removed.start) < key(position) < key(removed.end):
                # The cursor is inside the scratched text: one edit replaces it (edits must not overlap).
                insert_at = removed.start
                edits.append(TextEdit(range=removed, new_text=text))
            else:
                edits.append(TextEdit(range=removed, new_text=""))
                if text:
                    edits.append(TextEdit(range=Range(start=position, end=position), new_text=text))
            self.proposals.propose(
                scratched.utterance_id, Proposal("undo", scratched.uri, scratched.version, scratched.range)
            )
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
        if scratched is not None:
            result.scratched_utterance_id, result.version = scratched.utterance_id, scratched.version
        if text and self.history() is not None:
            # Where the text will be once all the edits are applied (the deletion may move it).
            saved_at = insert_at
            if scratched is not None and len(edits) == 2:
                moved, _ = follow_edit(
                    Range(start=position, end=position), scratched.range, "", self.client.position_encoding()
                )
                saved_at = moved.start if moved is not None else position
            around = None
            if scratched is None:  # before the deletion of a scratched one, the text around is not yet known
                around = self._surroundings(uri, saved_at, context)
            result.utterance_id = await self._record(result, audio, uri, saved_at, around)
            if result.utterance_id:
                tracker = self.documents.tracker
                # A synced document reports each edit (in its own coordinates); otherwise assume them applied.
                at = insert_at if tracker.is_synced(uri) else saved_at
                tracker.track(result.utterance_id, uri, at, text, context)
        # A deletion of an earlier utterance was checked at a version: the edit holds only there.
        version = scratched.version if scratched is not None else None
        if edits and await self.edits.apply_if_server_applies(uri, edits, version):
            result.edits, result.applied_by_server = [], True
            if scratched is not None:
                await self.proposals.applied(scratched.utterance_id, "undo")
        return result

    async def _correct_that(self, transcript: Transcript, uri: str) -> TranscribeResult:
        """ "correct that" said alone: nothing is inserted; the client opens the previous utterance's
        alternatives (``correct_utterance_id``)."""
        result = TranscribeResult(
            text="",
            mode=transcript.mode,
            model=transcript.model,
            timings=transcript.timings,
            language=transcript.language,
        )
        previous = await self.previous_utterance(uri)
        if previous is None:
            logger.info("'correct that' heard, but no earlier utterance of %s is known", uri)
            self.client.show_message(
                f"Swictation: there is no earlier utterance in {document_name(uri)} to correct.", types.MessageType.Info
            )
        else:
            result.correct_utterance_id = previous[0]
        return result

    async def _scratch_target(self, uri: str, *, adding: bool = False) -> Target | None:
        """The previous utterance of the document, checked; ``None`` (with a message) if it fails.

        Only one the history keeps, also once the new text (``adding``) is saved: its words can be
        inserted again from there. Every "scratch that" that removes nothing says why, in one sentence.
        """
        name = document_name(uri)
        previous = await self.previous_utterance(uri)
        if previous is None:
            logger.info("'scratch that' heard, but no earlier utterance of %s is known", uri)
            self.client.show_message(
                f"Swictation: 'scratch that' found no earlier utterance in {name} to remove.", types.MessageType.Info
            )
            return None
        if not await self._kept_in_history(previous[0], adding=adding):
            logger.info("'scratch that' left utterance %s alone: the history does not keep it", previous[0])
            self.client.show_message(
                f"Swictation: 'scratch that' left the previous utterance in {name} as it is: the history "
                "(history.maxItems) would not keep it, so its words could not be inserted again.",
                types.MessageType.Info,
            )
            return None
        checked = await self._check(previous[0], action="remove")
        if isinstance(checked, Refusal):
            logger.info("'scratch that' left utterance %s alone: %s", previous[0], checked.reason)
            self.client.show_message(f"Swictation: {checked.message}", types.MessageType.Info)
            return None
        return checked

    async def _kept_in_history(self, utterance_id: str, *, adding: bool) -> bool:
        """Whether the history has the utterance, and still will after one more is saved (``adding``):
        rotation (``history.maxItems``) deletes the owner's oldest, removed ones included."""
        store = self.history()
        if store is None:
            return False
        options = getattr(store, "options", None)  # a store without options does not rotate
        if options is None:
            return True
        keep = int(options.max_items) - (1 if adding else 0)
        if keep <= 0:
            return False
        newest = await self.blocking(store.list, min(keep, _ROTATION_LOOKUP), include_removed=True, owner_only=True)
        if any(item.id == utterance_id for item in newest):
            return True
        if keep <= _ROTATION_LOOKUP:
            return False  # older than the newest ``keep``: rotated out, or will be
        try:
            await self.blocking(store.get, utterance_id)
        except UtteranceNotFoundError:
            return False
        return True

    def _surroundings(self, uri: str, position: Position, context: TextContext | None) -> tuple[str, str] | None:
        """The text around the place an utterance goes, for the history (see ``SURROUNDING_CHARS``)."""
        around = self.documents.tracker.around(uri, Range(start=position, end=position), SURROUNDING_CHARS)
        if around is None and context is not None:
            # Not synced: the client's own view of the cursor's surroundings.
            around = (context.before[-SURROUNDING_CHARS:], context.after[:SURROUNDING_CHARS])
        return around

    async def _record(
        self,
        result: TranscribeResult,
        audio: np.ndarray | None,
        uri: str,
        position: Position,
        surroundings: tuple[str, str] | None = None,
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
                surroundings=surroundings,
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
        # Never another editor's, nor one another server of this editor (a second window) is following.
        items = await self.blocking(store.list, 50, owner_only=True, not_running_others=True)
        for item in items:
            if item.uri != uri or item.id in tracker:
                continue  # followed ones were considered above (gone, or not inserted yet)
            # Not followed (older than the tracker keeps, or from before a restart): where it was saved.
            return (item.id, item.range) if item.range is not None else None
        return None

    async def _check(self, utterance_id: str, *, action: str, entry: HistoryEntry | None = None) -> Target | Refusal:
        """The utterance checked in its document now (history looked up only if not followed)."""
        tracker = self.documents.tracker
        utterance = tracker.get(utterance_id)
        if utterance is not None:
            return self.documents.check(utterance_id, utterance.uri, None, None, action=action)
        if entry is None:
            store = self.history()
            if store is None:
                return refusal("gone", None, action=action)
            try:
                entry = await self.blocking(store.entry, utterance_id)
            except UtteranceNotFoundError:
                return refusal("gone", None, action=action)
        item = entry.item
        return self.documents.check(
            utterance_id, item.uri, item.range, item.text, action=action, saved_surroundings=entry.surroundings
        )

    async def list(self, limit: int, *, include_undone: bool = False) -> list[HistoryItem]:
        """The newest ``limit`` utterances, with their *current* ranges (undone ones too, if asked)."""
        await self.proposals.settled()
        store = self.history()
        if store is None:
            return []
        live = await self.blocking(store.list, limit)
        items = live
        if include_undone:
            # The newest ``limit`` of all: any live one among them is also among the newest live ones.
            live_ids = {item.id for item in live}
            items = await self.blocking(store.list, limit, include_removed=True)
            for item in items:
                item.undone = item.id not in live_ids
        for item in items:
            if not item.undone:
                item.range = self.documents.current_range(item.id, item.range)
        return items

    async def undo(self, utterance_id: str | None) -> UndoUtteranceResult:
        """The edit that deletes the utterance's text, if it is still exactly there.

        Without an id: the newest utterance of this editor, undone or not ("undo last" never walks
        back to an older one). The utterance is marked undone once the deletion is applied (see
        :class:`~swictation_rpc.utterances.proposals.Proposals`).
        """
        await self.proposals.settled()
        store = self.history()
        if store is None:
            return UndoUtteranceResult(message="The history is not open yet, so there is nothing to undo.")
        last = utterance_id is None
        if utterance_id is None:
            newest = await self.blocking(store.list, 1, include_removed=True, owner_only=True, not_running_others=True)
            if not newest:
                return UndoUtteranceResult(message="There is nothing to undo: no utterance was dictated yet.")
            utterance_id = newest[0].id
        entry = await self.blocking(store.entry, utterance_id)  # UtteranceNotFoundError if unknown
        item = entry.item
        if entry.removed:
            logger.info("Utterance %s was already undone", utterance_id)
            answer = refusal("already-undone", item.uri, last=last)
            return UndoUtteranceResult(id=utterance_id, uri=item.uri, reason=answer.reason, message=answer.message)
        checked = await self._check(utterance_id, action="remove", entry=entry)
        if isinstance(checked, Refusal):
            logger.info("Undo of %s: nothing proposed (%s)", utterance_id, checked.reason)
            return UndoUtteranceResult(
                id=utterance_id,
                uri=checked.uri or item.uri,
                version=checked.version,
                reason=checked.reason,
                message=checked.message,
            )
        edits = [TextEdit(range=checked.range, new_text="")]
        self.proposals.propose(utterance_id, Proposal("undo", checked.uri, checked.version, checked.range))
        result = UndoUtteranceResult(edits=edits, id=utterance_id, uri=checked.uri, version=checked.version)
        if await self.edits.apply_if_server_applies(checked.uri, edits, checked.version):
            await self.proposals.applied(utterance_id, "undo")
            result.edits, result.applied_by_server = [], True
        logger.info("Undo utterance %s: deleting its text in %s", utterance_id, checked.uri)
        return result

    async def retranscribe(self, utterance_id: str, mode: Mode) -> RetranscribeResult:
        """Decode the utterance's saved audio again; the edits replace its text if it is unchanged.

        When the utterance was edited, undone or is gone (or its document is not synced) there are
        no edits: ``reason`` says why and ``text`` is the new text, offered instead. The history
        gets the new text once the replacement is applied (or at once when the utterance is no
        longer in its document); the text of an utterance the user edited is left as it is.
        """
        started = time.perf_counter()
        entry, transcript, context = await self.decode_saved(utterance_id, mode)
        # Checked after the decode: the user may have typed meanwhile.
        checked = await self.check_for_replace(utterance_id, entry)
        text = self.fit(transcript, checked, context)
        timings = Timings(
            audio_ms=transcript.timings.audio_ms,
            decode_ms=transcript.timings.decode_ms,
            total_ms=round((time.perf_counter() - started) * 1000, 2),
        )
        decoded = Transcript(
            text=text, mode=transcript.mode, model=transcript.model, timings=timings, language=transcript.language
        )
        return await self.replace(utterance_id, entry, checked, decoded, "retranscribe")

    async def decode_saved(self, utterance_id: str, mode: Mode) -> tuple[HistoryEntry, Transcript, TextContext | None]:
        """The utterance's history entry, its saved audio decoded in ``mode`` (raw text), and the
        context it was dictated in. :class:`AudioUnreadableError` when its audio was not kept."""
        store = self.history()
        if store is None:
            raise AudioUnreadableError("The history is not open", remedy="Initialize the server first.")
        await self.proposals.settled()
        entry = await self.blocking(store.entry, utterance_id)  # UtteranceNotFoundError if unknown
        audio = await self.blocking(store.audio, utterance_id)
        if audio is None:
            raise AudioUnreadableError(
                f"The audio of utterance {utterance_id} was not kept, so it cannot be transcribed again",
                remedy="Set swictation.history.keepAudio to true (it applies to new utterances).",
                id=utterance_id,
            )
        utterance = self.documents.tracker.get(utterance_id)
        context = utterance.context if utterance is not None else None
        with self._decoding():
            engine = await self.engines.ensure(wait=True)
            transcript = await self.blocking(
                engine.transcribe, audio, mode, final=True, **hints_for_context(context, self.options())
            )
        return entry, transcript, context

    async def check_for_replace(self, utterance_id: str, entry: HistoryEntry) -> Target | Refusal:
        """The utterance checked in its document now, before its text is replaced."""
        if entry.removed:
            return refusal("already-undone", entry.item.uri, action="replace")
        return await self._check(utterance_id, action="replace", entry=entry)

    def fit(self, transcript: Transcript, checked: Target | Refusal, context: TextContext | None) -> str:
        """A decode's text laid out for the utterance's place (the document around it now, if found)."""
        if isinstance(checked, Target):
            context = self._context_now(checked.uri, checked.range, context)
        heard = {"words": getattr(transcript, "words", None), "language": transcript.language}
        return format_for_cursor(transcript.text, context, self.options(), **heard).text if transcript.text else ""

    async def replace(
        self,
        utterance_id: str,
        entry: HistoryEntry,
        checked: Target | Refusal,
        decoded: Transcript,
        kind: UtteranceEditKind,
    ) -> RetranscribeResult:
        """The edit that replaces a checked utterance's text with ``decoded.text`` (retranscribe,
        "correct that"): proposed, and recorded once applied; refused ones offer the text instead."""
        item = entry.item
        text = decoded.text
        result = RetranscribeResult(
            text=text,
            mode=decoded.mode,
            model=decoded.model,
            timings=decoded.timings,
            utterance_id=utterance_id,
            language=decoded.language,
            uri=item.uri,
        )
        if isinstance(checked, Refusal):
            result.reason, result.message, result.version = checked.reason, checked.message, checked.version
            logger.info("%s of %s: nothing proposed (%s)", kind, utterance_id, checked.reason)
            if text and checked.reason in ("already-undone", "gone"):
                # Not in its document: nothing there depends on the saved text; keep the new one.
                await self._save_retranscribed(utterance_id, item.range, decoded)
            return result
        result.uri, result.version = checked.uri, checked.version
        if not text:
            return result  # nothing recognised: the old text stays
        if text == checked.text:
            await self._save_retranscribed(utterance_id, checked.range, decoded)
            return result  # the same text: nothing to edit
        result.edits = [TextEdit(range=checked.range, new_text=text)]
        self.documents.tracker.replace(utterance_id, text)
        self.proposals.propose(utterance_id, Proposal(kind, checked.uri, checked.version, checked.range, text, decoded))
        if await self.edits.apply_if_server_applies(checked.uri, result.edits, checked.version):
            await self.proposals.applied(utterance_id, kind)
            result.edits, result.applied_by_server = [], True
        return result

    async def _save_retranscribed(self, utterance_id: str, rng: Range | None, decoded: Transcript) -> None:
        store = self.history()
        if store is None:
            return
        try:
            await self.blocking(
                store.update_text_and_range,
                utterance_id,
                decoded.text,
                rng,
                mode=decoded.mode,
                model=decoded.model,
                timings=decoded.timings,
            )
        except SwictationError as exc:
            logger.warning("Could not save the new text of %s: %s", utterance_id, exc)

    async def insert(
        self, utterance_id: str, uri: str, position: Position, context: TextContext | None
    ) -> TranscribeResult:
        """Insert a history item (undone or not) again at ``position``, as a new utterance.

        The text is laid out for the new cursor like a fresh utterance (spacing, sentence capital,
        code's trailing punctuation); spoken commands are not applied again. The copy is saved and
        followed as an utterance of its own (with the original's audio, so it can be transcribed
        again): undo removes the copy, not the original.
        """
        await self.proposals.settled()
        store = self.history()
        if store is None:
            raise UtteranceNotFoundError(
                f"No utterance {utterance_id}: the history is not open", remedy="Initialize the server first."
            )
        entry = await self.blocking(store.entry, utterance_id)  # UtteranceNotFoundError if unknown
        item = entry.item
        audio = await self.blocking(store.audio, utterance_id) if entry.has_audio else None
        formatted = format_again(item.text, context, self.options())
        source = Transcript(text=item.text, mode=item.mode, model=item.model, timings=item.timings)
        logger.info("Inserting utterance %s again in %s", utterance_id, uri)
        return await self.deliver(source, uri, position, context, audio, formatted=formatted)

    async def edit_applied(
        self, utterance_id: str, kind: UtteranceEditKind, applied: bool, failure_reason: str | None = None
    ) -> UtteranceEditAppliedResult:
        """The client applied (or could not apply) an edit of an earlier utterance it was given."""
        await self.proposals.settled()
        store = self.history()
        if store is None:
            return UtteranceEditAppliedResult()
        entry = await self.blocking(store.entry, utterance_id)  # UtteranceNotFoundError if unknown
        if applied:
            if not (kind == "undo" and entry.removed):
                await self.proposals.applied(utterance_id, kind)
        elif self.proposals.withdraw(utterance_id, kind) is not None:
            logger.info("The client did not apply the %s of %s (%s)", kind, utterance_id, failure_reason)
        entry = await self.blocking(store.entry, utterance_id)
        item = entry.item
        item.undone = entry.removed
        if not item.undone:
            item.range = self.documents.current_range(item.id, item.range)
        return UtteranceEditAppliedResult(item=item)

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

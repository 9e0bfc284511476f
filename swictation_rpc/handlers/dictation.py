"""Dictation methods: transcribe a file or inline PCM, and microphone sessions (start/stop/cancel).

Handlers translate and delegate: audio reading and decoding run on the server's thread pool
(``run_blocking``), so the event loop keeps answering (a second ``transcribe`` runs while the first
decodes). Every result carries ``edits``: one zero-width insertion of the text at the position
the request named (the session's position for ``stopDictation``).

A session's callbacks (partial text, state, auto-stop) arrive on capture threads and are moved to
the event loop with :meth:`SwictationServer.call_soon` before anything is sent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define, field
from lsprotocol import types
from lsprotocol.types import Position, Range, TextEdit

from swictation_rpc.errors import (
    AlreadyListeningError,
    AudioDeviceError,
    HistoryWriteError,
    NoActiveSessionError,
    NoInputDeviceError,
    SwictationError,
)
from swictation_rpc.options import Mode, Options
from swictation_rpc.protocol import (
    CANCEL_DICTATION,
    PARTIAL,
    REFINED,
    START_DICTATION,
    STOP_DICTATION,
    TRANSCRIBE,
    CancelDictationParams,
    CancelDictationResult,
    PartialParams,
    RefinedParams,
    StartDictationParams,
    StartDictationResult,
    State,
    StopDictationParams,
    TextContext,
    Timings,
    TranscribeParams,
    TranscribeResult,
    Transcript,
)

if TYPE_CHECKING:
    from swictation_rpc.server import SwictationServer
    from swictation_rpc.text.formatting import FormattedText

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Label of the workspace edit the server applies itself (``applyEdits: "server"``).
APPLY_EDIT_LABEL = "Swictation: dictation"
#: A client that does not answer ``workspace/applyEdit`` within this long gets the edits back instead.
APPLY_EDIT_TIMEOUT_S = 10.0
#: Results of sessions that ended on their own (auto-stop), kept for a later ``stopDictation``.
FINISHED_KEPT = 8
#: Two-pass refine waits this long for the editor to show it applied the fast text (synced documents).
REFINE_APPLY_WAIT_S = 5.0
#: Refine decodes in flight (kept referenced until done).
_background: set[asyncio.Task[Any]] = set()


def register(server: SwictationServer) -> None:
    server.feature(TRANSCRIBE)(transcribe)
    server.feature(START_DICTATION)(start_dictation)
    server.feature(STOP_DICTATION)(stop_dictation)
    server.feature(CANCEL_DICTATION)(cancel_dictation)


@define(eq=False)
class ActiveDictation:
    """The one session a server may have: where its text goes and how it is doing."""

    session: Any
    uri: str
    position: Position
    mode: Mode
    context: TextContext | None = None
    refine: bool = False
    """Two-pass refine: the session decodes fast, the accurate text follows in ``swictation/refined``."""
    state: State = "listening"
    finishing: asyncio.Task[TranscribeResult] | None = field(default=None)

    @property
    def id(self) -> str:
        return str(self.session.id)


class UnavailableSession:
    """Stands in while microphone dictation (``swictation_rpc.audio.session``) is not installed."""

    id = "unavailable"

    def start(self) -> None:
        devices: list[Any] = []
        try:
            from swictation_rpc.audio.capture import list_input_devices

            devices = list_input_devices()
        except ImportError:
            pass
        if not devices:
            raise NoInputDeviceError(
                remedy="Connect a microphone (or start PulseAudio/PipeWire), then check "
                "`swictation-rpc doctor`; swictation/transcribe still works with audio files.",
            )
        raise AudioDeviceError(
            "Microphone dictation is not available in this build of swictation-rpc",
            remedy="Use swictation/transcribe with an audio file or inline pcm16 audio.",
        )

    def stop(self) -> Any:
        raise NoActiveSessionError()

    def cancel(self) -> None:
        pass


async def run_blocking(ls: SwictationServer, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (audio I/O, decoding, PortAudio) on the server's thread pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(ls.thread_pool, functools.partial(func, *args, **kwargs))


# -- transcribe -----------------------------------------------------------------------------------


async def transcribe(ls: SwictationServer, params: TranscribeParams) -> TranscribeResult:
    from swictation_rpc.audio.io import audio_from_input

    if not params.wait_for_engine:
        await ls.ensure_engine(wait=False)
    started = time.perf_counter()
    ls.transcribing += 1
    ls.publish_state()
    hotwords = hotwords_for_context(params.context)
    try:
        # Read while the engine may still be loading: a bad file fails without waiting for it.
        audio = await run_blocking(ls, audio_from_input, params.audio)
        read_ms = (time.perf_counter() - started) * 1000
        engine = await ls.ensure_engine(wait=True)
        mode, refine = refine_plan(ls, engine, params.mode or ls.options.default_mode)
        transcript = await run_blocking(ls, engine.transcribe, audio, mode, final=True, hotwords=hotwords)
    finally:
        ls.transcribing -= 1
        ls.publish_state()
    transcript.timings = Timings(
        audio_ms=transcript.timings.audio_ms,
        decode_ms=transcript.timings.decode_ms,
        total_ms=round(transcript.timings.total_ms + read_ms, 2),
    )
    result = await deliver(ls, transcript, params.text_document.uri, params.position, params.context, audio)
    if refine:
        start_refine(ls, engine, result, params.text_document.uri, params.context, audio, hotwords)
    return result


def hotwords_for_context(context: TextContext | None) -> list[str] | None:
    """Spoken forms of the client's identifiers, most useful first, to bias recognition."""
    if context is None or not context.identifiers:
        return None
    from swictation_rpc.text.vocabulary import hotwords_for

    return hotwords_for(context.identifiers) or None


def refine_plan(ls: SwictationServer, engine: Any, requested: Mode) -> tuple[Mode, bool]:
    """The mode of the first pass, and whether an accurate second pass refines it.

    ``text.refine``: ``off`` never refines; ``always`` decodes fast first and accurate after;
    ``auto`` does so only when fast and accurate mode are served by different models (refining
    the bundled Whisper with itself would only repeat the work). A request for ``accurate`` is
    never refined: it already gets the accurate text.
    """
    setting = ls.options.text.refine
    if setting == "off" or requested == "accurate":
        return requested, False
    if setting == "auto" and not distinct_models(engine):
        return requested, False
    return "fast", True


def distinct_models(engine: Any) -> bool:
    """Whether different models serve fast and accurate mode right now."""
    try:
        names = {model.mode: model.name for model in engine.status().models if model.ready}
    except Exception:  # noqa: BLE001 - an engine without status: assume one model
        return False
    return "fast" in names and "accurate" in names and names["fast"] != names["accurate"]


async def deliver(
    ls: SwictationServer,
    transcript: Transcript,
    uri: str,
    position: Position,
    context: TextContext | None,
    audio: Any = None,
) -> TranscribeResult:
    """The result for one utterance: the text as an insertion at ``position``.

    The utterance is saved in the history (text, place, audio) before the result goes out; a
    history that cannot be written is reported, and the text is delivered all the same. It is
    then followed through the document's changes (:mod:`swictation_rpc.handlers.documents`).

    "scratch that" said first removes the previous utterance of the document: ``edits`` then also
    delete its current range (and the history marks it removed).

    With ``applyEdits: "server"`` and a client that can apply workspace edits, the server applies
    the edit itself and returns no ``edits`` (so no client inserts the text twice); if the client
    refuses or does not answer, the edits are returned for it to apply.
    """
    formatted = format_result(ls, transcript.text, context) if transcript.text else None
    scratched: tuple[str, Range] | None = None
    if formatted is not None and formatted.scratch_that:
        scratched = await previous_utterance(ls, uri)
        if scratched is None:
            logger.info("'scratch that' heard, but no earlier utterance of %s is known", uri)
        else:
            # Lay the rest out as if the scratched text were already gone.
            fitted = _without_scratched(context, position, scratched[1], await _utterance_text(ls, scratched[0]))
            if fitted is not context:
                formatted = format_result(ls, transcript.text, fitted)
    text = formatted.text if formatted is not None else ""
    edits: list[TextEdit] = []
    insert_at = position
    if scratched is not None:
        removed = scratched[1]
        if _key(removed.start) < _key(position) < _key(removed.end):
            # The cursor is inside the scratched text: one edit replaces it (edits must not overlap).
            insert_at = removed.start
            edits.append(TextEdit(range=removed, new_text=text))
        else:
            edits.append(TextEdit(range=removed, new_text=""))
            if text:
                edits.append(TextEdit(range=Range(start=position, end=position), new_text=text))
        await _forget(ls, scratched[0])
    elif text:
        edits.append(TextEdit(range=Range(start=position, end=position), new_text=text))
    result = TranscribeResult(
        text=text, mode=transcript.mode, model=transcript.model, timings=transcript.timings, edits=edits
    )
    if text and ls.history is not None:
        # Where the text will be once all the edits are applied (the deletion may move it).
        saved_at = insert_at
        if scratched is not None and len(edits) == 2:
            from swictation_rpc.handlers.documents import position_encoding
            from swictation_rpc.text.ranges import follow_edit

            moved, _ = follow_edit(Range(start=position, end=position), scratched[1], "", position_encoding(ls))
            saved_at = moved.start if moved is not None else position
        result.utterance_id = await _record(ls, result, audio, uri, saved_at)
        tracking = _tracking(ls)
        if result.utterance_id and tracking is not None:
            # A synced document reports each edit (in its own coordinates); otherwise assume them applied.
            at = insert_at if tracking.tracker.is_synced(uri) else saved_at
            tracking.tracker.track(result.utterance_id, uri, at, text, context)
    if edits and ls.options.apply_edits == "server" and client_can_apply_edit(ls):
        if await apply_edit(ls, uri, edits):
            result.edits, result.applied_by_server = [], True
    return result


def _key(p: Position) -> tuple[int, int]:
    return (p.line, p.character)


def _tracking(ls: SwictationServer) -> Any:
    from swictation_rpc.handlers.documents import utterances

    return utterances(ls)


async def previous_utterance(ls: SwictationServer, uri: str) -> tuple[str, Range] | None:
    """The newest utterance of the document still in it, with its current range."""
    tracking = _tracking(ls)
    if tracking is not None:
        utterance = tracking.tracker.latest(uri)
        rng = tracking.tracker.current_range(utterance) if utterance is not None else None
        if utterance is not None and rng is not None:
            return utterance.id, rng
    if ls.history is None:
        return None
    items = await run_blocking(ls, ls.history.list, 50)
    for item in items:
        if item.uri != uri or (tracking is not None and item.id in tracking.tracker):
            continue  # followed ones were considered above (gone, or not inserted yet)
        # Not followed (older than the tracker keeps, or from before a restart): where it was saved.
        return (item.id, item.range) if item.range is not None else None
    return None


async def _utterance_text(ls: SwictationServer, utterance_id: str) -> str | None:
    tracking = _tracking(ls)
    utterance = tracking.tracker.get(utterance_id) if tracking is not None else None
    if utterance is not None:
        return utterance.expect if utterance.expect is not None else utterance.text
    if ls.history is None:
        return None
    try:
        return (await run_blocking(ls, ls.history.get, utterance_id)).text
    except Exception:  # noqa: BLE001
        return None


def _without_scratched(
    context: TextContext | None, position: Position, removed: Range, removed_text: str | None
) -> TextContext | None:
    """The cursor's context once the scratched text (just before the cursor) is deleted."""
    if context is None or not removed_text or _key(removed.end) != _key(position):
        return context
    if not context.before.endswith(removed_text):
        return context
    return TextContext(
        before=context.before[: len(context.before) - len(removed_text)],
        after=context.after,
        language_id=context.language_id,
        identifiers=context.identifiers,
    )


async def _forget(ls: SwictationServer, utterance_id: str) -> None:
    """The utterance is being deleted from its document: stop following it, mark it removed."""
    tracking = _tracking(ls)
    if tracking is not None:
        tracking.tracker.forget(utterance_id)
    if ls.history is None:
        return
    try:
        await run_blocking(ls, ls.history.mark_removed, utterance_id)
    except SwictationError as exc:
        logger.warning("Could not mark utterance %s removed: %s", utterance_id, exc)


def format_for_cursor(raw: str, context: TextContext | None, options: Options) -> str:
    """Spoken commands, casing, identifiers and spacing that fit the text around the cursor."""
    from swictation_rpc.text.formatting import format_utterance

    return format_utterance(raw, context, options.text, custom_commands=options.text.custom_commands).text


def format_result(ls: SwictationServer, raw: str, context: TextContext | None) -> FormattedText:
    """The text to insert for transcript ``raw``, and whether it said "scratch that" first.

    ``ls.format_text``, when set, replaces the formatter (plain text, no "scratch that").
    """
    from swictation_rpc.text.formatting import FormattedText, format_utterance

    try:
        if ls.format_text is not None:
            return FormattedText(ls.format_text(raw, context, ls.options))
        options = ls.options.text
        return format_utterance(raw, context, options, custom_commands=options.custom_commands)
    except Exception:
        logger.exception("Formatting the transcript failed; inserting it as recognised")
        return FormattedText(raw)


async def _record(
    ls: SwictationServer, result: TranscribeResult, audio: Any, uri: str, position: Position
) -> str | None:
    from swictation_rpc.handlers.documents import position_encoding
    from swictation_rpc.text.ranges import inserted_range

    tracking = _tracking(ls)
    version = tracking.tracker.version(uri) if tracking is not None else None
    try:
        return await run_blocking(
            ls,
            ls.history.add,
            result.text,
            audio,
            uri=uri,
            range=inserted_range(position, result.text, position_encoding(ls)),
            mode=result.mode,
            model=result.model,
            timings=result.timings,
            document_version=version,
        )
    except HistoryWriteError as exc:
        logger.warning("%s", exc)
        ls.show_message(f"Swictation: {exc.message}. {exc.remedy}".strip(), types.MessageType.Warning)
        return None


# -- two-pass refine ------------------------------------------------------------------------------


def start_refine(
    ls: SwictationServer,
    engine: Any,
    result: TranscribeResult,
    uri: str,
    context: TextContext | None,
    audio: Any,
    hotwords: list[str] | None,
) -> None:
    """Decode the utterance again in accurate mode, in the background (see :func:`refine`)."""
    if audio is None or not result.text or not result.utterance_id or result.mode != "fast":
        return
    task = asyncio.ensure_future(refine(ls, engine, result.utterance_id, uri, result.text, context, audio, hotwords))
    _background.add(task)
    task.add_done_callback(_background.discard)


async def refine(
    ls: SwictationServer,
    engine: Any,
    utterance_id: str,
    uri: str,
    fast_text: str,
    context: TextContext | None,
    audio: Any,
    hotwords: list[str] | None,
) -> bool:
    """The second pass: if the accurate text differs, replace the fast text where it is now.

    Sent as ``swictation/refined`` (or applied with ``workspace/applyEdit`` under ``applyEdits:
    "server"``) only if the utterance is still in its document and the user has not edited
    inside it. In a document the editor syncs, the refinement waits until the editor applied the
    fast text (so it never races the result). Returns whether a refinement was sent.
    """
    await asyncio.sleep(0)  # the result goes out first
    try:
        transcript = await run_blocking(ls, engine.transcribe, audio, "accurate", final=True, hotwords=hotwords)
    except Exception as exc:  # noqa: BLE001 - the fast text stays; nothing is lost
        logger.warning("Refining utterance %s failed: %s", utterance_id, exc)
        return False
    text = format_result(ls, transcript.text, context).text if transcript.text else ""
    if not text or text == fast_text:
        logger.info("Refine of %s: the accurate text is %s", utterance_id, "empty" if not text else "the same")
        return False
    tracking = _tracking(ls)
    if tracking is None:
        return False
    if not await tracking.wait_applied(utterance_id, REFINE_APPLY_WAIT_S):
        logger.info("Refine of %s skipped: the editor did not show the utterance in %s", utterance_id, uri)
        return False
    utterance = tracking.tracker.get(utterance_id)
    rng = tracking.tracker.current_range(utterance) if utterance is not None else None
    if utterance is None or rng is None or utterance.edited:
        logger.info("Refine of %s skipped: the utterance was %s", utterance_id, "removed" if rng is None else "edited")
        return False
    edit = TextEdit(range=rng, new_text=text)
    new_range = tracking.tracker.replace(utterance_id, text)
    if ls.history is not None:
        try:
            await run_blocking(
                ls,
                ls.history.update_text_and_range,
                utterance_id,
                text,
                new_range,
                document_version=tracking.tracker.version(uri),
                mode=transcript.mode,
                model=transcript.model,
                timings=transcript.timings,
            )
        except SwictationError as exc:
            logger.warning("Could not save the refined text of %s: %s", utterance_id, exc)
    if ls.options.apply_edits == "server" and client_can_apply_edit(ls):
        if await apply_edit(ls, uri, [edit]):
            logger.info("Refined utterance %s (applied by the server)", utterance_id)
            return True
        tracking.tracker.cancel_expectation(utterance_id)
        return False
    ls.notify(REFINED, RefinedParams(utterance_id=utterance_id, uri=uri, edit=edit, text=text))
    logger.info("Refined utterance %s: %d -> %d characters", utterance_id, len(fast_text), len(text))
    return True


def client_can_apply_edit(ls: SwictationServer) -> bool:
    workspace = getattr(getattr(ls.protocol, "client_capabilities", None), "workspace", None)
    return bool(workspace and workspace.apply_edit)


async def apply_edit(ls: SwictationServer, uri: str, edits: list[TextEdit]) -> bool:
    params = types.ApplyWorkspaceEditParams(edit=types.WorkspaceEdit(changes={uri: edits}), label=APPLY_EDIT_LABEL)
    try:
        reply = await asyncio.wait_for(ls.workspace_apply_edit_async(params), APPLY_EDIT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - the client keeps the edits instead
        logger.warning("workspace/applyEdit failed (%s): returning the edits instead", exc)
        return False
    applied = bool(getattr(reply, "applied", False))
    if not applied:
        logger.warning(
            "The client did not apply the edit (%s): returning the edits instead",
            getattr(reply, "failure_reason", None),
        )
    return applied


# -- microphone sessions --------------------------------------------------------------------------


async def start_dictation(ls: SwictationServer, params: StartDictationParams) -> StartDictationResult:
    engine = await ls.ensure_engine(wait=True)
    if ls.dictation is not None:
        raise AlreadyListeningError(
            f"Dictation session {ls.dictation.id} is already listening",
            remedy="Stop it (swictation/stopDictation) or cancel it (swictation/cancelDictation) first.",
            session_id=ls.dictation.id,
        )
    holder: list[ActiveDictation] = []

    def on_partial(text: str) -> None:
        ls.call_soon(_send_partial, ls, holder, text)

    def on_state(state: State, reason: str | None = None) -> None:
        ls.call_soon(_session_state, ls, holder, state, reason)

    def on_auto_stop() -> None:
        ls.call_soon(_auto_stop, ls, holder)

    mode, refine = refine_plan(ls, engine, params.mode or ls.options.default_mode)
    session = ls.session_factory(
        engine,
        ls.options,
        mode=mode,
        on_partial=on_partial,
        on_state=on_state,
        on_auto_stop=on_auto_stop,
        hotwords=hotwords_for_context(params.context),
    )
    active = ActiveDictation(
        session=session,
        uri=params.text_document.uri,
        position=params.position,
        mode=mode,
        context=params.context,
        refine=refine,
    )
    holder.append(active)
    # Claim the slot before the first await, so a second start fails instead of racing.
    ls.dictation = active
    try:
        await run_blocking(ls, session.start)
    except BaseException:
        if ls.dictation is active:
            ls.dictation = None
        ls.publish_state()
        raise
    logger.info("Dictation session %s listening (%s mode) for %s", active.id, mode, active.uri)
    ls.publish_state()
    return StartDictationResult(session_id=active.id)


async def stop_dictation(ls: SwictationServer, params: StopDictationParams) -> TranscribeResult:
    active = ls.dictation
    if active is None or (params.session_id is not None and params.session_id != active.id):
        finished = ls.finished_sessions.pop(params.session_id, None) if params.session_id else None
        if finished is None and params.session_id is None and ls.finished_sessions:
            # No session running: hand back the last one that stopped on its own.
            _, finished = ls.finished_sessions.popitem()
        if finished is not None:
            return finished
        raise NoActiveSessionError(
            f"No dictation session {params.session_id} is active" if params.session_id else None,
            remedy="Start one with swictation/startDictation.",
        )
    result = await asyncio.shield(finish_session(ls, active))
    ls.finished_sessions.pop(active.id, None)  # collected here: never hand it out twice
    return result


async def cancel_dictation(ls: SwictationServer, params: CancelDictationParams) -> CancelDictationResult:
    active = ls.dictation
    if active is None or (params.session_id is not None and params.session_id != active.id):
        return CancelDictationResult(cancelled=False, session_id=params.session_id)
    ls.dictation = None
    try:
        await run_blocking(ls, active.session.cancel)
    finally:
        ls.publish_state("cancelled")
    logger.info("Dictation session %s cancelled", active.id)
    return CancelDictationResult(cancelled=True, session_id=active.id)


def finish_session(
    ls: SwictationServer, active: ActiveDictation, *, auto: bool = False
) -> asyncio.Task[TranscribeResult]:
    """One stop per session, however many ask (stopDictation twice, or auto-stop then stop)."""
    if active.finishing is None:
        active.finishing = asyncio.ensure_future(_finish(ls, active, auto=auto))
    return active.finishing


async def _finish(ls: SwictationServer, active: ActiveDictation, *, auto: bool) -> TranscribeResult:
    if active.state == "listening":
        active.state = "transcribing"
        ls.publish_state()
    try:
        transcript, audio = await run_blocking(ls, active.session.stop)
        logger.info(
            "Dictation session %s stopped%s: %d characters",
            active.id,
            " on its own" if auto else "",
            len(transcript.text),
        )
        result = await deliver(ls, transcript, active.uri, active.position, active.context, audio)
        if active.refine:
            start_refine(ls, ls.engine, result, active.uri, active.context, audio, hotwords_for_context(active.context))
        if auto:
            # Kept until the client collects it with stopDictation (told by stateChanged "auto-stop").
            ls.finished_sessions[active.id] = result
            while len(ls.finished_sessions) > FINISHED_KEPT:
                ls.finished_sessions.popitem(last=False)
        return result
    finally:
        if ls.dictation is active:
            ls.dictation = None
        ls.publish_state("auto-stop" if auto else None)


def _send_partial(ls: SwictationServer, holder: list[ActiveDictation], text: str) -> None:
    if holder and ls.dictation is holder[0]:
        ls.notify(PARTIAL, PartialParams(session_id=holder[0].id, text=text))


def _session_state(ls: SwictationServer, holder: list[ActiveDictation], state: State, reason: str | None) -> None:
    if not holder:
        return
    active = holder[0]
    active.state = state
    if ls.dictation is active:
        ls.publish_state(reason)
    elif state == "error":
        # After the session ended (device lost while stopping), still say why.
        ls.last_state = None
        ls.publish_state(reason)


def _auto_stop(ls: SwictationServer, holder: list[ActiveDictation]) -> None:
    """The session stopped itself (silence or maximum length): finish it and keep the result."""
    if holder and ls.dictation is holder[0]:
        finish_session(ls, holder[0], auto=True)

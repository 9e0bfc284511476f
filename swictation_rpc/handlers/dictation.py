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
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from attrs import define, field
from lsprotocol import types
from lsprotocol.types import Position, Range, TextEdit

from swictation_rpc.errors import (
    AlreadyListeningError,
    AudioDeviceError,
    HistoryWriteError,
    NoActiveSessionError,
    NoInputDeviceError,
)
from swictation_rpc.options import Mode, Options
from swictation_rpc.protocol import (
    CANCEL_DICTATION,
    PARTIAL,
    START_DICTATION,
    STOP_DICTATION,
    TRANSCRIBE,
    CancelDictationParams,
    CancelDictationResult,
    PartialParams,
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

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Label of the workspace edit the server applies itself (``applyEdits: "server"``).
APPLY_EDIT_LABEL = "Swictation: dictation"
#: A client that does not answer ``workspace/applyEdit`` within this long gets the edits back instead.
APPLY_EDIT_TIMEOUT_S = 10.0
#: Results of sessions that ended on their own (auto-stop), kept for a later ``stopDictation``.
FINISHED_KEPT = 8


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
    state: State = "listening"
    finishing: asyncio.Task[TranscribeResult] | None = field(default=None)

    @property
    def id(self) -> str:
        return str(self.session.id)


class UnavailableSession:
    """Stands in while microphone dictation (``swictation_rpc.dictation``) is not installed."""

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
    try:
        # Read while the engine may still be loading: a bad file fails without waiting for it.
        audio = await run_blocking(ls, audio_from_input, params.audio)
        read_ms = (time.perf_counter() - started) * 1000
        engine = await ls.ensure_engine(wait=True)
        transcript = await run_blocking(
            ls,
            engine.transcribe,
            audio,
            params.mode or ls.options.default_mode,
            final=True,
            hotwords=_hotwords(params.context),
        )
    finally:
        ls.transcribing -= 1
        ls.publish_state()
    transcript.timings = Timings(
        audio_ms=transcript.timings.audio_ms,
        decode_ms=transcript.timings.decode_ms,
        total_ms=round(transcript.timings.total_ms + read_ms, 2),
    )
    return await deliver(ls, transcript, params.text_document.uri, params.position, params.context, audio)


def _hotwords(context: TextContext | None) -> list[str] | None:
    if context is None or not context.identifiers:
        return None
    return list(context.identifiers)


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
    history that cannot be written is reported, and the text is delivered all the same.

    With ``applyEdits: "server"`` and a client that can apply workspace edits, the server applies
    the edit itself and returns no ``edits`` (so no client inserts the text twice); if the client
    refuses or does not answer, the edits are returned for it to apply.
    """
    text = transcript.text
    if text:
        text = _formatted(ls, text, context)
    edits = [TextEdit(range=Range(start=position, end=position), new_text=text)] if text else []
    result = TranscribeResult(
        text=text, mode=transcript.mode, model=transcript.model, timings=transcript.timings, edits=edits
    )
    if text and ls.history is not None:
        result.utterance_id = await _record(ls, result, audio, uri, position)
    if edits and ls.options.apply_edits == "server" and client_can_apply_edit(ls):
        if await apply_edit(ls, uri, edits):
            result.edits, result.applied_by_server = [], True
    return result


def format_for_cursor(raw: str, context: TextContext | None, options: Options) -> str:
    """Spoken commands, casing, identifiers and spacing that fit the text around the cursor."""
    from swictation_rpc.text.formatting import format_utterance

    formatted = format_utterance(raw, context, options.text, custom_commands=options.text.custom_commands)
    if formatted.scratch_that:
        # Removing the previous utterance needs its current range from the client (undoUtterance).
        logger.info("'scratch that' heard: inserting only what followed it")
    return formatted.text


def _formatted(ls: SwictationServer, raw: str, context: TextContext | None) -> str:
    formatter = ls.format_text or format_for_cursor
    try:
        return formatter(raw, context, ls.options)
    except Exception:  # noqa: BLE001 - a formatting bug must never lose the user's words
        logger.exception("Formatting the transcript failed; inserting it as recognised")
        return raw


async def _record(
    ls: SwictationServer, result: TranscribeResult, audio: Any, uri: str, position: Position
) -> str | None:
    from swictation_rpc.text.ranges import inserted_range

    try:
        return await run_blocking(
            ls,
            ls.history.add,
            result.text,
            audio,
            uri=uri,
            range=inserted_range(position, result.text),
            mode=result.mode,
            model=result.model,
            timings=result.timings,
        )
    except HistoryWriteError as exc:
        logger.warning("%s", exc)
        ls.show_message(f"Swictation: {exc.message}. {exc.remedy}".strip(), types.MessageType.Warning)
        return None


def client_can_apply_edit(ls: SwictationServer) -> bool:
    workspace = getattr(getattr(ls.protocol, "client_capabilities", None), "workspace", None)
    return bool(workspace and workspace.apply_edit)


async def apply_edit(ls: SwictationServer, uri: str, edits: list[TextEdit]) -> bool:
    params = types.ApplyWorkspaceEditParams(
        edit=types.WorkspaceEdit(changes={uri: edits}), label=APPLY_EDIT_LABEL
    )
    try:
        reply = await asyncio.wait_for(ls.workspace_apply_edit_async(params), APPLY_EDIT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - the client keeps the edits instead
        logger.warning("workspace/applyEdit failed (%s): returning the edits instead", exc)
        return False
    applied = bool(getattr(reply, "applied", False))
    if not applied:
        logger.warning("The client did not apply the edit (%s): returning the edits instead",
                       getattr(reply, "failure_reason", None))
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

    mode = params.mode or ls.options.default_mode
    session = ls.session_factory(
        engine, ls.options, mode=mode, on_partial=on_partial, on_state=on_state, on_auto_stop=on_auto_stop
    )
    active = ActiveDictation(
        session=session, uri=params.text_document.uri, position=params.position, mode=mode, context=params.context
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
    result = await asyncio.shield(_finishing(ls, active))
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


def _finishing(ls: SwictationServer, active: ActiveDictation, *, auto: bool = False) -> asyncio.Task[TranscribeResult]:
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
        logger.info("Dictation session %s stopped%s: %d characters", active.id,
                    " on its own" if auto else "", len(transcript.text))
        result = await deliver(ls, transcript, active.uri, active.position, active.context, audio)
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
        _finishing(ls, holder[0], auto=True)

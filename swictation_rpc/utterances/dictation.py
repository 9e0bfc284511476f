"""Microphone sessions: the one session a server may have, its callbacks, and where its text goes.

A session (:class:`~swictation_rpc.audio.session.DictationSession`) captures and decodes on its
own threads; its callbacks (partial text, state, auto-stop) are moved to the event loop with
:meth:`~swictation_rpc.utterances.ports.Client.call_soon` before anything is sent. When it stops
(``stopDictation``, or on its own after silence or at its maximum length) its text goes through
the utterance pipeline (:meth:`UtteranceService.deliver`) like any other utterance. With
``dictation.commit: "perPhrase"`` each phrase the voice-activity detector closes goes through it
while listening goes on (saved, then sent as ``swictation/phraseCommitted``), each one placed after
the previous one, and the stop delivers only the tail. A session
that stopped on its own keeps its result until ``stopDictation`` collects it; one still running
when the client goes is saved to the history (:meth:`Dictation.save_unfinished`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import attrs
import numpy as np
from attrs import define, field
from lsprotocol.types import Position

from swictation_rpc.audio.session import DictationSession
from swictation_rpc.audio.signals import Chime, Chimes
from swictation_rpc.errors import AlreadyListeningError, NoActiveSessionError
from swictation_rpc.options import Mode
from swictation_rpc.protocol import (
    PARTIAL,
    PHRASE_COMMITTED,
    PartialParams,
    PhraseCommittedParams,
    State,
    TextContext,
    TranscribeResult,
    Transcript,
)
from swictation_rpc.text.ranges import inserted_range
from swictation_rpc.utterances.fitting import hints_for_context
from swictation_rpc.utterances.ports import Blocking, Client, EngineSource, OptionsGetter
from swictation_rpc.utterances.service import UtteranceService

logger = logging.getLogger(__name__)

#: Results of sessions that ended on their own (auto-stop), kept for a later ``stopDictation``.
FINISHED_KEPT = 8
#: How long a dictation left running by a vanished client may take to be transcribed and saved.
ORPHAN_SAVE_TIMEOUT_S = 120.0


@define(eq=False)
class ActiveDictation:
    """The one session a server may have: where its text goes and how it is doing."""

    session: DictationSession
    uri: str
    position: Position
    mode: Mode
    context: TextContext | None = None
    refine: bool = False
    """Two-pass refine: the session decodes fast, the accurate text follows in ``swictation/refined``."""
    state: State = "listening"
    finishing: asyncio.Task[TranscribeResult] | None = field(default=None)
    phrases: list[tuple[str | None, str]] = field(factory=list)
    """Per phrase: (utterance id, text inserted) of each phrase committed so far, in order."""
    commits: list[asyncio.Task[None]] = field(factory=list)
    """Phrase commits, each waiting for the one before (so phrases land in the order spoken)."""

    @property
    def id(self) -> str:
        return str(self.session.id)


class Dictation:
    """Starts, stops and cancels microphone sessions; keeps the results of those that stopped alone."""

    def __init__(
        self,
        *,
        service: UtteranceService,
        engines: EngineSource,
        client: Client,
        blocking: Blocking,
        options: OptionsGetter,
        chimes: Chimes | None = None,
    ):
        self._service = service
        self._chimes = chimes if chimes is not None else Chimes()
        self._engines = engines
        self._client = client
        self._blocking = blocking
        self._options = options
        #: The session listening (or finishing) now, if any.
        self.active: ActiveDictation | None = None
        #: Results of sessions that stopped on their own, until ``stopDictation`` collects them.
        self.finished: OrderedDict[str, TranscribeResult] = OrderedDict()

    async def start(
        self, uri: str, position: Position, mode: Mode | None, context: TextContext | None
    ) -> ActiveDictation:
        engine = await self._engines.ensure(wait=True)
        if self.active is not None:
            raise AlreadyListeningError(
                f"Dictation session {self.active.id} is already listening",
                remedy="Stop it (swictation/stopDictation) or cancel it (swictation/cancelDictation) first.",
                session_id=self.active.id,
            )
        holder: list[ActiveDictation] = []

        def on_partial(text: str) -> None:
            self._client.call_soon(self._send_partial, holder, text)

        def on_state(state: State, reason: str | None = None) -> None:
            self._client.call_soon(self._session_state, holder, state, reason)

        def on_auto_stop() -> None:
            self._client.call_soon(self._auto_stop, holder)

        def on_phrase(transcript: Transcript, audio: np.ndarray) -> None:
            self._client.call_soon(self._commit_phrase, holder, transcript, audio)

        first_mode, refine = self._service.refine_plan(engine, mode)
        options = self._options()
        session = DictationSession(
            engine,
            options,
            mode=first_mode,
            on_partial=on_partial,
            on_state=on_state,
            on_auto_stop=on_auto_stop,
            hints=hints_for_context(context, options),  # as swictation/transcribe has them
            on_phrase=on_phrase if options.dictation.commit == "perPhrase" else None,
        )
        active = ActiveDictation(
            session=session, uri=uri, position=position, mode=first_mode, context=context, refine=refine
        )
        holder.append(active)
        # Claim the slot before the first await, so a second start fails instead of racing.
        self.active = active
        try:
            await self._blocking(session.start)
        except BaseException:
            if self.active is active:
                self.active = None
            self._client.publish_state()
            self._chime("error")
            raise
        self._chime("start")
        logger.info("Dictation session %s listening (%s mode) for %s", active.id, first_mode, active.uri)
        self._client.publish_state()
        return active

    async def stop(self, session_id: str | None) -> TranscribeResult:
        active = self.active
        if active is None or (session_id is not None and session_id != active.id):
            finished = self.finished.pop(session_id, None) if session_id else None
            if finished is None and session_id is None and self.finished:
                # No session running: hand back the last one that stopped on its own.
                _, finished = self.finished.popitem()
            if finished is not None:
                return finished
            raise NoActiveSessionError(
                f"No dictation session {session_id} is active" if session_id else None,
                remedy="Start one with swictation/startDictation.",
            )
        result = await asyncio.shield(self.finish(active))
        self.finished.pop(active.id, None)  # collected here: never hand it out twice
        return result

    async def cancel(self, session_id: str | None) -> str | None:
        """Cancel the active session (if ``session_id`` names it); its id, or ``None`` if none was."""
        active = self.active
        if active is None or (session_id is not None and session_id != active.id):
            return None
        self.active = None
        self._chime("stop")
        try:
            await self._blocking(active.session.cancel)
            # Phrases already handed over stay committed: each is sent before the answer, so the
            # client still has the session when it applies them.
            await asyncio.gather(*active.commits, return_exceptions=True)
        finally:
            self._client.publish_state("cancelled")
        logger.info("Dictation session %s cancelled", active.id)
        return active.id

    def finish(self, active: ActiveDictation, *, auto: bool = False) -> asyncio.Task[TranscribeResult]:
        """One stop per session, however many ask (stopDictation twice, or auto-stop then stop)."""
        if active.finishing is None:
            active.finishing = asyncio.ensure_future(self._finish(active, auto=auto))
        return active.finishing

    async def _finish(self, active: ActiveDictation, *, auto: bool) -> TranscribeResult:
        if active.state == "listening":
            active.state = "transcribing"
            self._client.publish_state()
        if active.state != "error":
            self._chime("stop")
        try:
            transcript, audio = await self._blocking(active.session.stop)
            logger.info(
                "Dictation session %s stopped%s: %d characters",
                active.id,
                " on its own" if auto else "",
                len(transcript.text),
            )
            # Every phrase the session handed over is in before the tail (they were queued first).
            await asyncio.gather(*active.commits, return_exceptions=True)
            position, context = self._next_place(active)
            result = await self._service.deliver(transcript, active.uri, position, context, audio)
            engine = self._engines.engine
            if active.refine and engine is not None:
                self._service.refiner.start(engine, result, active.uri, context, audio)
            if auto:
                # Kept until the client collects it with stopDictation (told by stateChanged "auto-stop").
                self.finished[active.id] = result
                while len(self.finished) > FINISHED_KEPT:
                    self.finished.popitem(last=False)
            return result
        finally:
            if self.active is active:
                self.active = None
            self._client.publish_state("auto-stop" if auto else None)

    async def save_unfinished(self, timeout_s: float = ORPHAN_SAVE_TIMEOUT_S) -> None:
        """A session still listening when the client goes: transcribe it and keep it in the history.

        The user's words must survive the editor crashing mid-sentence: the session is stopped
        as ``stopDictation`` would stop it and its text and audio are saved to the history
        (``swictation/history`` in the next session shows them). Nothing is applied to a
        document: there is no client left to apply it to.
        """
        active = self.active
        if active is None:
            return
        logger.warning("The client left while dictation session %s was running: saving it to the history", active.id)
        # Nobody is left to answer a workspace/applyEdit: the utterance goes to the history only.
        self._service.edits.client_gone = True
        try:
            result = await asyncio.wait_for(asyncio.shield(self.finish(active)), timeout_s)
        except Exception:
            logger.exception("Saving dictation session %s failed", active.id)
            return
        logger.info(
            "Dictation session %s saved to the history as utterance %s (%d characters)",
            active.id,
            result.utterance_id,
            len(result.text),
        )

    def close(self) -> None:
        """Release the microphone; the process is about to end."""
        active, self.active = self.active, None
        if active is not None:
            try:
                active.session.cancel()
            except Exception:
                logger.exception("Cancelling the dictation session failed")

    # -- the session's callbacks, on the event loop ------------------------------------------------

    def _send_partial(self, holder: list[ActiveDictation], text: str) -> None:
        if holder and self.active is holder[0]:
            self._client.notify(PARTIAL, PartialParams(session_id=holder[0].id, text=text))

    def _session_state(self, holder: list[ActiveDictation], state: State, reason: str | None) -> None:
        if not holder:
            return
        active = holder[0]
        if state == "error" and active.state != "error":
            self._chime("error")
        active.state = state
        if self.active is active:
            self._client.publish_state(reason)
        elif state == "error":
            # After the session ended (device lost while stopping), still say why.
            self._client.publish_state(reason, force=True)

    def _commit_phrase(self, holder: list[ActiveDictation], transcript: Transcript, audio: np.ndarray) -> None:
        if not holder:
            return
        active = holder[0]
        previous = active.commits[-1] if active.commits else None
        active.commits.append(asyncio.ensure_future(self._commit(active, transcript, audio, previous)))

    async def _commit(
        self,
        active: ActiveDictation,
        transcript: Transcript,
        audio: np.ndarray,
        previous: asyncio.Task[None] | None,
    ) -> None:
        """One phrase of a per-phrase session: saved to the history, then sent to the client."""
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        position, context = self._next_place(active)
        try:
            result = await self._service.deliver(transcript, active.uri, position, context, audio)
        except Exception:
            logger.exception("Dictation session %s: a phrase could not be delivered", active.id)
            return
        scratched = result.scratched_utterance_id
        if scratched is not None:
            active.phrases = [phrase for phrase in active.phrases if phrase[0] != scratched]
        if result.text:
            active.phrases.append((result.utterance_id, result.text))
        engine = self._engines.engine
        if active.refine and engine is not None and result.utterance_id:
            self._service.refiner.start(engine, result, active.uri, context, audio)
        logger.info("Dictation session %s: phrase committed (%d characters)", active.id, len(result.text))
        self._client.notify(
            PHRASE_COMMITTED, PhraseCommittedParams(session_id=active.id, uri=active.uri, result=result)
        )

    def _next_place(self, active: ActiveDictation) -> tuple[Position, TextContext | None]:
        """Where the next phrase (or the tail) goes: after the session's phrases still in the
        document, with them as the text before it, so the phrases read as one text (spacing,
        capitals). A phrase the user removed (undo) counts no more."""
        tracker = self._service.documents.tracker
        live = []
        for utterance_id, text in active.phrases:
            tracked = tracker.get(utterance_id) if utterance_id else None
            if tracked is None or not tracked.gone:
                live.append((tracked, text))
        if not live:
            return active.position, active.context
        said = "".join(text for _, text in live)
        encoding = self._client.position_encoding()
        context = attrs.evolve(active.context or TextContext(), before=(active.context or TextContext()).before + said)
        last, _ = live[-1]
        if last is not None and not last.edited:
            # Followed through the user's edits since (text typed above moves it): the end of the
            # previous phrase, or of where it will be once the editor applies it.
            if last.expect is not None:
                return inserted_range(last.range.start, last.expect, encoding).end, context
            return last.range.end, context
        return inserted_range(active.position, said, encoding).end, context

    def _chime(self, chime: Chime) -> None:
        if self._options().signals.sounds:
            self._chimes.play(chime)

    def _auto_stop(self, holder: list[ActiveDictation]) -> None:
        """The session stopped itself (silence or maximum length): finish it and keep the result."""
        if holder and self.active is holder[0]:
            self.finish(holder[0], auto=True)

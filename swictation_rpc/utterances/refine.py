"""Two-pass refine: a fast first text at once, the accurate text replacing it when it differs.

The accurate pass runs in the background after the fast result went out. Its text replaces the
fast text only where that text is now, only if the user has not edited inside it, and only once
the editor showed it applied the fast text (so the refinement never races the result); the
check is the one every edit of an earlier utterance passes
(:meth:`~swictation_rpc.utterances.documents.DocumentTracking.check`). It goes out as
``swictation/refined`` (with the document's ``uri`` and ``version``), or with
``workspace/applyEdit`` under ``applyEdits: "server"``. When the user edited the utterance, or
its document is not synced, ``swictation/refined`` offers the text with no edit and says why.
The history gets the refined text once the edit is applied.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
from lsprotocol.types import TextEdit

from swictation_rpc.protocol import REFINED, RefinedParams, TextContext, TranscribeResult, Transcript
from swictation_rpc.utterances.documents import DocumentTracking, Refusal
from swictation_rpc.utterances.edits import EditSender
from swictation_rpc.utterances.fitting import format_for_cursor, hints_for_context, hotwords_for_context
from swictation_rpc.utterances.ports import Blocking, Client, Engine, HistoryGetter, OptionsGetter
from swictation_rpc.utterances.proposals import Proposal, Proposals

logger = logging.getLogger(__name__)

#: Two-pass refine waits this long for the editor to show it applied the fast text (synced documents).
REFINE_APPLY_WAIT_S = 5.0


class Refiner:
    """Runs the accurate second pass of fast utterances, in the background."""

    def __init__(
        self,
        *,
        client: Client,
        edits: EditSender,
        blocking: Blocking,
        options: OptionsGetter,
        history: HistoryGetter,
        documents: DocumentTracking,
        proposals: Proposals,
    ):
        self._proposals = proposals
        self._client = client
        self._edits = edits
        self._blocking = blocking
        self._options = options
        self._history = history
        self._documents = documents
        self._background: set[asyncio.Task[bool]] = set()

    def start(
        self, engine: Engine, result: TranscribeResult, uri: str, context: TextContext | None, audio: np.ndarray | None
    ) -> None:
        """Decode the utterance again in accurate mode, in the background (see :meth:`refine`)."""
        if audio is None or not result.text or not result.utterance_id or result.mode != "fast":
            return
        hotwords = hotwords_for_context(context)
        task = asyncio.ensure_future(
            self.refine(engine, result.utterance_id, uri, result.text, context, audio, hotwords)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def refine(
        self,
        engine: Engine,
        utterance_id: str,
        uri: str,
        fast_text: str,
        context: TextContext | None,
        audio: np.ndarray,
        hotwords: list[str] | None,
    ) -> bool:
        """The second pass: if the accurate text differs, replace the fast text where it is now.

        Returns whether a refinement was sent.
        """
        await asyncio.sleep(0)  # the result goes out first
        try:
            hints = {**hints_for_context(context, self._options()), "hotwords": hotwords}
            transcript = await self._blocking(engine.transcribe, audio, "accurate", final=True, **hints)
        except Exception as exc:  # noqa: BLE001 - the fast text stays; nothing is lost
            logger.warning("Refining utterance %s failed: %s", utterance_id, exc)
            return False
        heard = {"words": getattr(transcript, "words", None), "language": transcript.language}
        text = format_for_cursor(transcript.text, context, self._options(), **heard).text if transcript.text else ""
        if not text or text == fast_text:
            logger.info("Refine of %s: the accurate text is %s", utterance_id, "empty" if not text else "the same")
            return False
        if not await self._documents.wait_applied(utterance_id, REFINE_APPLY_WAIT_S):
            logger.info("Refine of %s skipped: the editor did not show the utterance in %s", utterance_id, uri)
            return False
        tracker = self._documents.tracker
        checked = self._documents.check(utterance_id, uri, None, None, action="replace")
        if isinstance(checked, Refusal):
            logger.info("Refine of %s: nothing proposed (%s)", utterance_id, checked.reason)
            if checked.reason in ("changed", "not-synced"):
                # The user's edit stays; the better text is offered to the client instead.
                self._client.notify(
                    REFINED,
                    RefinedParams(
                        utterance_id=utterance_id,
                        uri=uri,
                        edit=None,
                        text=text,
                        version=checked.version,
                        reason=checked.reason,
                        message=checked.message,
                    ),
                )
            return False
        if text == checked.text:
            return False
        edit = TextEdit(range=checked.range, new_text=text)
        tracker.replace(utterance_id, text)
        refined = Transcript(
            text=text, mode=transcript.mode, model=transcript.model, timings=transcript.timings, language=None
        )
        self._proposals.propose(
            utterance_id, Proposal("refine", checked.uri, checked.version, checked.range, text, refined)
        )
        if self._edits.server_applies():
            if await self._edits.apply(uri, [edit], checked.version):
                await self._proposals.applied(utterance_id, "refine")
                logger.info("Refined utterance %s (applied by the server)", utterance_id)
                return True
            self._proposals.withdraw(utterance_id, "refine")
            return False
        self._client.notify(
            REFINED,
            RefinedParams(utterance_id=utterance_id, uri=uri, edit=edit, text=text, version=checked.version),
        )
        logger.info("Refined utterance %s: %d -> %d characters", utterance_id, len(fast_text), len(text))
        return True

""" "Correct that": what an utterance could read instead, and the chosen text put in its place.

:meth:`Corrections.alternatives` lists, for one utterance (the last one of this editor by
default), the text it has now and its saved audio decoded with the other mode (fast vs accurate),
laid out for the utterance's place as it reads now. :meth:`Corrections.correct` replaces the
utterance with the chosen text through the pipeline's one replacement path (the retranscribe
path of :class:`~swictation_rpc.utterances.service.UtteranceService`): checked in its document
as synced now, an edit naming ``uri`` and ``version``, recorded in the history once applied
(kind ``correct``), and never over an utterance the user edited (the text is offered instead).

N-best lists are not offered: neither sherpa-onnx's Python API (its offline result has the best
hypothesis only, also under ``modified_beam_search``), nor faster-whisper's ``transcribe``, nor the
greedy onnxruntime TDT decoder hands out more than one hypothesis.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Protocol

from swictation_rpc.errors import AudioUnreadableError, UtteranceNotFoundError
from swictation_rpc.history import HistoryEntry
from swictation_rpc.options import ConcreteMode, Mode
from swictation_rpc.protocol import (
    Alternative,
    AlternativesResult,
    RetranscribeResult,
    TextContext,
    Transcript,
    UtteranceEditKind,
)
from swictation_rpc.utterances.documents import Refusal, Target
from swictation_rpc.utterances.ports import Blocking, HistoryGetter

logger = logging.getLogger(__name__)

#: Utterances whose offered alternatives are remembered (for the mode and model of a chosen one).
REMEMBERED = 16


class _Settles(Protocol):
    async def settled(self) -> None: ...


class Pipeline(Protocol):
    """What corrections use of the utterance pipeline (:class:`~swictation_rpc.utterances.service.UtteranceService`)."""

    @property
    def history(self) -> HistoryGetter: ...

    @property
    def blocking(self) -> Blocking: ...

    @property
    def proposals(self) -> _Settles: ...

    async def decode_saved(
        self, utterance_id: str, mode: Mode
    ) -> tuple[HistoryEntry, Transcript, TextContext | None]: ...

    async def check_for_replace(self, utterance_id: str, entry: HistoryEntry) -> Target | Refusal: ...

    def fit(self, transcript: Transcript, checked: Target | Refusal, context: TextContext | None) -> str: ...

    async def replace(
        self,
        utterance_id: str,
        entry: HistoryEntry,
        checked: Target | Refusal,
        decoded: Transcript,
        kind: UtteranceEditKind,
    ) -> RetranscribeResult: ...


def other_mode(mode: ConcreteMode) -> ConcreteMode:
    return "accurate" if mode == "fast" else "fast"


class Corrections:
    """The alternatives of utterances, and corrections chosen from them."""

    def __init__(self, pipeline: Pipeline):
        self._pipeline = pipeline
        #: utterance id -> offered text -> the decode that produced it (newest last).
        self._offered: OrderedDict[str, dict[str, Transcript]] = OrderedDict()

    async def alternatives(self, utterance_id: str | None) -> AlternativesResult:
        """The utterance's text now, then the other mode's text when it differs (no duplicates)."""
        pipeline = self._pipeline
        store = pipeline.history()
        if store is None:
            return AlternativesResult(message="The history is not open yet, so there is nothing to correct.")
        await pipeline.proposals.settled()
        if utterance_id is None:
            newest = await pipeline.blocking(store.list, 1, owner_only=True)
            if not newest:
                return AlternativesResult(message="There is nothing to correct: no utterance was dictated yet.")
            utterance_id = newest[0].id
        entry = await pipeline.blocking(store.entry, utterance_id)  # UtteranceNotFoundError if unknown
        item = entry.item
        result = AlternativesResult(
            utterance_id=utterance_id,
            text=item.text,
            alternatives=[Alternative(text=item.text, source="current", mode=item.mode, model=item.model)],
            uri=item.uri,
        )
        offered: dict[str, Transcript] = {}
        if not entry.has_audio:
            result.message = (
                "The audio of this utterance was not kept, so no other transcription can be offered; "
                "set swictation.history.keepAudio to true (it applies to new utterances)."
            )
        else:
            mode = other_mode(item.mode)
            try:
                entry, transcript, context = await pipeline.decode_saved(utterance_id, mode)
            except AudioUnreadableError as exc:
                logger.warning("Alternatives of %s: %s", utterance_id, exc)
                result.message = f"{exc.message}. {exc.remedy}".strip()
            else:
                checked = await pipeline.check_for_replace(utterance_id, entry)
                text = pipeline.fit(transcript, checked, context)
                known = {alternative.text for alternative in result.alternatives}
                if text and text not in known:
                    result.alternatives.append(
                        Alternative(text=text, source="other-mode", mode=transcript.mode, model=transcript.model)
                    )
                    offered[text] = Transcript(
                        text=text,
                        mode=transcript.mode,
                        model=transcript.model,
                        timings=transcript.timings,
                        language=transcript.language,
                    )
        self._remember(utterance_id, offered)
        logger.info("Alternatives of %s: %d", utterance_id, len(result.alternatives))
        return result

    async def correct(self, utterance_id: str, text: str) -> RetranscribeResult:
        """Put ``text`` in the utterance's place, if the utterance is still exactly as dictated.

        Otherwise nothing is proposed: ``reason`` says why and ``text`` is offered instead. The
        history records the chosen text (with the mode and model of the alternative it came
        from) once the edit is applied.
        """
        pipeline = self._pipeline
        store = pipeline.history()
        if store is None:
            raise UtteranceNotFoundError(
                f"No utterance {utterance_id}: the history is not open", remedy="Initialize the server first."
            )
        await pipeline.proposals.settled()
        entry = await pipeline.blocking(store.entry, utterance_id)  # UtteranceNotFoundError if unknown
        item = entry.item
        source = self._offered.get(utterance_id, {}).get(text)
        decoded = Transcript(
            text=text,
            mode=source.mode if source else item.mode,
            model=source.model if source else item.model,
            timings=source.timings if source else item.timings,
            language=source.language if source else None,
        )
        checked = await pipeline.check_for_replace(utterance_id, entry)
        logger.info("Correcting utterance %s (%s)", utterance_id, "an alternative" if source else "given text")
        return await pipeline.replace(utterance_id, entry, checked, decoded, "correct")

    def _remember(self, utterance_id: str, offered: dict[str, Transcript]) -> None:
        self._offered[utterance_id] = offered
        self._offered.move_to_end(utterance_id)
        while len(self._offered) > REMEMBERED:
            self._offered.popitem(last=False)

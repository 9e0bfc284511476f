"""Dictation methods: transcribe a file or inline PCM, and microphone sessions (start/stop/cancel).

Every result carries ``edits``: one zero-width insertion of the text at the position the request
named (the session's position for ``stopDictation``); see
:class:`~swictation_rpc.utterances.service.UtteranceService` and
:class:`~swictation_rpc.utterances.dictation.Dictation`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from swictation_rpc.handlers.base import Server
from swictation_rpc.protocol import (
    CANCEL_DICTATION,
    START_DICTATION,
    STOP_DICTATION,
    TRANSCRIBE,
    CancelDictationParams,
    CancelDictationResult,
    StartDictationParams,
    StartDictationResult,
    StopDictationParams,
    TranscribeParams,
    TranscribeResult,
)


async def transcribe(ls: Server, params: TranscribeParams) -> TranscribeResult:
    return await ls.utterances.transcribe(
        params.audio,
        params.text_document.uri,
        params.position,
        params.context,
        params.mode,
        wait_for_engine=params.wait_for_engine,
    )


async def start_dictation(ls: Server, params: StartDictationParams) -> StartDictationResult:
    active = await ls.dictation.start(params.text_document.uri, params.position, params.mode, params.context)
    return StartDictationResult(
        session_id=active.id, commit="perPhrase" if active.session.commits_phrases else "onStop"
    )


async def stop_dictation(ls: Server, params: StopDictationParams) -> TranscribeResult:
    return await ls.dictation.stop(params.session_id)


async def cancel_dictation(ls: Server, params: CancelDictationParams) -> CancelDictationResult:
    cancelled = await ls.dictation.cancel(params.session_id)
    if cancelled is None:
        return CancelDictationResult(cancelled=False, session_id=params.session_id)
    return CancelDictationResult(cancelled=True, session_id=cancelled)


FEATURES: dict[str, Callable[..., Any]] = {
    TRANSCRIBE: transcribe,
    START_DICTATION: start_dictation,
    STOP_DICTATION: stop_dictation,
    CANCEL_DICTATION: cancel_dictation,
}

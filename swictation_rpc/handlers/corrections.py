""" "Correct that" over the wire: an utterance's alternatives, and the one the user chose.

``swictation/alternatives`` lists what the utterance (the last one by default) could read instead:
its text now and its saved audio decoded with the other mode. ``correctUtterance`` replaces it with
the chosen text where it is now, if the user has not edited it (the same checks as retranscribe;
confirm with ``utteranceEditApplied`` kind ``correct``). The work is
:class:`~swictation_rpc.utterances.corrections.Corrections`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from swictation_rpc.handlers.base import Server
from swictation_rpc.protocol import (
    ALTERNATIVES,
    CORRECT_UTTERANCE,
    AlternativesParams,
    AlternativesResult,
    CorrectUtteranceParams,
    RetranscribeResult,
)


async def alternatives(ls: Server, params: AlternativesParams) -> AlternativesResult:
    return await ls.utterances.corrections.alternatives(params.utterance_id)


async def correct_utterance(ls: Server, params: CorrectUtteranceParams) -> RetranscribeResult:
    return await ls.utterances.corrections.correct(params.utterance_id, params.text)


FEATURES: dict[str, Callable[..., Any]] = {
    ALTERNATIVES: alternatives,
    CORRECT_UTTERANCE: correct_utterance,
}

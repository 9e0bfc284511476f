"""Pure helpers of the pipeline: the text that fits the cursor, recognition hints, the refine plan."""

from __future__ import annotations

import logging
from typing import Any

import attrs
from lsprotocol.types import Position, Range

from swictation_rpc.options import Mode, Options
from swictation_rpc.protocol import TextContext
from swictation_rpc.text.formatting import FormattedText, format_utterance
from swictation_rpc.text.hints import recognition_hints
from swictation_rpc.text.vocabulary import hotwords_for
from swictation_rpc.utterances.ports import Engine

logger = logging.getLogger(__name__)


def format_for_cursor(
    raw: str, context: TextContext | None, options: Options, *, words: Any = None, language: str | None = None
) -> FormattedText:
    """The text to insert for transcript ``raw``, and whether it said "scratch that" first.

    Spoken commands, casing, identifiers and spacing that fit the text around the cursor; a
    formatter failure inserts the text as recognised. ``words`` (the recognizer's word timings)
    and ``language`` (the one it decoded in) tell commands from words in prose.
    """
    try:
        text = options.text
        spoken = language or (options.language if options.language != "auto" else None)
        return format_utterance(raw, context, text, custom_commands=text.custom_commands, words=words, language=spoken)
    except Exception:
        logger.exception("Formatting the transcript failed; inserting it as recognised")
        return FormattedText(raw)


def format_again(text: str, context: TextContext | None, options: Options) -> FormattedText:
    """Text from the history laid out for a new cursor, like a fresh utterance.

    The saved text is already written out (spoken commands applied), so it is read as words only:
    no command is applied again and no "scratch that" is heard. Spacing, the sentence capital and
    code's trailing punctuation follow the new context.
    """
    stripped = text.strip()
    if not stripped:
        return FormattedText("")
    try:
        words_only = attrs.evolve(options.text, spoken_commands=False, cleanup=False)
        return attrs.evolve(format_utterance(stripped, context, words_only), scratch_that=False)
    except Exception:
        logger.exception("Formatting the history text failed; inserting it as saved")
        return FormattedText(stripped)


def hints_for_context(context: TextContext | None, options: Options) -> dict[str, Any]:
    """Keyword arguments for ``engine.transcribe``: identifiers, command phrases, Whisper's prompt."""
    try:
        return recognition_hints(context, options)
    except Exception:
        logger.exception("Building recognition hints failed; decoding without the command hints")
        return {"hotwords": hotwords_for_context(context)}


def hotwords_for_context(context: TextContext | None) -> list[str] | None:
    """Spoken forms of the client's identifiers, most useful first, to bias recognition."""
    if context is None or not context.identifiers:
        return None
    return hotwords_for(context.identifiers) or None


def refine_plan(options: Options, engine: Engine, requested: Mode) -> tuple[Mode, bool]:
    """The mode of the first pass, and whether an accurate second pass refines it.

    ``text.refine``: ``off`` never refines; ``always`` decodes fast first and accurate after;
    ``auto`` does so only when fast and accurate mode are served by different models (refining
    the bundled Whisper with itself would only repeat the work). A request for ``accurate`` is
    never refined: it already gets the accurate text.
    """
    setting = options.text.refine
    if setting == "off" or requested == "accurate":
        return requested, False
    if setting == "auto" and not distinct_models(engine):
        return requested, False
    return "fast", True


def distinct_models(engine: Engine) -> bool:
    """Whether different models serve fast and accurate mode right now."""
    try:
        names = {model.mode: model.name for model in engine.status().models if model.ready}
    except Exception:  # noqa: BLE001 - an engine without status: assume one model
        return False
    return "fast" in names and "accurate" in names and names["fast"] != names["accurate"]


def key(p: Position) -> tuple[int, int]:
    """Positions in document order."""
    return (p.line, p.character)


def without_scratched(
    context: TextContext | None, position: Position, removed: Range, removed_text: str | None
) -> TextContext | None:
    """The cursor's context once the scratched text (just before the cursor) is deleted."""
    if context is None or not removed_text or key(removed.end) != key(position):
        return context
    if not context.before.endswith(removed_text):
        return context
    return TextContext(
        before=context.before[: len(context.before) - len(removed_text)],
        after=context.after,
        language_id=context.language_id,
        identifiers=context.identifiers,
    )

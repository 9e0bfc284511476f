"""What the recognizer is told before it listens: the buffer's identifiers and the commands in effect.

Two kinds of hint, both from the cursor's context and the settings:

* ``hotwords``: spoken forms of the buffer's identifiers (:func:`~swictation_rpc.text.vocabulary.hotwords_for`);
  ``commands``: in code, the command phrases in effect (built-in for the spoken language, for the
  document's languageId, and ``text.customCommands``). sherpa-onnx takes both under
  ``modified_beam_search``; Whisper takes the identifiers as hotwords and the commands through
  its prompt (a hotword list of commands measured worse than the prompt: "paren open paren").
* ``prompt`` (one per language; the recognizer takes the one it decodes in): for Whisper, a line that sounds like what is about to be said. In code, the command
  words as they are dictated ("print open paren x close paren comma ..."): measured on the bundled
  tiny.en, it turns "open parent" / "Cohen" / "It's an AKS" back into "open paren" / "colon" /
  "snake case" (``python -m benchmarks.commands``). In prose, spoken punctuation in a sentence,
  so Whisper keeps writing sentences.
"""

from __future__ import annotations

from typing import Any

from swictation_rpc.options import Options
from swictation_rpc.protocol import TextContext
from swictation_rpc.text.commands import CaseCommand, Symbol, command_table
from swictation_rpc.text.formatting import classify
from swictation_rpc.text.spoken_languages import CODE_PROMPTS, PROSE_PROMPTS, base_language
from swictation_rpc.text.vocabulary import hotwords_for

#: At most this many command phrases go into the hotwords (the most common first).
MAX_COMMAND_HOTWORDS = 40


def recognition_hints(context: TextContext | None, options: Options) -> dict[str, Any]:
    """``hotwords``, ``prompt`` and ``commands`` for a decode at the cursor described by ``context``
    (keyword arguments of ``HybridEngine.transcribe``)."""
    context = context or TextContext()
    hotwords = hotwords_for(context.identifiers) if context.identifiers else []
    hints: dict[str, Any] = {"hotwords": hotwords or None}
    if not options.text.spoken_commands:
        return hints
    placement = classify(context)
    spoken = base_language(options.language)
    if placement.prose:
        hints["prompt"] = dict(PROSE_PROMPTS)
        return hints
    table = command_table(placement.language_id, options.text.custom_commands, spoken)
    commands = [
        " ".join(words)
        for words, command in table.commands.items()
        if isinstance(command, (Symbol, CaseCommand)) and len(words) <= 3 and all(w.isalpha() for w in words)
    ]
    custom = _custom_phrases(options, placement.language_id)
    # One prompt per language: the recognizer takes the one it decodes in (an English-only
    # model the English one, whatever the setting says). Custom phrases join the setting's.
    extra = " ".join(custom)
    hints["prompt"] = {
        lang: f"{prompt} {extra}".strip() if lang == spoken and extra else prompt
        for lang, prompt in CODE_PROMPTS.items()
    }
    hints["commands"] = list(dict.fromkeys(custom + commands))[:MAX_COMMAND_HOTWORDS]
    return hints


def _custom_phrases(options: Options, language_id: str | None) -> list[str]:
    custom = options.text.custom_commands
    tables = [custom.get("*", {}), custom.get(language_id or "", {})]
    return [str(p).lower() for table in tables for p, v in table.items() if v]

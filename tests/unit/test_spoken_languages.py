"""Command tables per spoken language: German and Spanish phrases, English casing everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from swictation_rpc.engine.base import prompt_for
from swictation_rpc.options import Options, TextOptions, structure_options
from swictation_rpc.protocol import TextContext
from swictation_rpc.text.commands import command_table
from swictation_rpc.text.formatting import format_utterance
from swictation_rpc.text.hints import recognition_hints
from swictation_rpc.text.spoken_languages import SYMBOL_PHRASES, base_language


def fmt(raw, language, before="    ", language_id="python"):
    return format_utterance(
        raw, TextContext(before=before, language_id=language_id), TextOptions(), language=language
    ).text


def test_german_commands_write_symbols():
    assert fmt("drucke klammer auf name klammer zu", "de") == "drucke(name)"
    assert fmt("x gleich a plus b", "de") == "x = a + b"
    assert fmt("Hallo Welt Punkt", "de", before="", language_id="markdown") == "Hallo Welt."


def test_spanish_commands_write_symbols():
    assert fmt("imprimir abrir paréntesis nombre cerrar paréntesis", "es") == "imprimir(nombre)"


def test_english_casing_works_inside_german_prose_and_code():
    assert fmt("snake case benutzer name", "de") == "benutzer_name"
    assert fmt("Wir nennen sie, camel case user id", "de", before="# ") == "Wir nennen sie, userId"


def test_english_symbol_words_are_words_in_german():
    assert fmt("question mark", "de", before="    foo(a") == " question mark"
    assert command_table("python", spoken="de").commands.get(("komma",)) is not None


def test_every_phrase_names_an_english_command():
    english = command_table("python", spoken="en").commands
    for language, phrases in SYMBOL_PHRASES.items():
        for phrase, meant in phrases.items():
            assert tuple(meant.split()) in english, (language, phrase)


@pytest.mark.parametrize(("code", "base"), [("de-AT", "de"), ("auto", "en"), ("", "en"), ("xx", "en"), ("ES", "es")])
def test_base_language(code, base):
    assert base_language(code) == base


def test_language_setting_is_validated():
    assert structure_options({"language": "de"})[0].language == "de"
    options, problems = structure_options({"language": "German!"})
    assert options.language == "auto" and problems and "language" in problems[0]
    # Well-formed but no model knows it: refused by name, not passed on silently.
    options, problems = structure_options({"language": "xx"})
    assert options.language == "auto" and "'xx' is not a language" in problems[0]
    # A regional tag is the language it names.
    options, problems = structure_options({"language": "de-DE"})
    assert options.language == "de-DE" and problems == []


def test_a_regional_language_tag_reaches_whisper_as_its_base_code(monkeypatch):
    from swictation_rpc.engine.base import Hints
    from swictation_rpc.engine.whisper import BundledWhisper

    asked: list[str | None] = []
    whisper = BundledWhisper.__new__(BundledWhisper)  # no weights: only the language handed on is checked
    monkeypatch.setattr(BundledWhisper, "multilingual", property(lambda self: True))
    monkeypatch.setattr(
        BundledWhisper, "_decode", lambda self, audio, language, *rest: asked.append(language) or _heard()
    )
    whisper.recognize(np.zeros(16000, dtype=np.float32), Hints(language="de-AT"))
    assert asked == ["de"]


def test_hints_in_code_prompt_with_commands_and_in_prose_with_sentences():
    code = recognition_hints(TextContext(before="    ", language_id="python"), Options())
    assert "open paren" in code["prompt"]["en"] and "snake case" in code["commands"]
    prose = recognition_hints(TextContext(before="# ", language_id="python"), Options())
    assert prose.get("commands") is None and prose["prompt"]["en"].endswith(".")
    german = recognition_hints(TextContext(before="    ", language_id="python"), Options(language="de"))
    assert "klammer auf" in german["prompt"]["de"] and "komma" in german["commands"]
    # An English-only model decoding with the German setting still gets the English prompt.
    assert prompt_for(german["prompt"], "en") == code["prompt"]["en"]
    assert prompt_for(german["prompt"], None) is None
    off = recognition_hints(TextContext(identifiers=["getUserName"]), Options(text=TextOptions(spoken_commands=False)))
    assert off == {"hotwords": ["get user name"]}


def _heard():
    from swictation_rpc.engine.base import Recognized

    return Recognized("", None, "de")

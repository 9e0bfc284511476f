"""Spoken punctuation and commands: parsing a recognizer's transcript into tokens."""

from __future__ import annotations

import pytest

from swictation_rpc.text.commands import (
    Cased,
    Symbol,
    SymbolToken,
    Word,
    command_table,
    infer_spacing,
    parse,
)


def spoken(text: str, spacing: str | None = None) -> SymbolToken:
    return SymbolToken(Symbol(text, spacing or infer_spacing(text), text in {".", "?", "!"}), True)


def texts(raw: str, language_id: str | None = None, **kw) -> list[str]:
    """The tokens' texts, symbols marked with their origin: ``S:,`` spoken, ``A:,`` recognizer."""
    out = []
    for t in parse(raw, command_table(language_id, kw.get("custom")), enabled=kw.get("enabled", True)).tokens:
        if isinstance(t, Word):
            out.append(("L:" if t.literal else "") + t.text)
        elif isinstance(t, SymbolToken):
            out.append(("S:" if t.spoken else "A:") + t.symbol.text)
        elif isinstance(t, Cased):
            out.append(f"{t.style}:{' '.join(t.words)}")
    return out


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("comma", ["S:,"]),
        ("Comma.", ["S:,"]),
        ("COMMA!", ["S:,"]),
        ("Period.", ["S:."]),
        ("Full stop.", ["S:."]),
        ("Full-stop.", ["S:."]),
        ("Question mark?", ["S:?"]),
        ("exclamation mark", ["S:!"]),
        ("exclamation point", ["S:!"]),
        ("colon", ["S::"]),
        ("semicolon", ["S:;"]),
        ("New line.", ["S:\n"]),
        ("newline", ["S:\n"]),
        ("New paragraph.", ["S:\n\n"]),
        ("open paren", ["S:("]),
        ("Close paren.", ["S:)"]),
        ("open bracket close bracket", ["S:[", "S:]"]),
        ("Open brace, close brace.", ["S:{", "S:}"]),
        ("quote", ['S:"']),
        ("dash", ["S:-"]),
        ("underscore", ["S:_"]),
        ("equals", ["S:="]),
        ("plus", ["S:+"]),
        ("slash", ["S:/"]),
        ("backslash", ["S:\\"]),
        ("back slash", ["S:\\"]),
    ],
)
def test_each_spoken_command_becomes_its_symbol_whatever_the_recognizer_capitalised_or_appended(raw, expected):
    assert texts(raw) == expected


def test_recognizer_punctuation_next_to_a_spoken_symbol_is_dropped_as_its_guess_at_the_same_thing():
    assert texts("Hello, comma, world period.") == ["Hello", "S:,", "world", "S:."]
    assert texts("Done. New line.") == ["Done", "S:\n"]


def test_recognizer_punctuation_elsewhere_is_kept_with_its_origin():
    assert texts("Hello, world. How are you?") == ["Hello", "A:,", "world", "A:.", "How", "are", "you", "A:?"]


def test_abbreviations_keep_their_dots():
    assert texts("e.g. this") == ["e.g.", "this"]


def test_say_writes_a_command_phrase_literally():
    assert texts("say comma") == ["L:comma"]
    assert texts("Say question mark.") == ["L:question", "L:mark", "A:."]
    assert texts("say say") == ["L:say"]
    assert texts("say scratch that") == ["L:scratch", "L:that"]


def test_say_before_an_ordinary_word_is_just_a_word():
    assert texts("I say so.") == ["I", "say", "so", "A:."]


def test_scratch_that_first_asks_to_remove_the_previous_utterance():
    parsed = parse("Scratch that.", command_table())
    assert parsed.scratch_previous and parsed.tokens == []
    parsed = parse("Scratch that. Hello there.", command_table())
    assert parsed.scratch_previous
    assert [t.text for t in parsed.tokens if isinstance(t, Word)] == ["Hello", "there"]


def test_scratch_that_mid_utterance_drops_only_what_came_before_it_in_the_utterance():
    parsed = parse("hello world scratch that goodbye", command_table())
    assert not parsed.scratch_previous
    assert parsed.tokens == [Word("goodbye")]
    # A second one, with nothing left before it, reaches the previous utterance.
    assert parse("hello scratch that scratch that", command_table()).scratch_previous


def test_casing_command_takes_the_words_up_to_the_next_symbol():
    assert texts("camel case get user name equals five") == ["camel:get user name", "S:=", "five"]
    assert texts("Snake case, max retries.") == ["snake:max retries", "A:."]
    assert texts("pascal case http server comma next") == ["pascal:http server", "S:,", "next"]


def test_disabled_commands_leave_the_words_as_the_recognizer_wrote_them():
    assert texts("Hello comma world.", enabled=False) == ["Hello", "comma", "world", "A:."]
    assert not parse("scratch that", None, enabled=False).scratch_previous


def test_language_tables_add_phrases_only_for_their_language():
    assert texts("arrow", "python") == ["S:->"]
    assert texts("fat arrow", "typescript") == ["S:=>"]
    assert texts("double colon", "rust") == ["S:::"]
    assert texts("arrow", "markdown") == ["arrow"]


def test_custom_commands_extend_override_and_remove_per_language():
    custom = {"*": {"smiley": ":-)", "dot": None}, "python": {"arrow": {"text": "->", "spacing": "join"}}}
    assert texts("smiley", custom=custom) == ["S::-)"]
    assert texts("os dot path", custom=custom) == ["os", "dot", "path"]
    table = command_table("python", custom)
    (token,) = parse("arrow", table).tokens
    assert token.symbol == Symbol("->", "join")
    # say and scratch that survive any configuration
    assert texts("say smiley", custom=custom) == ["L:smiley"]
    assert parse("scratch that", command_table(None, {"*": {"scratch that": None}})).scratch_previous


def test_malformed_custom_commands_are_skipped_not_fatal():
    custom = {"*": {"ok": "!", "bad": ["x"], "worse": {"text": 3}}, "python": "nonsense"}
    assert texts("ok bad worse", "python", custom=custom) == ["S:!", "bad", "worse"]


@pytest.mark.parametrize(
    ("text", "spacing"),
    [
        (",", "attach"),
        ("...", "attach"),
        ("(", "open"),
        (")", "close"),
        ('"', "quote"),
        ("_", "join"),
        ("\n", "newline"),
        ("->", "word"),
        ("hello", "word"),
    ],
)
def test_custom_symbols_get_a_spacing_from_their_text(text, spacing):
    assert infer_spacing(text) == spacing


def test_longest_phrase_wins():
    assert texts("open square bracket") == ["S:["]
    assert texts("not equals") == ["S:!="]
    assert texts("double equals") == ["S:=="]

"""format_utterance: the text inserted at the cursor, fitted to its context."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swictation_rpc.options import TextOptions
from swictation_rpc.protocol import TextContext
from swictation_rpc.text.formatting import classify, format_utterance

ON = TextOptions()
OFF = TextOptions(spoken_commands=False)


def fmt(raw: str, before: str = "", after: str = "", language_id: str | None = None, identifiers=(), options=ON):
    ctx = TextContext(before=before, after=after, language_id=language_id, identifiers=list(identifiers))
    return format_utterance(raw, ctx, options).text


# -- prose --------------------------------------------------------------------------------------


def test_spoken_punctuation_in_prose_with_the_recognizers_own_punctuation_dropped():
    assert fmt("Hello, comma, world period. How are you question mark") == "Hello, world. How are you?"


def test_capital_after_a_sentence_end_and_at_the_start():
    assert fmt("and then we left.", before="We came.") == " And then we left."
    assert fmt("and then we left.") == "And then we left."
    assert fmt("hello period how are you") == "Hello. How are you"


def test_recognizers_sentence_capital_is_dropped_mid_sentence_but_not_for_i_or_acronyms():
    assert fmt("And then we left.", before="We came") == " and then we left."
    assert fmt("And then we left.", before="We came,") == " and then we left."
    assert fmt("I think so.", before="and") == " I think so."
    assert fmt("NASA did it.", before="and") == " NASA did it."
    assert fmt("iPhone sales", before="the") == " iPhone sales"


def test_punctuation_attaches_to_the_word_before_the_cursor():
    assert fmt("Comma.", before="Hello") == ","
    assert fmt("Question mark.", before="Really") == "?"


def test_no_double_spaces_and_a_space_only_where_needed():
    assert fmt("world", before="hello ") == "world"
    assert fmt("world", before="hello") == " world"
    assert fmt("Hello", before="Hi", after="there") == " hello "
    assert fmt("hello", before="(") == "hello"
    assert fmt("hello", after=" there") == "Hello"
    assert fmt("hello", after=".") == "Hello"


def test_line_start_list_markers_and_blank_lines_start_sentences():
    assert fmt("first item", before="Intro\n- ", language_id="markdown") == "First item"
    assert fmt("first item", before="Intro\n\n", language_id="markdown") == "First item"
    assert fmt("the end", before="# ", language_id="markdown") == "The end"


def test_quotes_open_and_close_by_count():
    assert fmt("he said quote hello quote and left") == 'He said "hello" and left'
    assert fmt("quote", before='He said "hello') == '"'
    assert fmt("fine", before='"') == "Fine"
    assert fmt("fine", before='He said "hi"') == " fine"


def test_new_line_keeps_the_indentation_and_new_paragraph_starts_a_sentence():
    said = "open paren x close paren new line return x"
    assert fmt(said, before="    foo", language_id="python") == "(x)\n    return x"
    assert fmt("new paragraph the end", before="Done.") == "\n\nThe end"


def test_say_writes_a_command_word():
    assert fmt("I want to say comma here", before="So") == " I want to comma here"
    assert fmt("the word say comma", before="Use") == " the word comma"


def test_scratch_that_is_reported_and_writes_what_follows():
    result = format_utterance("Scratch that.", TextContext(), ON)
    assert result.scratch_that and result.text == ""
    result = format_utterance("Scratch that. Hello there.", TextContext(before="Hi. "), ON)
    assert result.scratch_that and result.text == "Hello there."


@pytest.mark.parametrize("raw", ["Correct that.", "correct that", "Correct, that!", "CORRECT THAT"])
def test_correct_that_as_the_whole_utterance_writes_nothing_and_asks_for_the_alternatives(raw):
    result = format_utterance(raw, TextContext(before="x = 1  # "), ON)
    assert result.correct_that and result.text == "" and not result.scratch_that


@pytest.mark.parametrize(
    ("raw", "before"),
    [
        ("Correct that value.", ""),
        ("Please correct that.", ""),
        ("That is not correct.", ""),
        ("correct that", "# "),  # as words, with spoken commands off below
    ],
)
def test_prose_that_merely_contains_correct_that_is_written_as_words(raw, before):
    options = OFF if before else ON
    result = format_utterance(raw, TextContext(before=before), options)
    assert not result.correct_that and result.text.strip()


def test_commands_off_leaves_words_but_still_fits_spacing():
    result = format_utterance("Hello comma world. Scratch that.", TextContext(before="Hi"), OFF)
    assert result.text == " hello comma world. Scratch that." and not result.scratch_that


# -- code ---------------------------------------------------------------------------------------


def test_casing_commands_in_code():
    assert fmt("camel case get user name equals five", before="    ", language_id="python") == "getUserName = five"
    assert fmt("snake case max retries", before="def ", after="():", language_id="python") == "max_retries"
    assert fmt("Pascal case, http server.", before="class ", language_id="python") == "HttpServer"
    assert fmt("all caps max size", before="x = ", language_id="c") == "MAX SIZE"
    assert fmt("screaming snake max size", before="x = ", language_id="c") == "MAX_SIZE"
    assert fmt("kebab case main menu", before="", language_id="css") == "main-menu"
    assert fmt("no space foo bar", before="", language_id="python") == "foobar"


def test_in_code_the_recognizers_capital_and_final_period_are_dropped():
    assert fmt("Return none.", before="    ", language_id="python") == "return none"


def test_in_code_a_spoken_identifier_is_spelled_as_in_the_buffer():
    result = format_utterance(
        "Get user by ID.", TextContext(before="x = ", language_id="python", identifiers=["getUserById"]), ON
    )
    assert result.text == "getUserById" and result.identifiers == ["getUserById"] and not result.prose
    assert fmt("user name", before="x = ", language_id="python", identifiers=["userName"]) == "userName"


def test_identifiers_argument_overrides_the_context_list():
    ctx = TextContext(before="x = ", language_id="python", identifiers=["userName"])
    assert format_utterance("user name", ctx, ON, ["user_name"]).text == "user_name"


def test_in_prose_only_long_phrases_become_identifiers():
    ids = ["getUserById", "isOpen"]
    assert fmt("the door is open", before="# ", language_id="python", identifiers=ids) == "The door is open"
    assert fmt("call get user by id", before="# ", language_id="python", identifiers=ids) == "Call getUserById"
    assert fmt("the door is open", before="x = ", language_id="python", identifiers=ids) == "the door isOpen"


def test_code_spacing_after_dots_and_before_calls():
    assert fmt("dot camel case foo bar", before="self", language_id="python") == ".fooBar"
    assert fmt("camel case foo bar", before="self.", language_id="python") == "fooBar"
    assert fmt("open paren x close paren", before="print", language_id="python") == "(x)"
    assert fmt("if open paren x close paren", before="", language_id="c") == "if (x)"
    assert fmt("vector", before="std::", language_id="cpp") == "vector"
    assert fmt("arrow int", before="def f() ", language_id="python") == "-> int"


def test_inside_an_identifier_words_join_it_in_its_style():
    assert fmt("user", before="get", after="ById", language_id="typescript") == "User"
    assert fmt("user name", before="get_", after="_by_id", language_id="python") == "user_name"
    assert fmt("user", before="get", after="_by_id", language_id="python") == "_user"


# -- prose or code ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "language_id", "where"),
    [
        ("x = 1", "python", "code"),
        ("x = 1  # note: ", "python", "comment"),
        ("s = 'it # is ", "python", "string"),
        ('print("hello ', "python", "string"),
        ('print("a") ', "python", "code"),
        ('def f():\n    """Return ', "python", "string"),
        ('def f():\n    """Doc."""\n    ', "python", "code"),
        ("int x; // why ", "c", "comment"),
        ("/* a\n * b ", "c", "comment"),
        ("/* a */ int ", "c", "code"),
        ("let s = `tmpl ", "typescript", "string"),
        ("fn f<'a>(x: &'a str) ", "rust", "code"),
        ("-- comment ", "lua", "comment"),
        ("some text", "markdown", "prose"),
        ("Intro\n```python\nx = ", "markdown", "code"),
        ("Intro\n```python\nx = 1\n```\nMore ", "markdown", "prose"),
        ("anything", None, "prose"),
        ("anything", "plaintext", "prose"),
        ("anything", "some-unknown-language", "prose"),
    ],
)
def test_classify_decides_prose_or_code_from_the_line_and_open_blocks(before, language_id, where):
    assert classify(TextContext(before=before, language_id=language_id)).where == where


def test_a_comment_sentence_continues_across_comment_lines():
    assert fmt("and more", before="# This is long\n# ", language_id="python") == "and more"
    assert fmt("and more", before="# This is done.\n# ", language_id="python") == "And more"


def test_no_context_is_prose_at_a_sentence_start():
    result = format_utterance("hello world", None, ON)
    assert result.text == "Hello world" and result.prose


# -- properties ---------------------------------------------------------------------------------

_word = st.sampled_from(
    [
        "hello",
        "World",
        "comma",
        "period",
        "new",
        "line",
        "open",
        "paren",
        "close",
        "quote",
        "camel",
        "case",
        "say",
        "scratch",
        "that",
        "x",
        "I",
        "Dot",
        "equals",
        "get",
        "user",
        "by",
        "id",
        "Hello,",
        "it.",
        "fine?",
    ]
)
_before = st.sampled_from(["", "Hello", "Hello ", "Hi.", "x = ", "foo(", "  # ", '"', "a\n    b", "self."])
_lang = st.sampled_from([None, "python", "markdown", "typescript"])


@given(st.lists(_word, max_size=12), _before, st.sampled_from(["", "next", " next", ")"]), _lang)
def test_never_a_double_space_nor_a_space_at_a_line_edge(words, before, after, lang):
    ctx = TextContext(before=before, after=after, language_id=lang, identifiers=["getUserById"])
    text = format_utterance(" ".join(words), ctx, ON).text
    assert "  " not in text.replace("\n    ", "\n")
    if text:
        assert not (before.endswith(" ") and text.startswith(" "))
        assert not (text.endswith(" ") and after.startswith(" "))
    assert " \n" not in text
    if before.endswith(" ") or not before:
        assert not text.startswith(" ")

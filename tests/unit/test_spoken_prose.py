"""Command or word: prose stays prose, commands set off by a pause, position or the prefix still count."""

from __future__ import annotations

from attrs import define

from swictation_rpc.options import TextOptions
from swictation_rpc.protocol import TextContext
from swictation_rpc.text.decisions import PAUSE_S, pauses_before
from swictation_rpc.text.formatting import format_utterance

ON = TextOptions()


@define(frozen=True)
class W:
    text: str
    start_s: float
    end_s: float


def timed(*parts: str | float) -> tuple[str, list[W]]:
    """Words said 0.25 s apart (a float in ``parts`` is a pause of that many seconds)."""
    words, t = [], 0.0
    for part in parts:
        if isinstance(part, float):
            t += part
            continue
        for word in part.split():
            words.append(W(word, t, t + 0.2))
            t += 0.25
    return " ".join(w.text for w in words), words


def fmt(raw, words=None, before="# ", language_id="python", options=ON, language=None):
    ctx = TextContext(before=before, language_id=language_id)
    return format_utterance(raw, ctx, options, words=words, language=language).text


def test_command_words_in_a_phrase_stay_words_in_a_comment():
    raw, words = timed("The period was so far like the present period.")
    assert fmt(raw, words) == "The period was so far like the present period."
    raw, words = timed("strip the new line characters from each row")
    assert fmt(raw, words) == "Strip the new line characters from each row"
    raw, words = timed("a comma separated list")
    assert fmt(raw, words) == "A comma separated list"


def test_bound_command_words_stay_words_even_without_timings():
    assert fmt("The period was so far like the present period.") == "The period was so far like the present period."
    assert fmt("Every sentence ends with a period.", before="", language_id="markdown") == (
        "Every sentence ends with a period."
    )
    assert fmt("put a semicolon at the end") == "Put a semicolon at the end"


def test_a_pause_sets_a_command_off_in_prose():
    raw, words = timed("first item", 0.6, "comma", 0.6, "second item")
    assert fmt(raw, words, before="", language_id="markdown") == "First item, second item"
    raw, words = timed("call", 0.6, "camel case get user")
    assert fmt(raw, words) == "Call getUser"


def test_without_a_pause_a_mid_sentence_command_word_is_a_word_with_timings():
    raw, words = timed("we prefer snake case names in python")
    assert fmt(raw, words) == "We prefer snake case names in python"
    raw, words = timed("first item comma second item")
    assert fmt(raw, words, before="", language_id="markdown") == "First item comma second item"


def test_a_command_at_the_end_or_alone_counts_in_prose():
    raw, words = timed("returns the user name period")
    assert fmt(raw, words) == "Returns the user name."
    raw, words = timed("question mark")
    assert fmt(raw, words, before="Is it ready", language_id="markdown") == "?"


def test_the_recognizers_punctuation_counts_as_a_pause():
    assert fmt("Hello, comma, world period.", before="", language_id="markdown") == "Hello, world."


def test_the_command_prefix_makes_a_command_anywhere_and_say_a_word():
    raw, words = timed("the command period is over")
    assert fmt(raw, words) == "The. Is over"
    raw, words = timed("code", 0.6, "say period")
    assert fmt(raw, words, before="x = 1", language_id="python") == " code period"


def test_code_is_lenient_every_command_phrase_counts():
    raw, words = timed("return a plus b")
    assert fmt(raw, words, before="    ") == "return a + b"
    assert fmt("print open paren name close paren", before="    ") == "print(name)"


def test_near_misses_are_commands_only_where_unambiguous():
    assert fmt("print open parent name close parent", before="    ") == "print(name)"
    assert fmt("Comment.", before="    foo(a") == ","
    # A lone "comment" in a comment, or mid-code, stays a word.
    assert fmt("comment", before="# see the") == " comment"
    assert fmt("add a comment here", before="    ") == "add a comment here"


def test_pauses_are_aligned_on_letters_whatever_the_punctuation():
    words = [W("Hello,", 0.0, 0.3), W("comma", 0.9, 1.2), W("world.", 1.25, 1.5)]
    gaps = pauses_before(["Hello,", "comma,", "world."], words)
    assert gaps is not None and gaps[0] is None and gaps[1] >= PAUSE_S and gaps[2] < PAUSE_S
    assert pauses_before(["something", "else"], words) is None


def test_a_whole_utterance_close_to_one_command_is_that_command_in_code_only():
    assert fmt("pender score", before="    my") == "_"
    assert fmt("Semi-colon.", before="x = 1") == ";"
    # Short words are too close to too much to guess ("done" is not "dot"); prose never guesses.
    assert fmt("done", before="    while not") == " done"
    assert fmt("pender score", before="# a") == " pender score"
    assert fmt("pender score now", before="    ") == "pender score now"

"""Disfluency cleanup: fillers, repetitions, "no wait" corrections; identifiers never touched."""

from __future__ import annotations

from swictation_rpc.options import TextOptions
from swictation_rpc.protocol import TextContext
from swictation_rpc.text.formatting import format_utterance


def fmt(raw, before="", language_id="markdown", cleanup=True, language=None):
    options = TextOptions(cleanup=cleanup)
    return format_utterance(raw, TextContext(before=before, language_id=language_id), options, language=language).text


def test_fillers_are_dropped():
    assert fmt("Um, I think, uh, we should ship it.") == "I think, we should ship it."
    assert fmt("Ähm das ist gut", language="de") == "Das ist gut"


def test_immediate_repetitions_are_dropped_but_not_grammatical_ones():
    assert fmt("the the cat sat") == "The cat sat"
    assert fmt("I know that that is true") == "I know that that is true"


def test_identifiers_numbers_and_acronyms_are_never_touched():
    assert fmt("getUser getUser", language_id="python", before="    ") == "getUser getUser"
    assert fmt("10 10 times") == "10 10 times"
    assert fmt("HTTP HTTP") == "HTTP HTTP"


def test_no_wait_replaces_as_many_words_as_follow_it():
    assert fmt("send it to Tom no wait Tim") == "Send it to Tim"
    assert fmt("meet at three pm no wait four pm.") == "Meet at four pm."
    assert fmt("no wait for me") == "No wait for me"


def test_cleanup_can_be_switched_off():
    assert fmt("um the the cat", cleanup=False) == "Um the the cat"


def test_cleanup_keeps_spoken_commands_working():
    assert fmt("uh print open paren name close paren", language_id="python", before="    ") == "print(name)"

"""Spoken forms back to identifiers, and hotwords for biasing recognition."""

from __future__ import annotations

import pytest

from swictation_rpc.text.vocabulary import IdentifierMatch, Vocabulary, apply_vocabulary, hotwords_for, spoken_form

IDENTIFIERS = [
    "getUserById",
    "get_user",
    "userName",
    "user",
    "parseHTTPResponse",
    "utf8Decode",
    "usersList",
    "MAX_RETRIES",
    "x",
    "i",
    "getUser",
    "getUser",
]


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("call get user by id now", "call getUserById now"),
        ("call get user by ID now", "call getUserById now"),
        ("Get User By Id", "getUserById"),
        ("get user by-id.", "getUserById."),
        ("parse HTTP response", "parseHTTPResponse"),
        ("UTF eight decode", "utf8Decode"),
        ("utf 8 decode", "utf8Decode"),
        ("the user's list", "the usersList"),
        ("the users list", "the usersList"),
        ("max retries", "MAX_RETRIES"),
        ("getUserById", "getUserById"),
    ],
)
def test_spoken_identifier_is_spelled_exactly_despite_recognizer_variants(spoken, expected):
    assert apply_vocabulary(spoken, IDENTIFIERS) == expected


def test_longest_identifier_wins_at_each_position():
    assert apply_vocabulary("get user by id", ["getUser", "getUserById"]) == "getUserById"
    assert apply_vocabulary("get user name", ["getUser", "getUserById"]) == "getUser name"


def test_most_frequent_spelling_wins_then_the_first_listed():
    # getUser is listed twice, get_user once
    assert apply_vocabulary("get user", IDENTIFIERS) == "getUser"
    assert apply_vocabulary("get user", ["get_user", "getUser"]) == "get_user"


def test_single_words_and_unknown_phrases_are_left_alone():
    assert apply_vocabulary("the user is here", IDENTIFIERS) == "the user is here"
    assert apply_vocabulary("get the user by id", IDENTIFIERS) == "get the user by id"
    assert apply_vocabulary("anything", []) == "anything"


def test_min_words_controls_how_long_a_match_must_be():
    vocab = Vocabulary(["userName", "getUserById"])
    assert vocab.find("user name".split(), min_words=3) == []
    assert vocab.find("get user by id".split(), min_words=3) == [IdentifierMatch(0, 4, "getUserById")]


def test_matches_report_word_spans():
    vocab = Vocabulary(["getUserById", "userName"])
    words = "so get user by id and user name".split()
    assert vocab.find(words) == [IdentifierMatch(1, 5, "getUserById"), IdentifierMatch(6, 8, "userName")]


def test_spoken_form():
    assert spoken_form("getHTTPResponse2") == "get http response 2"


def test_hotwords_put_multi_word_and_frequent_identifiers_first_and_respect_the_limit():
    words = hotwords_for(["x", "i", "numpy", "getUserById", "user_name", "user_name", "42", "id", "getUser"], 10)
    assert words == ["user name", "get user by id", "get user", "numpy"]
    assert hotwords_for(IDENTIFIERS, 2) == ["get user", "get user by id"]
    assert hotwords_for(IDENTIFIERS, 0) == []
    # one spoken phrase per identifier spelling family
    assert hotwords_for(["get_user", "getUser"], 10) == ["get user"]

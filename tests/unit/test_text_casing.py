"""Casing commands and splitting identifiers into words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swictation_rpc.text.casing import CASING_COMMANDS, apply_casing, split_words


@pytest.mark.parametrize(
    ("style", "words", "expected"),
    [
        ("camel", ["foo", "bar"], "fooBar"),
        ("camel", ["Get", "USER", "name"], "getUserName"),
        ("camel", ["user", "2"], "user2"),
        ("pascal", ["http", "server"], "HttpServer"),
        ("snake", ["Max", "Retries"], "max_retries"),
        ("kebab", ["main", "menu", "item"], "main-menu-item"),
        ("screaming_snake", ["max", "retries"], "MAX_RETRIES"),
        ("upper", ["hello", "world"], "HELLO WORLD"),
        ("lower", ["Hello", "World"], "hello world"),
        ("title", ["the", "big", "sleep"], "The Big Sleep"),
        ("joined", ["foo", "bar"], "foobar"),
        ("camel", [], ""),
    ],
)
def test_apply_casing_joins_words_in_each_style(style, words, expected):
    assert apply_casing(style, words) == expected


def test_spoken_casing_phrases_cover_the_documented_commands_and_common_mishearings():
    phrases = {" ".join(k) for k in CASING_COMMANDS}
    for phrase in [
        "camel case",
        "snake case",
        "pascal case",
        "kebab case",
        "all caps",
        "screaming snake",
        "no space",
        "camelcase",
        "kabob case",
    ]:
        assert phrase in phrases


@pytest.mark.parametrize(
    ("identifier", "words"),
    [
        ("getUserById", ["get", "User", "By", "Id"]),
        ("get_user_by_id", ["get", "user", "by", "id"]),
        ("main-menu", ["main", "menu"]),
        ("XMLHttpRequest", ["XML", "Http", "Request"]),
        ("parseHTTPResponse2", ["parse", "HTTP", "Response", "2"]),
        ("MAX_RETRIES", ["MAX", "RETRIES"]),
        ("utf8", ["utf", "8"]),
        ("__init__", ["init"]),
        ("os.path", ["os", "path"]),
    ],
)
def test_split_words_understands_camel_snake_kebab_acronyms_and_digits(identifier, words):
    assert split_words(identifier) == words


# Single letters are ambiguous in camel case ("aAA"), so words have two letters at least.
_words = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8), min_size=1, max_size=5)


@given(_words, st.sampled_from(["camel", "pascal", "snake", "kebab", "screaming_snake"]))
def test_split_words_undoes_every_identifier_style(words, style):
    assert [w.lower() for w in split_words(apply_casing(style, words))] == words

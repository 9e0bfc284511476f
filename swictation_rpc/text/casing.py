"""Casing commands: "camel case foo bar" -> ``fooBar``, and splitting identifiers back into words.

A casing command is a spoken phrase (``camel case``, ``snake case``, ...) followed by the words it
applies to. :mod:`swictation_rpc.text.formatting` decides where those words end (the next spoken
symbol, punctuation the recognizer added, or the end of the utterance); this module only knows the
phrases and how to join words in each style.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

CaseStyle = Literal["camel", "pascal", "snake", "kebab", "screaming_snake", "upper", "lower", "title", "joined"]

#: Spoken phrase (lower-case words) -> style. Recognizers spell some of these as one word
#: ("camelcase") or mishear them ("kabob"), so the usual variants are listed too.
CASING_COMMANDS: dict[tuple[str, ...], CaseStyle] = {
    ("camel", "case"): "camel",
    ("camelcase",): "camel",
    ("pascal", "case"): "pascal",
    ("pascalcase",): "pascal",
    ("snake", "case"): "snake",
    ("snakecase",): "snake",
    ("kebab", "case"): "kebab",
    ("kabob", "case"): "kebab",
    ("kebob", "case"): "kebab",
    ("kebabcase",): "kebab",
    ("screaming", "snake"): "screaming_snake",
    ("screaming", "snake", "case"): "screaming_snake",
    ("constant", "case"): "screaming_snake",
    ("all", "caps"): "upper",
    ("upper", "case"): "upper",
    ("uppercase",): "upper",
    ("lower", "case"): "lower",
    ("lowercase",): "lower",
    ("title", "case"): "title",
    ("no", "space"): "joined",
    ("no", "spaces"): "joined",
}

# An identifier's words: an acronym before a capitalised word (XMLHttp -> XML, Http), a
# capitalised or lower-case word, a run of capitals, a run of digits.
_WORD_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def split_words(identifier: str) -> list[str]:
    """Words of an identifier in any style, as written: ``getHTTPResponse2`` -> get, HTTP, Response, 2.

    Separators (``_``, ``-``, ``.``, spaces) split, as do case humps and digit runs. Letters
    outside ASCII count as lower-case letters only when ``str.isalpha`` says so; they are kept
    attached to the ASCII word they follow.
    """
    words: list[str] = []
    for chunk in re.split(r"[^0-9A-Za-z\u00c0-\uffff]+", identifier):
        if not chunk:
            continue
        if chunk.isascii():
            words.extend(_WORD_RE.findall(chunk))
        else:
            words.append(chunk)
    return words


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:].lower()


def apply_casing(style: CaseStyle, words: Sequence[str]) -> str:
    """Join ``words`` in ``style``. Words are taken as spoken: their own casing is dropped.

    Digits stay as they are (``user 2`` -> ``user2`` in camel case). ``upper``, ``lower`` and
    ``title`` keep the spaces between words; every other style removes them.
    """
    parts = [p for w in words for p in split_words(w)] if style != "joined" else [w for w in words if w]
    if not parts:
        return ""
    if style == "camel":
        return parts[0].lower() + "".join(_cap(p) for p in parts[1:])
    if style == "pascal":
        return "".join(_cap(p) for p in parts)
    if style == "snake":
        return "_".join(p.lower() for p in parts)
    if style == "kebab":
        return "-".join(p.lower() for p in parts)
    if style == "screaming_snake":
        return "_".join(p.upper() for p in parts)
    if style == "upper":
        return " ".join(w.upper() for w in words if w)
    if style == "lower":
        return " ".join(w.lower() for w in words if w)
    if style == "title":
        return " ".join(_cap(w) for w in words if w)
    if style == "joined":
        return "".join(parts)
    raise ValueError(f"unknown case style {style!r}")

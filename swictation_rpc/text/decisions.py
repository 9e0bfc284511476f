"""Command or word? The rules that keep prose prose, and the word timings they read.

In **code** every command phrase is a command (and near-misses of one count where unambiguous).
In **prose** (comments, strings, Markdown, plain text, commit messages) a command phrase is a
command only when it is set off as one:

1. after the explicit prefix ("command period"), wherever it is;
2. when the utterance is nothing but commands ("period", "close paren colon");
3. when it starts the utterance, or a pause of at least :data:`PAUSE_S` (from the recognizer's
   word timings), or the recognizer's own punctuation, comes right before it;
4. when it ends the utterance or the phrase (a pause or punctuation after it),

and in any case not when the word before it binds it into a noun phrase (:data:`BINDING`:
"the period", "a comma", "each new line", "the present period"), unless a pause separates them.
Without word timings (a backend that gives none) rule 3's pause is unknown, so a phrase in the
middle of a sentence stays a command unless bound; with timings, a phrase said in one breath
with the words around it ("new line characters", "a comma separated list") is a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

#: A silence this long (seconds) before a command phrase sets it off in prose.
PAUSE_S = 0.3
#: Words after which a command word is part of a noun phrase in prose.
BINDING = frozenset(
    {
        # determiners, quantifiers, possessives
        *"the a an this that these those each every any some no another its their our your my his her".split(),
        *"one per which what whose same".split(),
        # adjectives that come before the nouns commands share
        *"present current previous next last first final whole new extra trailing leading missing".split(),
        *"single double opening closing following preceding long short".split(),
        # German and Spanish articles
        *"der die das den dem des ein eine einen einem einer el la los las un una".split(),
    }
)
_PAUSE_PUNCTUATION = set(",.;:!?\u2026")


class TimedWord(Protocol):
    """A recognizer's word and when it was said (``engine.base.WordTiming`` is one)."""

    @property
    def text(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


class WordLike(Protocol):
    key: str
    trail: str
    lead: str
    gap: float | None


def is_command(
    words: Sequence[WordLike], n: int, length: int, *, strict: bool, timed: bool, only_commands: bool
) -> bool:
    """Whether the phrase ``words[n : n + length]`` is a command here (see the module doc)."""
    if not strict or only_commands:
        return True
    prev = words[n - 1] if n > 0 else None
    last = words[n + length - 1]
    nxt = words[n + length] if n + length < len(words) else None
    paused_before = prev is None or _set_off(prev, words[n])
    paused_after = nxt is None or _set_off(last, nxt)
    if prev is not None and prev.key in BINDING and not paused_before:
        return False
    if paused_before or paused_after:
        return True
    return not timed


def _set_off(left: WordLike, right: WordLike) -> bool:
    """A pause or the recognizer's punctuation between two words."""
    if any(c in _PAUSE_PUNCTUATION for c in left.trail) or right.lead:
        return True
    return right.gap is not None and right.gap >= PAUSE_S


def pauses_before(chunks: Sequence[str], words: Sequence[TimedWord] | None) -> list[float | None] | None:
    """For each whitespace-separated chunk of a transcript, the silence before it (seconds).

    The chunks and the recognizer's timed words are aligned on their letters and digits (so
    punctuation the two attach differently does not matter); ``None`` when they do not spell the
    same text, or for chunks without letters. The first word's pause is ``None``.
    """
    if not words:
        return None
    owner: list[int] = []  # letter index -> timed word index
    for index, word in enumerate(words):
        owner.extend([index] * sum(1 for c in word.text if c.isalnum()))
    stream = "".join(c.lower() for w in words for c in w.text if c.isalnum())
    text = "".join(c.lower() for chunk in chunks for c in chunk if c.isalnum())
    if stream != text:
        return None
    gaps: list[float | None] = []
    at = 0
    previous_word: int | None = None
    for chunk in chunks:
        letters = sum(1 for c in chunk if c.isalnum())
        if not letters:
            gaps.append(None)
            continue
        first, last = owner[at], owner[at + letters - 1]
        if previous_word is None:
            gaps.append(None)
        elif first == previous_word:
            gaps.append(0.0)
        else:
            gaps.append(max(0.0, words[first].start_s - words[previous_word].end_s))
        previous_word = last
        at += letters
    return gaps


#: A whole utterance in code this close to one command phrase (edits per letter) is that command.
FUZZY_EDITS_PER_LETTER = 0.2


def closest_phrase(heard: str, phrases: Sequence[str]) -> str | None:
    """The one phrase within :data:`FUZZY_EDITS_PER_LETTER` of ``heard`` (letters only, spaces
    ignored: "pender score" ~ "underscore"), or ``None`` when none is, or two are equally close."""
    target = heard.replace(" ", "")
    if len(target) < 5:
        return None  # "done" vs "dot": too short to tell a near-miss from another word
    limit = max(1, int(FUZZY_EDITS_PER_LETTER * len(target)))
    best: list[tuple[int, str]] = []
    for phrase in phrases:
        candidate = phrase.replace(" ", "")
        if abs(len(candidate) - len(target)) > limit:
            continue
        d = _edits(target, candidate, limit)
        if d <= limit:
            best.append((d, phrase))
    best.sort()
    if not best or (
        len(best) > 1 and best[0][0] == best[1][0] and best[0][1].replace(" ", "") != best[1][1].replace(" ", "")
    ):
        return None
    return best[0][1]


def _edits(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, stopping early once every path is over ``limit``."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]

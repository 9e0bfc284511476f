"""Words from the buffer: spoken forms back to the exact identifier spelling, and hotwords.

An identifier is split into words (``getUserById`` -> get, user, by, id); a run of transcript
words that spells those words, compared case-insensitively, is replaced by the identifier. Matching
goes left to right and takes the longest identifier at each position. Tolerated recognizer
variants: any casing ("ID"), hyphens and underscores inside a word ("by-id"), a possessive or
dropped apostrophe ("user's" matches ``user`` or ``users``), digits and number words ("eight" and
"8"), and a word already written as an identifier ("getUserById").

How much recognition gains from biasing with :func:`hotwords_for` depends on the engine and is
measured there, not here.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Sequence

from attrs import define

from swictation_rpc.text.casing import split_words

_NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_WORD_TO_DIGITS = {w: str(n) for n, w in enumerate(_NUMBER_WORDS)}
_END = "\0"


def _identifier_key(part: str) -> str:
    key = part.lower()
    return _WORD_TO_DIGITS.get(key, key)


def _alternatives(part: str) -> frozenset[str]:
    """Keys one transcript word part may stand for."""
    key = part.lower().replace("\u2019", "'")
    if key.endswith("'s"):
        stem = key[:-2]
        return frozenset({stem, stem + "s"})
    key = key.replace("'", "")
    return frozenset({_WORD_TO_DIGITS.get(key, key)})


def spoken_form(identifier: str) -> str:
    """How an identifier is said: ``getUserById`` -> ``get user by id`` (lower case)."""
    return " ".join(p.lower() for p in split_words(identifier))


@define(frozen=True)
class IdentifierMatch:
    """Transcript words ``start`` to ``end`` (exclusive) spell ``identifier``."""

    start: int
    end: int
    identifier: str


class Vocabulary:
    """Identifiers indexed by their words, for matching in transcripts.

    When several identifiers share the same words (``get_user`` and ``getUser``), the one seen most
    often in ``identifiers`` wins, then the first seen: the client lists the document's own first.
    """

    def __init__(self, identifiers: Iterable[str]):
        counts = Counter(i for i in identifiers if i)
        self._trie: dict = {}
        best: dict[tuple[str, ...], tuple[int, int, str]] = {}
        for order, (ident, count) in enumerate(counts.items()):
            keys = tuple(_identifier_key(p) for p in split_words(ident))
            if not keys:
                continue
            rank = (-count, order, ident)
            if keys not in best or rank < best[keys]:
                best[keys] = rank
        for keys, (_, _, ident) in best.items():
            node = self._trie
            for k in keys:
                node = node.setdefault(k, {})
            node[_END] = (ident, len(keys))

    def __bool__(self) -> bool:
        return bool(self._trie)

    def find(self, words: Sequence[str], *, min_words: int = 2) -> list[IdentifierMatch]:
        """Non-overlapping identifier matches in ``words``, longest first at each position.

        ``min_words`` is the fewest identifier words a match needs: a single common word ("name")
        is left alone, since it is far more often just a word.
        """
        # Each transcript word may hold several parts ("by-id", "getUserById").
        parts: list[tuple[frozenset[str], int]] = []
        starts: dict[int, int] = {}
        for w_index, word in enumerate(words):
            pieces = _rejoin_apostrophes(word)
            starts[w_index] = len(parts)
            for piece in pieces:
                parts.append((_alternatives(piece), w_index))
        ends_at = {}  # part index -> word index, when that part is a word's last
        for p_index, (_, w_index) in enumerate(parts):
            ends_at[w_index] = p_index
        last_part = {p: w for w, p in ends_at.items()}

        matches: list[IdentifierMatch] = []
        w = 0
        while w < len(words):
            if w not in starts or starts[w] >= len(parts) or parts[starts[w]][1] != w:
                w += 1
                continue
            found = self._longest(parts, starts[w], last_part, min_words)
            if found is None:
                w += 1
                continue
            end_word, ident = found
            matches.append(IdentifierMatch(w, end_word + 1, ident))
            w = end_word + 1
        return matches

    def _longest(self, parts, start, last_part, min_words):
        best: tuple[int, str] | None = None
        stack = [(self._trie, start)]
        while stack:
            node, i = stack.pop()
            if _END in node and i - 1 in last_part:
                ident, n_keys = node[_END]
                end_word = last_part[i - 1]
                if n_keys >= min_words and (best is None or end_word > best[0]):
                    best = (end_word, ident)
            if i >= len(parts):
                continue
            for alt in parts[i][0]:
                child = node.get(alt)
                if child is not None:
                    stack.append((child, i + 1))
        return best

    def replace(self, text: str, *, min_words: int = 2) -> str:
        """``text`` with spoken identifiers spelled exactly; the words are re-joined by spaces.

        Punctuation after a matched phrase ("by-id.") is kept after the identifier.
        """
        words = text.split()
        out: list[str] = []
        i = 0
        for m in self.find(words, min_words=min_words):
            out.extend(words[i : m.start])
            last = words[m.end - 1]
            tail = last[len(last.rstrip('.,;:!?)]}"')) :]
            out.append(m.identifier + tail)
            i = m.end
        out.extend(words[i:])
        return " ".join(out)


def _rejoin_apostrophes(word: str) -> list[str]:
    """Parts of a transcript word, keeping "user's" whole so the possessive can be matched."""
    if "'" not in word and "\u2019" not in word:
        return split_words(word)
    out: list[str] = []
    for chunk in word.replace("\u2019", "'").replace("-", " ").replace("_", " ").split():
        if "'" in chunk:
            out.append(chunk)
        else:
            out.extend(split_words(chunk))
    return out


@functools.lru_cache(maxsize=8)
def _cached(identifiers: tuple[str, ...]) -> Vocabulary:
    return Vocabulary(identifiers)


def vocabulary(identifiers: Sequence[str]) -> Vocabulary:
    """A :class:`Vocabulary`, cached for the last few identifier lists (clients resend the same)."""
    return _cached(tuple(identifiers))


def apply_vocabulary(text: str, identifiers: Sequence[str], *, min_words: int = 2) -> str:
    """``text`` with multi-word spoken identifiers replaced by their spelling."""
    return vocabulary(identifiers).replace(text, min_words=min_words)


def hotwords_for(identifiers: Sequence[str], limit: int = 100) -> list[str]:
    """Spoken phrases to bias recognition with, most useful first, at most ``limit``.

    Multi-word identifiers come first (a recognizer rarely gets ``getUserById`` from priors
    alone), ordered by how often the client listed them, then single-word ones of at least four
    letters. Single letters, numbers and duplicates are left out. Phrases are lower case, words
    separated by one space; the engine decides the format (sherpa-onnx hotwords file, whisper
    ``hotwords``).
    """
    if limit <= 0:
        return []
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    multi: dict[str, bool] = {}
    for ident in identifiers:
        words = [p.lower() for p in split_words(ident)] if ident else []
        if not words or all(w.isdigit() for w in words):
            continue
        phrase = " ".join(words)
        is_multi = len(words) > 1 and sum(len(w) for w in words) >= 4
        if not is_multi and (len(phrase) < 4 or not phrase.isalpha()):
            continue
        counts[phrase] += 1
        first_seen.setdefault(phrase, len(first_seen))
        multi[phrase] = is_multi
    ranked = sorted(counts, key=lambda p: (not multi[p], -counts[p], first_seen[p]))
    return ranked[:limit]

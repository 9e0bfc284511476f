"""Disfluency cleanup: fillers, immediate repetitions, and one self-correction form.

On by default (``text.cleanup``), applied to the recognizer's words before spoken commands are
matched. Deliberately narrow, so it never eats what was meant:

* **Fillers** of the spoken language are dropped: English "um", "uh", "uhm", "erm", "hmm";
  German "äh", "ähm", "öhm"; Spanish "eh", "este" is *not* one (it is also a word).
* **Immediate repetitions** of one plain word ("the the" -> "the") are dropped, except words
  that repeat in good grammar ("that that", "had had") and anything that is not a lower-case
  alphabetic word (identifiers, numbers, acronyms are never touched).
* **Self-correction**: ``<words> no wait <words>``: the N words after "no wait" (up to the next
  punctuation or the end, N at most 3) replace the N words before it. "send it to Tom no wait
  Tim" -> "send it to Tim". Said first, or with nothing after it, "no wait" is left alone.

The functions work on (key, item) pairs so :mod:`~swictation_rpc.text.commands` keeps the
recognizer's punctuation with its words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

FILLERS: dict[str, frozenset[str]] = {
    "en": frozenset({"um", "uh", "uhm", "umm", "erm", "hmm", "mm"}),
    "de": frozenset({"äh", "ähm", "öhm", "hm", "um", "uh"}),
    "es": frozenset({"eh", "em", "um", "uh", "mmm"}),
}
#: Words that may repeat in a correct sentence.
_GRAMMATICAL_REPEATS = frozenset({"that", "had", "is", "das", "die", "que"})
CORRECTION: tuple[str, ...] = ("no", "wait")
MAX_CORRECTION_WORDS = 3


def clean(
    items: Sequence[T],
    key: Callable[[T], str],
    *,
    language: str = "en",
    breaks_after: Callable[[T], bool] = lambda item: False,
    protected: Callable[[T], bool] = lambda item: False,
    plain: Callable[[T], bool] = lambda item: True,
) -> list[T]:
    """``items`` without fillers, repeated words and corrected words (see the module doc).

    ``key`` gives an item's lower-case word; ``breaks_after`` whether punctuation follows it
    (ends a correction's replacement); ``protected`` items are never dropped; only ``plain``
    words (not identifiers, acronyms or numbers as written) count as repeated.
    """
    fillers = FILLERS.get(language, FILLERS["en"]) | FILLERS["en"]
    out: list[T] = []
    for item in items:
        k = key(item)
        if not protected(item) and k in fillers:
            continue
        if (
            out
            and not protected(item)
            and plain(item)
            and plain(out[-1])
            and k == key(out[-1])
            and k.isalpha()
            and k not in _GRAMMATICAL_REPEATS
        ):
            continue
        out.append(item)
    return _corrections(out, key, breaks_after)


def _corrections(items: list[T], key: Callable[[T], str], breaks_after: Callable[[T], bool]) -> list[T]:
    n = len(CORRECTION)
    i = 0
    while i <= len(items) - n:
        if tuple(key(items[i + k]) for k in range(n)) != CORRECTION or i == 0:
            i += 1
            continue
        after = i + n
        count = 0
        while after + count < len(items) and count < MAX_CORRECTION_WORDS:
            count += 1
            if breaks_after(items[after + count - 1]):
                break
        if count == 0:
            i += 1
            continue
        dropped = min(count, i)
        items = items[: i - dropped] + items[after:]
        i = i - dropped + count
    return items

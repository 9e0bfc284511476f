"""Spoken punctuation and commands: "comma", "new line", "open paren", "scratch that", "say …".

The recognizers add punctuation and capitals of their own ("Comma." for a spoken "comma"), so a
transcript is first split into words with the punctuation the recognizer attached kept apart, and
commands are matched on the bare, lower-cased words. :func:`parse` turns a transcript into tokens
(words, symbols, casing runs); :mod:`swictation_rpc.text.formatting` lays them out.

Rules, kept few so they are predictable:

* A command phrase is matched longest first, case-insensitively, ignoring the punctuation the
  recognizer put around it. Punctuation the recognizer put right before a spoken ``comma``,
  ``period``, closing bracket, ``new line``, ... is dropped: it was the recognizer's guess at the
  same thing.
* ``say X`` writes X literally when X is a command ("say comma" -> "comma"); before anything else
  ``say`` is an ordinary word ("I say so").
* ``scratch that`` drops what came before it in the same utterance; said first (nothing before it),
  it asks for the previous utterance to be removed (:attr:`Parsed.scratch_previous`).
* ``correct that`` counts only as the whole utterance (:func:`is_correct_that`): it asks for the
  previous utterance's alternatives and writes nothing.
* A casing command ("camel case", "snake case", ...) takes the words after it, up to the next
  symbol (spoken or the recognizer's punctuation) or the end of the utterance.

Tables are per languageId (:data:`LANGUAGE_COMMANDS`) and spoken language
(:mod:`~swictation_rpc.text.spoken_languages`), and extensible from configuration
(:func:`command_table`'s ``custom``). Whether a matched phrase is a command or a word in prose
(pauses, position, the ``command`` prefix) is decided by :mod:`~swictation_rpc.text.decisions`.

(Over the usual ~450 lines: the English table is data, and splitting the one parser would only
scatter its rules.)
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from attrs import define, field

from swictation_rpc.text.casing import CASING_COMMANDS, CaseStyle
from swictation_rpc.text.cleanup import clean
from swictation_rpc.text.decisions import TimedWord, closest_phrase, is_command, pauses_before
from swictation_rpc.text.spoken_languages import (
    COMMAND_PREFIX,
    LITERAL_WORDS,
    NEAR_MISSES,
    SYMBOL_PHRASES,
    base_language,
)

log = logging.getLogger(__name__)

#: How a symbol sits between its neighbours.
#: ``word``: spaces on both sides (``=``); ``attach``: sticks to what is before it, space after
#: (``,``); ``open``: space before, none after (``(``); ``close``: none before, space after
#: (``)``); ``join``: no space either side (``_``); ``quote``: ``open`` or ``close`` by the
#: count of that quote on the line; ``newline``: a line break (keeps the line's indentation).
Spacing = Literal["word", "attach", "open", "close", "join", "quote", "newline"]
SPACINGS: tuple[str, ...] = ("word", "attach", "open", "close", "join", "quote", "newline")


@define(frozen=True)
class Symbol:
    """Text a spoken command writes, and how it is spaced."""

    text: str
    spacing: Spacing = "word"
    sentence_end: bool = False
    """In prose, the next word starts a sentence (capital)."""


@define(frozen=True)
class CaseCommand:
    style: CaseStyle


@define(frozen=True)
class ScratchThat:
    pass


@define(frozen=True)
class Say:
    pass


@define(frozen=True)
class Prefix:
    """The explicit command prefix ("command period"): the next phrase is a command anywhere."""


Command = Symbol | CaseCommand | ScratchThat | Say | Prefix


def _sym(text: str, spacing: Spacing = "word", sentence_end: bool = False) -> Symbol:
    return Symbol(text, spacing, sentence_end)


_COMMA = _sym(",", "attach")
_PERIOD = _sym(".", "attach", True)
_OPEN_PAREN, _CLOSE_PAREN = _sym("(", "open"), _sym(")", "close")
_OPEN_BRACKET, _CLOSE_BRACKET = _sym("[", "open"), _sym("]", "close")
_OPEN_BRACE, _CLOSE_BRACE = _sym("{", "open"), _sym("}", "close")

#: Every language. Keys are spoken phrases, lower case, words separated by one space.
DEFAULT_COMMANDS: dict[str, Symbol] = {
    "comma": _COMMA,
    "period": _PERIOD,
    "full stop": _PERIOD,
    "question mark": _sym("?", "attach", True),
    "exclamation mark": _sym("!", "attach", True),
    "exclamation point": _sym("!", "attach", True),
    "colon": _sym(":", "attach"),
    "semicolon": _sym(";", "attach"),
    "semi colon": _sym(";", "attach"),
    "ellipsis": _sym("...", "attach"),
    "new line": _sym("\n", "newline"),
    "next line": _sym("\n", "newline"),
    "new paragraph": _sym("\n\n", "newline", True),
    "open paren": _OPEN_PAREN,
    "open parenthesis": _OPEN_PAREN,
    "left paren": _OPEN_PAREN,
    "close paren": _CLOSE_PAREN,
    "close parenthesis": _CLOSE_PAREN,
    "right paren": _CLOSE_PAREN,
    "open bracket": _OPEN_BRACKET,
    "open square bracket": _OPEN_BRACKET,
    "left bracket": _OPEN_BRACKET,
    "close bracket": _CLOSE_BRACKET,
    "close square bracket": _CLOSE_BRACKET,
    "right bracket": _CLOSE_BRACKET,
    "open brace": _OPEN_BRACE,
    "open curly brace": _OPEN_BRACE,
    "open curly": _OPEN_BRACE,
    "left brace": _OPEN_BRACE,
    "close brace": _CLOSE_BRACE,
    "close curly brace": _CLOSE_BRACE,
    "close curly": _CLOSE_BRACE,
    "right brace": _CLOSE_BRACE,
    "open angle bracket": _sym("<", "open"),
    "close angle bracket": _sym(">", "close"),
    "quote": _sym('"', "quote"),
    "double quote": _sym('"', "quote"),
    "open quote": _sym('"', "open"),
    "close quote": _sym('"', "close"),
    "end quote": _sym('"', "close"),
    "unquote": _sym('"', "close"),
    "single quote": _sym("'", "quote"),
    "apostrophe": _sym("'", "join"),
    "backtick": _sym("`", "quote"),
    "back tick": _sym("`", "quote"),
    "dash": _sym("-", "join"),
    "hyphen": _sym("-", "join"),
    "em dash": _sym("\u2014", "word"),
    "underscore": _sym("_", "join"),
    "dot": _sym(".", "join"),
    "slash": _sym("/", "join"),
    "forward slash": _sym("/", "join"),
    "backslash": _sym("\\", "join"),
    "back slash": _sym("\\", "join"),
    "equals": _sym("=", "word"),
    "equal sign": _sym("=", "word"),
    "equals sign": _sym("=", "word"),
    "double equals": _sym("==", "word"),
    "not equals": _sym("!=", "word"),
    "not equal": _sym("!=", "word"),
    "plus": _sym("+", "word"),
    "plus sign": _sym("+", "word"),
    "minus": _sym("-", "word"),
    "minus sign": _sym("-", "word"),
    "asterisk": _sym("*", "word"),
    "greater than": _sym(">", "word"),
    "less than": _sym("<", "word"),
    "ampersand": _sym("&", "word"),
    "pipe": _sym("|", "word"),
    "vertical bar": _sym("|", "word"),
    "percent sign": _sym("%", "attach"),
    "hash sign": _sym("#", "open"),
    "pound sign": _sym("#", "open"),
    "at sign": _sym("@", "open"),
    "dollar sign": _sym("$", "open"),
    "tilde": _sym("~", "open"),
    "caret": _sym("^", "join"),
}

_ARROW_WORD, _ARROW_JOIN = _sym("->", "word"), _sym("->", "join")
_FAT_ARROW = _sym("=>", "word")
_DOUBLE_COLON = _sym("::", "join")
_JS = {
    "arrow": _FAT_ARROW,
    "fat arrow": _FAT_ARROW,
    "triple equals": _sym("===", "word"),
    "not triple equals": _sym("!==", "word"),
    "question dot": _sym("?.", "join"),
}
_C = {"arrow": _ARROW_JOIN, "double colon": _DOUBLE_COLON}

#: Extra phrases per LSP languageId, on top of :data:`DEFAULT_COMMANDS`. Deliberately modest.
LANGUAGE_COMMANDS: dict[str, dict[str, Symbol]] = {
    "python": {"arrow": _ARROW_WORD, "colon equals": _sym(":=", "word"), "walrus": _sym(":=", "word")},
    "javascript": _JS,
    "javascriptreact": _JS,
    "typescript": _JS,
    "typescriptreact": _JS,
    "rust": {"arrow": _ARROW_WORD, "fat arrow": _FAT_ARROW, "double colon": _DOUBLE_COLON},
    "c": _C,
    "cpp": _C,
    "php": {"arrow": _ARROW_JOIN, "fat arrow": _FAT_ARROW, "double colon": _DOUBLE_COLON},
    "go": {"colon equals": _sym(":=", "word"), "arrow": _sym("<-", "word")},
    "java": {"arrow": _ARROW_WORD, "double colon": _DOUBLE_COLON},
    "kotlin": {"arrow": _ARROW_WORD, "double colon": _DOUBLE_COLON},
    "scala": {"arrow": _FAT_ARROW, "fat arrow": _FAT_ARROW},
    # An integrated terminal (the clients send this languageId): the text is typed into the shell
    # without running it; a newline said as "press enter" or "run that" runs the command line.
    "terminal": {"press enter": DEFAULT_COMMANDS["new line"], "run that": DEFAULT_COMMANDS["new line"]},
}

#: Commands that are not symbols. ``scratch that`` and ``say`` cannot be removed by configuration
#: (only all spoken commands can be turned off), casing commands can be overridden.
_SPECIAL: dict[tuple[str, ...], Command] = {
    ("scratch", "that"): ScratchThat(),
    ("say",): Say(),
    **{phrase: CaseCommand(style) for phrase, style in CASING_COMMANDS.items()},
}

# Spacing of punctuation the recognizer wrote, and the default for custom symbols.
_ATTACH_CHARS = set(",.;:!?%\u2026")
_SENTENCE_END_CHARS = set(".!?\u2026")
_OPEN_CHARS = set("([{\u00bf\u00a1\u201c\u2018")
_CLOSE_CHARS = set(")]}\u201d\u2019")
_QUOTE_CHARS = set('"`')
_JOIN_CHARS = set("_/\\.^")


def infer_spacing(text: str) -> Spacing:
    """How to space a symbol given only its text: by its last character for punctuation.

    ``,`` attach, ``(`` open, ``)`` close, ``"`` quote, ``_``/``/`` join, a line break
    newline, anything else (``->``, ``:=``, words) spaced like a word.
    """
    if text and text.strip("\r\n") == "":
        return "newline"
    if not text or any(c.isalnum() or c.isspace() for c in text):
        return "word"
    if len(text) == 1:
        c = text
        if c in _ATTACH_CHARS:
            return "attach"
        if c in _OPEN_CHARS:
            return "open"
        if c in _CLOSE_CHARS:
            return "close"
        if c in _QUOTE_CHARS:
            return "quote"
        if c in _JOIN_CHARS:
            return "join"
    elif all(c in _ATTACH_CHARS for c in text):
        return "attach"
    return "word"


def normalize_phrase(phrase: str) -> tuple[str, ...]:
    """The words of a spoken phrase as matched: lower case, hyphens removed, apostrophes straight."""
    return tuple(word_key(w) for w in phrase.split() if word_key(w))


def word_key(word: str) -> str:
    """How a transcript word is compared with command phrases: ``"Full-"`` -> ``full``."""
    w = word.lower().replace("\u2019", "'").replace("-", "")
    return w.strip(".,;:!?\"'()[]{}\u2026\u201c\u201d")


#: "correct that" per spoken language: said as the whole utterance, it asks for the alternatives of
#: the previous utterance. Never matched inside a longer utterance, so prose that contains the
#: words ("that is not correct", "correct that value") stays prose.
CORRECT_THAT: dict[str, tuple[str, ...]] = {"en": ("correct", "that")}


def is_correct_that(raw: str, language: str | None = None) -> bool:
    """Whether the whole transcript is "correct that" (the recognizer's punctuation and capitals aside)."""
    phrase = CORRECT_THAT.get(base_language(language), CORRECT_THAT["en"])
    return normalize_phrase(raw) == phrase


@define(frozen=True)
class CommandTable:
    """Spoken phrases (as word tuples) -> commands, for one languageId and configuration."""

    commands: Mapping[tuple[str, ...], Command]
    max_words: int = field(default=0)
    near_misses: Mapping[tuple[str, ...], Command] = field(factory=dict)
    """Misheard forms of commands, used only where unambiguous (see ``decisions``)."""
    language: str = "en"
    """The spoken language of the phrases."""

    def match_near_miss(self, keys: list[str], start: int) -> tuple[int, Command] | None:
        for n in (3, 2, 1):
            command = self.near_misses.get(tuple(keys[start : start + n])) if start + n <= len(keys) else None
            if command is not None:
                return n, command
        return None

    def match(self, keys: list[str], start: int) -> tuple[int, Command] | None:
        """The longest command starting at ``keys[start]``: (number of words, command)."""
        for n in range(min(self.max_words, len(keys) - start), 0, -1):
            command = self.commands.get(tuple(keys[start : start + n]))
            if command is not None:
                return n, command
        return None


CustomCommands = Mapping[str, Mapping[str, Any]]


def command_table(
    language_id: str | None = None, custom: CustomCommands | None = None, spoken: str = "en"
) -> CommandTable:
    """The commands in effect for ``language_id`` (a document's LSP languageId) spoken in ``spoken``.

    ``custom`` extends or overrides them from configuration: ``{"*": {...}, "python": {...}}``,
    each mapping a spoken phrase to its text (``"arrow": "->"``, spacing inferred by
    :func:`infer_spacing`), to ``{"text": "->", "spacing": "join"}``, or to ``None`` (or ``""``)
    to remove a default phrase. ``*`` applies to every language; a language's own entries win.
    Multi-word phrases are also matched written as one word ("newline", "backslash").
    """
    spoken = base_language(spoken)
    if custom:
        return _build(language_id, _freeze_custom(custom), spoken)
    return _build(language_id, (), spoken)


def _freeze_custom(custom: CustomCommands) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """Hashable form of the configured commands (for the cache); malformed entries are skipped."""
    frozen = []
    for lang, table in custom.items():
        if not isinstance(table, Mapping):
            log.warning("Spoken commands for %r ignored: expected an object of phrase -> text", lang)
            continue
        items = []
        for phrase, value in table.items():
            if isinstance(value, Mapping):
                text = value.get("text")
                value = (
                    text if isinstance(text, str) else None,
                    value.get("spacing"),
                    bool(value.get("sentenceEnd", False)),
                )
            elif value is not None and not isinstance(value, str):
                log.warning("Spoken command %r ignored: its text must be a string", phrase)
                continue
            items.append((str(phrase), value))
        frozen.append((str(lang), tuple(items)))
    return tuple(frozen)


def _custom_symbol(value: Any) -> Symbol | None:
    if value is None or value == "":
        return None
    if isinstance(value, tuple):
        text, spacing, sentence_end = value
        if not text:
            return None
        if spacing not in SPACINGS:
            spacing = infer_spacing(text)
        return Symbol(str(text), spacing, sentence_end)
    text = str(value)
    return Symbol(text, infer_spacing(text), text in {".", "?", "!"})


@functools.lru_cache(maxsize=64)
def _build(language_id: str | None, custom: tuple, spoken: str = "en") -> CommandTable:
    phrases: dict[str, Symbol | None] = dict(DEFAULT_COMMANDS) if spoken == "en" else {}
    for phrase, english in SYMBOL_PHRASES.get(spoken, {}).items():
        phrases[phrase] = DEFAULT_COMMANDS[english]
    phrases.update(LANGUAGE_COMMANDS.get(language_id or "", {}))
    custom_map = dict(custom)
    for lang in ("*", language_id):
        for phrase, value in custom_map.get(lang, ()) if lang is not None else ():
            phrases[" ".join(normalize_phrase(phrase))] = _custom_symbol(value)

    commands: dict[tuple[str, ...], Command] = {}
    for phrase_map in (
        {k: v for k, v in _SPECIAL.items() if isinstance(v, CaseCommand)},
        {normalize_phrase(p): s for p, s in phrases.items()},
    ):
        for words, command in phrase_map.items():
            if not words:
                continue
            if command is None:
                commands.pop(words, None)
                commands.pop(("".join(words),), None)
                continue
            commands[words] = command
            if len(words) > 1:
                commands.setdefault(("".join(words),), command)
    # Removing "say" or "scratch that" would make other phrases impossible to undo or write.
    commands[("scratch", "that")] = ScratchThat()
    for word in {"say", *LITERAL_WORDS.get(spoken, ())}:
        commands[(word,)] = Say()
    commands[(COMMAND_PREFIX.get(spoken, "command"),)] = Prefix()
    near: dict[tuple[str, ...], Command] = {}
    for miss, meant in NEAR_MISSES.get(spoken, {}).items():
        target = commands.get(normalize_phrase(meant))
        if target is not None and normalize_phrase(miss) not in commands:
            near[normalize_phrase(miss)] = target
    return CommandTable(commands, max(len(k) for k in commands), near, spoken)


# ---------------------------------------------------------------------------------------------
# Tokens


@define(frozen=True)
class Word:
    """A word to write as it is (after casing and spacing decisions)."""

    text: str
    literal: bool = False
    """Came from ``say …``: never a command, never part of an identifier match."""


@define(frozen=True)
class SymbolToken:
    symbol: Symbol
    spoken: bool
    """False for punctuation the recognizer wrote itself."""


@define(frozen=True)
class Cased:
    """A casing command and the words it applies to."""

    style: CaseStyle
    words: tuple[str, ...]


Token = Word | SymbolToken | Cased


@define
class Parsed:
    tokens: list[Token]
    scratch_previous: bool = False
    """``scratch that`` was said with nothing before it: remove the previous utterance."""


_LEAD = '"([{\u00bf\u00a1\u201c'
_TRAIL = '.,;:!?)]}"\u2026\u201d'
_ABBREV_RE = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]\.?$")


@define
class _RawWord:
    text: str
    key: str
    lead: str
    trail: str
    gap: float | None = None
    """Silence before the word (seconds), when the recognizer gave word timings."""


def _split_chunk(chunk: str) -> _RawWord | list[SymbolToken]:
    """Peel the recognizer's punctuation off one whitespace-separated chunk."""
    if not any(c.isalnum() for c in chunk):
        return [SymbolToken(Symbol(chunk, infer_spacing(chunk), chunk[-1] in _SENTENCE_END_CHARS), False)]
    i, j = 0, len(chunk)
    while i < j and chunk[i] in _LEAD:
        i += 1
    if _ABBREV_RE.match(chunk[i:j].rstrip(_TRAIL.replace(".", ""))):
        # "e.g." / "U.S.": the final dot belongs to the word.
        while j > i and chunk[j - 1] in _TRAIL and chunk[j - 1] != ".":
            j -= 1
    else:
        while j > i and chunk[j - 1] in _TRAIL:
            j -= 1
    core = chunk[i:j]
    return _RawWord(core, word_key(core), chunk[:i], chunk[j:])


def _punct_tokens(chars: str) -> list[SymbolToken]:
    tokens = []
    for c in chars:
        spacing = infer_spacing(c)
        if c == '"' or c in "\u201c\u201d":
            spacing = "open" if c == "\u201c" else "close" if c == "\u201d" else "quote"
        tokens.append(SymbolToken(Symbol(c, spacing, c in _SENTENCE_END_CHARS), False))
    return tokens


_DROPS_ASR_BEFORE = {"attach", "close", "newline", "join"}


def is_recognizer_punctuation(token: Token) -> bool:
    """Punctuation the recognizer attached to a word (``,`` ``.`` ``?``), not a spoken symbol."""
    return isinstance(token, SymbolToken) and not token.spoken and token.symbol.spacing == "attach"


def parse(
    raw: str,
    table: CommandTable | None = None,
    *,
    enabled: bool = True,
    strict: bool = False,
    words: Sequence[TimedWord] | None = None,
    cleanup: bool = False,
) -> Parsed:
    """Tokens of a transcript: words, symbols (spoken or the recognizer's) and casing runs.

    With ``enabled`` false only the recognizer's words and punctuation come out. ``strict``: the
    text goes into prose, where a command phrase must be set off to count (see
    :mod:`~swictation_rpc.text.decisions`, which reads the pauses in ``words``, the recognizer's
    timed words). ``cleanup`` drops fillers, repetitions and corrected words first
    (:mod:`~swictation_rpc.text.cleanup`).
    """
    chunks = raw.split()
    gaps = pauses_before(chunks, words) if enabled and strict else None
    items: list[_RawWord | SymbolToken] = []
    for index, chunk in enumerate(chunks):
        split = _split_chunk(chunk)
        if isinstance(split, list):
            items.extend(split)
        else:
            split.gap = gaps[index] if gaps is not None else None
            items.append(split)
    if cleanup:
        language = table.language if table is not None else "en"
        items = clean(
            items,
            lambda it: it.key if isinstance(it, _RawWord) else "",
            language=language,
            breaks_after=lambda it: isinstance(it, SymbolToken) or bool(it.trail),
            protected=lambda it: isinstance(it, SymbolToken),
            plain=lambda it: isinstance(it, _RawWord) and _plain_word(it.text),
        )

    if not enabled or table is None:
        tokens: list[Token] = []
        for item in items:
            if isinstance(item, SymbolToken):
                tokens.append(item)
            else:
                tokens.extend(_punct_tokens(item.lead))
                tokens.append(Word(item.text))
                tokens.extend(_punct_tokens(item.trail))
        return Parsed(tokens)

    # Commands are matched over words only; the recognizer's punctuation between them is kept
    # with the word it was attached to (and dropped where a command consumes that word).
    words_ = [it for it in items if isinstance(it, _RawWord)]
    keys = [w.key for w in words_]
    position = {id(w): n for n, w in enumerate(words_)}
    only_commands = _only_commands(table, keys)
    timed = gaps is not None

    out: list[Token] = []
    scratch_previous = False
    case_style: CaseStyle | None = None
    case_words: list[str] = []
    skip_until = -1  # index into words: consumed by a command

    def flush_case() -> None:
        nonlocal case_style
        if case_style is not None:
            out.append(Cased(case_style, tuple(case_words)))
            case_style = None
            case_words.clear()

    def emit_symbol(symbol: Symbol) -> None:
        flush_case()
        if symbol.spacing in _DROPS_ASR_BEFORE:
            while out and is_recognizer_punctuation(out[-1]):
                out.pop()
        out.append(SymbolToken(symbol, True))

    def emit_punct(tokens: list[SymbolToken]) -> None:
        if tokens:
            flush_case()
            for token in tokens:
                last = out[-1] if out else None
                if (
                    isinstance(last, SymbolToken)
                    and last.spoken
                    and last.symbol.spacing in {"attach", "newline"}
                    and is_recognizer_punctuation(token)
                ):
                    continue  # "Period." -> "." once: the recognizer's dot was the same thing
                out.append(token)

    def emit_word(text: str, literal: bool = False) -> None:
        if case_style is not None:
            case_words.append(text)
        else:
            out.append(Word(text, literal))

    def emit_plain(item: _RawWord) -> None:
        emit_punct(_punct_tokens(item.lead))
        emit_word(item.text)
        emit_punct(_punct_tokens(item.trail))

    def emit_command(command: Command) -> None:
        nonlocal case_style
        if isinstance(command, CaseCommand):
            flush_case()
            case_style = command.style
        elif isinstance(command, Symbol):
            emit_symbol(command)

    for item in items:
        if isinstance(item, SymbolToken):
            emit_punct([item])
            continue
        n = position[id(item)]
        if n < skip_until:
            continue
        found = table.match(keys, n)
        if found is None and not strict:
            near = table.match_near_miss(keys, n) or (_fuzzy_alone(table, keys) if n == 0 else None)
            if near is not None and (near[0] > 1 or len(words_) == 1):
                found = near
        if found is None:
            emit_plain(item)
            continue
        length, command = found
        skip_until = n + length
        if isinstance(command, (Say, Prefix)):
            nxt = table.match(keys, n + 1) if n + 1 < len(words_) else None
            if nxt is None or (isinstance(command, Prefix) and not isinstance(nxt[1], (Symbol, CaseCommand))):
                # an ordinary "say" or "command"
                emit_plain(item)
                continue
            skip_until = n + 1 + nxt[0]
            if isinstance(command, Prefix):
                emit_command(nxt[1])
                continue
            said = words_[n + 1 : n + 1 + nxt[0]]
            for k, w in enumerate(said):
                emit_word(w.text, literal=True)
                if k == len(said) - 1:
                    emit_punct(_punct_tokens(w.trail))
            continue
        if isinstance(command, ScratchThat):
            flush_case()
            if any(not isinstance(t, SymbolToken) or t.spoken for t in out):
                out.clear()
            else:
                out.clear()
                scratch_previous = True
            continue
        if not is_command(words_, n, length, strict=strict, timed=timed, only_commands=only_commands) or (
            strict and isinstance(command, CaseCommand) and _run_length(table, words_, n + length) > MAX_PROSE_CASED
        ):
            for w in words_[n : n + length]:
                emit_plain(w)
            continue
        emit_command(command)
    flush_case()
    return Parsed(out, scratch_previous)


def _fuzzy_alone(table: CommandTable, keys: list[str]) -> tuple[int, Command] | None:
    """The whole utterance (one or two words) is a near-miss of one symbol command: that command."""
    if not 1 <= len(keys) <= 2:
        return None
    symbols = {" ".join(k): c for k, c in table.commands.items() if isinstance(c, Symbol)}
    phrase = closest_phrase(" ".join(keys), list(symbols))
    return (len(keys), symbols[phrase]) if phrase is not None else None


#: In prose, a casing command takes at most this many words; a longer run ("camel case is common
#: in Java") is a sentence about casing, not an identifier (the prefix still forces it).
MAX_PROSE_CASED = 3


def _run_length(table: CommandTable, words: list[_RawWord], start: int) -> int:
    """Words a casing command starting its run at ``start`` would take."""
    n = start
    while n < len(words) and table.match([w.key for w in words[n : n + table.max_words]], 0) is None:
        n += 1
        if words[n - 1].trail:
            break
    return n - start


def _plain_word(text: str) -> bool:
    """A word as prose writes it ("the", "The"), not an identifier, acronym or number."""
    return text.isalpha() and (text.islower() or (text[:1].isupper() and text[1:].islower()))


def _only_commands(table: CommandTable, keys: list[str]) -> bool:
    """Whether the words are nothing but command phrases ("close paren colon")."""
    n = 0
    while n < len(keys):
        found = table.match(keys, n)
        if found is None or isinstance(found[1], (Say, Prefix, ScratchThat, CaseCommand)):
            return False
        n += found[0]
    return bool(keys)

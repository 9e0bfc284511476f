"""Turn a recognizer's transcript into the text to insert at the cursor.

This module is long (about 550 lines) on purpose: deciding prose or code at the cursor and laying out
the pieces are one decision procedure, and each half needs the other's state.

One entry point, :func:`format_utterance`. It applies spoken commands
(:mod:`~swictation_rpc.text.commands`), casing commands (:mod:`~swictation_rpc.text.casing`) and
identifier spelling (:mod:`~swictation_rpc.text.vocabulary`), then fits the text to what is
around the cursor. The heuristic, deliberately small:

**Prose or code.** Documents whose languageId is not a known programming language (plain text,
Markdown, commit messages, unknown or missing ids) are prose. In a programming language, the
cursor is in prose when the current line has a line comment before it (``#``, ``//``, ``--``, ...
outside a string), a string is open on the current line, a block comment (``/*``) or a Python
triple-quoted string is open in ``before``; otherwise it is in code. In Markdown an open
````` fence switches to code. The decision is made once per utterance.

**In prose**: the first word gets a capital at a sentence start (nothing or only whitespace before,
after ``.``, ``!``, ``?``, a blank line, a list or heading marker, at the start of a comment or
string) and loses the recognizer's capital elsewhere ("And" -> "and", but never "I", acronyms or
words like "iPhone"); the next word after a spoken "period" gets a capital. Identifiers are matched
only for phrases of three words or more.

**In code**: no capitals are added, the recognizer's capital on the first word is dropped, its
final ``.``/``?``/``!``/``,`` is dropped, and phrases of two or more words that spell a known
identifier become that identifier. With letters on both sides of the cursor (inside an
identifier), the words join it: ``snake_case`` if it has underscores, ``camelCase`` humps if not.

**Spacing**: words are separated by one space; a leading space is added after a word or
punctuation, never after whitespace, line start, an opening bracket or opening quote (and in code,
never after ``.``, ``@``, ``$``, ``_``, ``~``, ``!``, ``/``, ``\\`` or ``::``, and no space between
a word and ``(`` or ``[``: a call or an index, unless the word is a keyword like ``if``); a
trailing space is added when a word follows the cursor directly. Symbols space as their table
says.

**New lines** keep the indentation of the current line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from attrs import define, field

from swictation_rpc.options import TextOptions
from swictation_rpc.protocol import TextContext
from swictation_rpc.text.casing import apply_casing
from swictation_rpc.text.commands import (
    Cased,
    SymbolToken,
    Token,
    Word,
    command_table,
    is_correct_that,
    is_recognizer_punctuation,
    parse,
)
from swictation_rpc.text.decisions import TimedWord
from swictation_rpc.text.vocabulary import vocabulary

#: LSP languageIds treated as code (outside comments and strings), with their line comment markers.
LINE_COMMENTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        [
            "python",
            "shellscript",
            "terminal",
            "sh",
            "bash",
            "zsh",
            "fish",
            "ruby",
            "perl",
            "r",
            "yaml",
            "toml",
            "dockerfile",
            "makefile",
            "cmake",
            "powershell",
            "elixir",
            "julia",
            "nim",
            "coffeescript",
            "gdscript",
            "crystal",
            "tcl",
            "nix",
            "graphql",
            "terraform",
            "hcl",
        ],
        ("#",),
    ),
    **dict.fromkeys(
        [
            "c",
            "cpp",
            "csharp",
            "java",
            "javascript",
            "typescript",
            "javascriptreact",
            "typescriptreact",
            "go",
            "rust",
            "swift",
            "kotlin",
            "scala",
            "dart",
            "objective-c",
            "objective-cpp",
            "groovy",
            "zig",
            "jsonc",
            "scss",
            "less",
            "proto",
            "proto3",
            "solidity",
            "glsl",
            "hlsl",
            "verilog",
            "cuda-cpp",
            "fsharp",
            "vue",
            "svelte",
        ],
        ("//",),
    ),
    "php": ("//", "#"),
    **dict.fromkeys(["lua", "sql", "haskell", "elm", "ada", "vhdl", "purescript"], ("--",)),
    **dict.fromkeys(["clojure", "lisp", "scheme", "racket", "commonlisp", "ini", "asm"], (";",)),
    **dict.fromkeys(["erlang", "matlab", "prolog"], ("%",)),
    **dict.fromkeys(["css", "json", "ocaml", "vim", "html-code"], ()),
}
_SLASH_STAR = (("/*", "*/"),)
BLOCK_COMMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    **{lang: _SLASH_STAR for lang, markers in LINE_COMMENTS.items() if markers == ("//",)},
    "php": _SLASH_STAR,
    "css": _SLASH_STAR,
    "sql": _SLASH_STAR,
    "lua": (("--[[", "]]"),),
    "haskell": (("{-", "-}"),),
    "ocaml": (("(*", "*)"),),
}
#: Languages where ``'`` does not open a string everywhere (Rust lifetimes, Lisp quote, ...).
_NO_SINGLE_QUOTE_STRINGS = {
    "rust",
    "clojure",
    "lisp",
    "scheme",
    "racket",
    "commonlisp",
    "ocaml",
    "vim",
    "haskell",
    "elm",
    "fsharp",
    "purescript",
}
_TRIPLE_QUOTES = {
    "python": ('"""', "'''"),
    "julia": ('"""',),
    "kotlin": ('"""',),
    "scala": ('"""',),
    "swift": ('"""',),
    "groovy": ('"""', "'''"),
}

_I_FORMS = {"I", "I'm", "I'll", "I've", "I'd", "I\u2019m", "I\u2019ll", "I\u2019ve", "I\u2019d"}
_LIST_MARKER_RE = re.compile(r"[ \t]*(?:[-*+>]|\d+[.)]|#{1,6})[ \t]*")
_FENCE_RE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+-]*)", re.MULTILINE)
_IDENT_CHAR_RE = re.compile(r"\w")
_CODE_NO_SPACE_AFTER = set(".@$_~!\\/")
#: Words after which ``(`` keeps its space in code (``if (x)``, ``return (a, b)``).
_KEYWORDS_BEFORE_PAREN = {
    "if",
    "elif",
    "while",
    "for",
    "switch",
    "catch",
    "return",
    "and",
    "or",
    "not",
    "in",
    "with",
    "match",
    "case",
    "await",
    "yield",
    "assert",
    "else",
    "foreach",
}
_OPENERS = set("([{\u00bf\u00a1\u201c")


@define
class FormattedText:
    """What to insert, and what else the utterance asked for."""

    text: str
    scratch_that: bool = False
    """The user said "scratch that" first: remove the previous utterance (``text`` is what
    followed, often empty)."""
    prose: bool = True
    """Whether the text was laid out as prose (comment, string, text document) or code."""
    identifiers: list[str] = field(factory=list)
    """Identifiers from the vocabulary that were written, in order."""
    correct_that: bool = False
    """The whole utterance was "correct that": nothing to write; offer the previous utterance's
    alternatives."""


Where = Literal["code", "comment", "string", "prose"]


@define(frozen=True)
class Placement:
    """What :func:`format_utterance` concluded from the context."""

    where: Where
    sentence_start: bool
    mid_identifier: bool
    language_id: str | None

    @property
    def prose(self) -> bool:
        return self.where != "code"


def format_utterance(
    raw: str,
    context: TextContext | None,
    options: TextOptions,
    identifiers: Sequence[str] = (),
    *,
    custom_commands: Mapping[str, Mapping[str, Any]] | None = None,
    words: Sequence[TimedWord] | None = None,
    language: str | None = None,
) -> FormattedText:
    """The text to insert for transcript ``raw`` at the cursor described by ``context``.

    ``identifiers`` defaults to ``context.identifiers``. ``custom_commands`` extends the spoken
    command tables (see :func:`swictation_rpc.text.commands.command_table`). Spoken commands are
    applied only if ``options.spoken_commands``; in prose only where set off as commands, which
    the recognizer's timed ``words`` tell (:mod:`~swictation_rpc.text.decisions`). ``language``
    is the spoken language (``en``, ``de``, ...): its command table is used. Disfluencies are
    cleaned up if ``options.cleanup``.
    """
    context = context or TextContext()
    identifiers = identifiers or context.identifiers
    if options.spoken_commands and is_correct_that(raw, language):
        return FormattedText("", correct_that=True)
    placement = classify(context)
    table = command_table(placement.language_id, custom_commands, language or "en") if options.spoken_commands else None
    parsed = parse(
        raw, table, enabled=options.spoken_commands, strict=placement.prose, words=words, cleanup=options.cleanup
    )
    text, used = _render(parsed.tokens, context, placement, identifiers)
    return FormattedText(text, parsed.scratch_previous, placement.prose, used)


# ---------------------------------------------------------------------------------------------
# Where is the cursor?


def classify(context: TextContext) -> Placement:
    """Prose or code at the cursor, and whether a sentence starts there (see the module doc)."""
    before, after = context.before, context.after
    lang = (context.language_id or "").lower() or None
    if lang in {"markdown", "mdx"}:
        fences = _FENCE_RE.findall(before)
        if len(fences) % 2 == 1:
            fence_lang = fences[-1][1].lower() or None
            body = before[before.rfind(fences[-1][0]) :]
            body = body[body.find("\n") + 1 :] if "\n" in body else ""
            inner = classify(TextContext(before=body, after=after, language_id=fence_lang or "json"))
            return Placement(inner.where, inner.sentence_start, inner.mid_identifier, fence_lang)
    if lang not in LINE_COMMENTS:
        return Placement("prose", _starts_sentence(before), False, lang)
    where, region = _scan_code(before, lang)
    if where == "code":
        mid = bool(_IDENT_CHAR_RE.fullmatch(before[-1:] or "")) and bool(_IDENT_CHAR_RE.fullmatch(after[:1] or ""))
        return Placement("code", False, mid, lang)
    return Placement(where, _starts_sentence(region), False, lang)


def _scan_code(before: str, lang: str) -> tuple[Where, str]:
    """Is the end of ``before`` in code, a comment or a string? With the prose region's text."""
    for opener, closer in BLOCK_COMMENTS.get(lang, ()):
        at = before.rfind(opener)
        if at >= 0 and before.find(closer, at + len(opener)) < 0:
            return "comment", before[at + len(opener) :]
    for triple in _TRIPLE_QUOTES.get(lang, ()):
        if before.count(triple) % 2 == 1:
            return "string", before[before.rfind(triple) + 3 :]
    line_start = before.rfind("\n") + 1
    line = before[line_start:]
    markers = LINE_COMMENTS.get(lang, ())
    quotes = '"`' if lang in _NO_SINGLE_QUOTE_STRINGS else "\"'`"
    quote: str | None = None
    start = 0
    i = 0
    while i < len(line):
        c = line[i]
        if quote is not None:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        else:
            marker = next((m for m in markers if line.startswith(m, i)), None)
            if marker is not None:
                return "comment", _comment_text(before[:line_start], marker) + line[i + len(marker) :]
            if c in quotes:
                quote, start = c, i + 1
        i += 1
    if quote is not None:
        return "string", line[start:]
    return "code", ""


def _comment_text(previous: str, marker: str) -> str:
    """Text of the line comments directly above the cursor's line, so a sentence can continue."""
    texts: list[str] = []
    lines = previous.split("\n")[:-1] if previous else []
    for line in reversed(lines):
        stripped = line.strip()
        if not stripped.startswith(marker):
            break
        texts.append(stripped[len(marker) :])
    return "".join(t + "\n" for t in reversed(texts))


def _starts_sentence(region: str) -> bool:
    if re.search(r"\n[ \t]*\n[ \t]*\Z", region):
        return True
    stripped = region.rstrip()
    if not stripped:
        return True
    if _LIST_MARKER_RE.fullmatch(region[region.rfind("\n") + 1 :]):
        return True
    stripped = stripped.rstrip("\"')]}\u201d\u2019*_")
    return not stripped or stripped[-1:] in {".", "!", "?", "\u2026"}


# ---------------------------------------------------------------------------------------------
# Laying out


PieceKind = Literal["word", "fixed", "symbol", "newline"]


@define
class _Piece:
    text: str
    space_before: bool
    space_after: bool
    kind: PieceKind
    """``word`` may change case; ``fixed`` (identifiers, casing results) never does."""
    sentence_end: bool = False
    quote: bool = False


_SPACING = {
    "word": (True, True),
    "attach": (False, True),
    "open": (True, False),
    "close": (False, True),
    "join": (False, False),
    "newline": (False, False),
    "quote": (True, True),  # resolved while rendering
}


def _pieces(tokens: list[Token], placement: Placement, identifiers: Sequence[str]) -> tuple[list[_Piece], list[str]]:
    vocab = vocabulary(identifiers) if identifiers else None
    min_words = 3 if placement.prose else 2
    pieces: list[_Piece] = []
    used: list[str] = []
    run: list[str] = []

    def flush_run() -> None:
        matches = vocab.find(run, min_words=min_words) if vocab and len(run) > 0 else []
        i = 0
        for m in matches:
            pieces.extend(_Piece(w, True, True, "word") for w in run[i : m.start])
            pieces.append(_Piece(m.identifier, True, True, "fixed"))
            used.append(m.identifier)
            i = m.end
        pieces.extend(_Piece(w, True, True, "word") for w in run[i:])
        run.clear()

    for token in tokens:
        if isinstance(token, Word) and not token.literal:
            run.append(token.text)
            continue
        flush_run()
        if isinstance(token, Word):
            pieces.append(_Piece(token.text, True, True, "word"))
        elif isinstance(token, Cased):
            text = apply_casing(token.style, token.words)
            if text:
                pieces.append(_Piece(text, True, True, "fixed"))
        elif isinstance(token, SymbolToken):
            sym = token.symbol
            before, after = _SPACING[sym.spacing]
            kind: PieceKind = "newline" if sym.spacing == "newline" else "symbol"
            pieces.append(_Piece(sym.text, before, after, kind, sym.sentence_end, sym.spacing == "quote"))
    flush_run()
    return pieces, used


def _quote_is_open(line: str, quote: str) -> bool:
    """Whether ``quote`` written after ``line`` would open a quotation (even count so far)."""
    count = 0
    for i, c in enumerate(line):
        if c != quote:
            continue
        if quote == "'" and i > 0 and line[i - 1].isalnum() and i + 1 < len(line) and line[i + 1].isalnum():
            continue  # an apostrophe: don't
        count += 1
    return count % 2 == 0


def _space_after(before: str, placement: Placement) -> bool:
    """Whether text that wants a space before it needs one after ``before``."""
    if not before or before[-1].isspace():
        return False
    last = before[-1]
    if last in _OPENERS:
        return False
    if last in "\"'`":
        line = before[before.rfind("\n") + 1 : -1]
        return not _quote_is_open(line, last)  # even count before it: ``last`` opened a quotation
    if placement.where == "code":
        if last in _CODE_NO_SPACE_AFTER or before.endswith("::"):
            return False
    return True


def _capitalise(word: str) -> str:
    return word[:1].upper() + word[1:]


def _decapitalise(word: str) -> str:
    """Drop the recognizer's sentence capital: "And" -> "and", but keep "I", "NASA", "iPhone"."""
    if word in _I_FORMS or not word[:1].isupper():
        return word
    rest = word[1:]
    if rest and not (rest.islower() or not any(c.isalpha() for c in rest)):
        return word
    if len(word) == 1 and not word.isalpha():
        return word
    return word[:1].lower() + rest


def _render(
    tokens: list[Token], context: TextContext, placement: Placement, identifiers: Sequence[str]
) -> tuple[str, list[str]]:
    if placement.where == "code":
        # The recognizer ends every utterance like a sentence; code is not one.
        while tokens and is_recognizer_punctuation(tokens[-1]):
            tokens = tokens[:-1]
    pieces, used = _pieces(tokens, placement, identifiers)
    if not pieces:
        return "", used

    if placement.mid_identifier and all(p.kind in {"word", "fixed"} for p in pieces):
        return _join_identifier(pieces, context), used

    before, after = context.before, context.after
    prose = placement.prose
    cap_next = prose and placement.sentence_start
    first_word = True
    out = ""
    prev: _Piece | None = None
    for piece in pieces:
        text = piece.text
        space_before, space_after = piece.space_before, piece.space_after
        if piece.quote:
            line = (before + out)[(before + out).rfind("\n") + 1 :]
            opening = _quote_is_open(line, text[-1])
            space_before, space_after = (True, False) if opening else (False, True)
        if piece.kind == "newline":
            line = (before + out)[(before + out).rfind("\n") + 1 :]
            indent = line[: len(line) - len(line.lstrip(" \t"))]
            out = out.rstrip(" ")
            text = text + indent
        if placement.where == "code" and piece.kind == "symbol" and text[:1] in "([":
            # A call or an index: ``foo(`` and ``items[``, not ``foo (``.
            prev_word = _word_ending(before + out)
            space_before = space_before and (not prev_word or prev_word in _KEYWORDS_BEFORE_PAREN)
        if piece.kind in {"word", "fixed"}:
            if piece.kind == "word":
                if cap_next:
                    text = _capitalise(text)
                elif first_word:
                    text = _decapitalise(text)
            cap_next = False
            first_word = False
        elif piece.sentence_end:
            cap_next = prose
        elif piece.kind == "symbol" and piece.space_after and not piece.space_before:
            cap_next = False  # "," ")" ";"

        if prev is None:
            if space_before and _space_after(before, placement):
                out += " "
        elif space_before and prev.space_after and out and not out[-1].isspace():
            out += " "
        out += text
        prev = _Piece(text, space_before, space_after, piece.kind)

    if prev is not None and prev.space_after and after[:1].isalnum():
        out += " "
    return out, used


def _word_ending(text: str) -> str:
    """The word characters ``text`` ends with ("" if none)."""
    found = _TRAILING_WORD.search(text)
    return found.group(0) if found else ""


def _word_starting(text: str) -> str:
    """The word characters ``text`` starts with ("" if none)."""
    found = _LEADING_WORD.match(text)
    return found.group(0) if found else ""


_TRAILING_WORD = re.compile(r"\w*\Z")
_LEADING_WORD = re.compile(r"\w*")


def _join_identifier(pieces: list[_Piece], context: TextContext) -> str:
    """Words inserted inside an identifier become part of it, in its style."""
    left = _word_ending(context.before)
    right = _word_starting(context.after)
    words = [p.text for p in pieces]
    if "_" in left or "_" in right:
        body = "_".join(w.lower() for w in words)
        prefix = "" if left.endswith("_") else "_"
        suffix = "" if right.startswith("_") else "_"
        return prefix + body + suffix
    return "".join(
        w if p.kind == "fixed" else w[:1].upper() + w[1:].lower() for w, p in zip(words, pieces, strict=True)
    )


__all__ = ["FormattedText", "Placement", "classify", "format_utterance"]

"""The utterances of ``python -m benchmarks.commands``: what is said, where, and what must come out.

Four families (:data:`FAMILIES`): spoken commands alone, commands inside code dictation, casing
commands, and prose that contains command words as ordinary words. A case's ``said`` is one or
more segments; Piper says each, and the clip joins them with :data:`PAUSE_S` of silence, the way
a user sets a command off in prose ("this is the end ... period").

``expected`` is the exact text a programmer wants inserted at the cursor described by ``before``
(and ``after``) in a document of ``language``. Prose cases have no ``expected`` of interest for
the false-command rate: what counts there is whether each command word the recognizer heard is
still a word in the text (see :mod:`benchmarks.commands`).
"""

from __future__ import annotations

from typing import Literal

from attrs import define

Family = Literal["alone", "code", "casing", "prose-command", "prose"]
FAMILIES: tuple[Family, ...] = ("alone", "code", "casing", "prose-command", "prose")
#: Silence between the segments of a case, seconds.
PAUSE_S = 0.6


@define(frozen=True)
class Case:
    family: Family
    said: tuple[str, ...]
    """Segments Piper says, joined by :data:`PAUSE_S` of silence."""
    expected: str
    before: str = "    "
    after: str = ""
    language: str = "python"
    also: tuple[str, ...] = ()
    """Other texts that are just as right (in prose, with or without the recognizer's final dot)."""

    def accepts(self, text: str) -> bool:
        return text == self.expected or text in self.also

    @property
    def sentence(self) -> str:
        return " ... ".join(self.said)


def _alone(said: str, expected: str, before: str, language: str = "python") -> Case:
    return Case("alone", (said,), expected, before, "", language)


def _code(said: str, expected: str, language: str = "python", before: str = "    ") -> Case:
    return Case("code", (said,), expected, before, "", language)


def _casing(said: str, expected: str, before: str = "    ") -> Case:
    return Case("casing", (said,), expected, before)


def _prose(said: str, expected: str, before: str = "# ", language: str = "python") -> Case:
    return Case("prose", (said,), expected, before, "", language)


CASES: tuple[Case, ...] = (
    # -- a command alone, where it belongs -----------------------------------------------------
    _alone("comma", ",", "    foo(a"),
    _alone("period", ".", "This is the end", "markdown"),
    _alone("new line", "\n", "x = 1"),
    _alone("open paren", "(", "    print"),
    _alone("close paren", ")", "    print(x"),
    _alone("open bracket", "[", "    items"),
    _alone("close bracket", "]", "    items[0"),
    _alone("open brace", "{", "    data = "),
    _alone("close brace", "}", "    data = {"),
    _alone("colon", ":", "def main()"),
    _alone("semicolon", ";", "let x = 1", "javascript"),
    _alone("question mark", "?", "Is it done", "markdown"),
    _alone("equals", " =", "    x"),
    _alone("underscore", "_", "    my"),
    _alone("dot", ".", "    self"),
    _alone("new paragraph", "\n\n", "End of the section.", "markdown"),
    _alone("exclamation mark", "!", "Watch out", "markdown"),
    _alone("plus", " +", "    a"),
    _alone("arrow", " ->", "def size(self)"),
    _alone("slash", "/", "    path = base"),
    # -- commands inside code dictation ----------------------------------------------------------
    _code("print open paren name close paren", "print(name)"),
    _code("total equals price plus tax", "total = price + tax"),
    _code("if count greater than limit colon", "if count > limit:"),
    _code("return items open bracket index close bracket", "return items[index]"),
    _code("self dot name equals name", "self.name = name"),
    _code("foo open paren a comma b close paren", "foo(a, b)"),
    _code("result equals left minus right", "result = left - right"),
    _code("names equals open bracket close bracket", "names = []"),
    _code("config equals open brace close brace", "config = {}"),
    _code("greeting equals quote hello quote", 'greeting = "hello"'),
    _code("import os new line import sys", "import os\n    import sys"),
    _code("name equals user dot name", "name = user.name"),
    _code("const total equals a plus b semicolon", "const total = a + b;", "javascript"),
    _code("while running colon", "while running:"),
    _code("print open paren message close paren", "print(message)"),
    _code("values dot append open paren item close paren", "values.append(item)"),
    # -- casing ----------------------------------------------------------------------------------------
    _casing("snake case user name", "user_name"),
    _casing("camel case get user name", "getUserName"),
    _casing("pascal case http client", "HttpClient"),
    _casing("constant case max retries", "MAX_RETRIES"),
    _casing("kebab case main window", "main-window"),
    _casing("camel case is valid", "isValid"),
    _casing("pascal case user account", "UserAccount"),
    _casing("snake case file path equals none", "file_path = none"),
    # -- commands in prose, set off by a pause or at the end -------------------------------------------
    Case("prose-command", ("this is the end", "period"), "This is the end.", "# "),
    Case(
        "prose-command",
        ("first item", "comma", "second item"),
        "First item, second item",
        "",
        "",
        "markdown",
        ("First item, second item.",),
    ),
    Case("prose-command", ("is it ready", "question mark"), "Is it ready?", "", "", "markdown"),
    Case("prose-command", ("see the docs", "colon"), "See the docs:", "# "),
    Case("prose-command", ("returns the user name period",), "Returns the user name.", "# "),
    Case("prose-command", ("call", "camel case get user"), "Call getUser", "# ", also=("Call getUser.",)),
    # -- prose with command words as ordinary words (false commands) ------------------------------
    _prose("the period was so far like the present period", "The period was so far like the present period."),
    _prose("a comma separated list of names", "A comma separated list of names."),
    _prose("strip the new line characters from each row", "Strip the new line characters from each row."),
    _prose("the colon in the header separates key and value", "The colon in the header separates key and value."),
    _prose("add a dash between the two words", "Add a dash between the two words."),
    _prose("the dot product of two vectors", "The dot product of two vectors."),
    _prose("use a pipe to chain the commands", "Use a pipe to chain the commands."),
    _prose("the quote from the manual is wrong", "The quote from the manual is wrong."),
    _prose("we prefer snake case names in python", "We prefer snake case names in Python."),
    _prose("the equals method compares two objects", "The equals method compares two objects."),
    _prose("put a semicolon at the end of each line", "Put a semicolon at the end of each line.", "", "markdown"),
    _prose("every sentence ends with a period", "Every sentence ends with a period.", "", "markdown"),
    _prose("the minus operator negates a number", "The minus operator negates a number."),
    _prose("an arrow points to the next node", "An arrow points to the next node."),
    _prose("the plus sign means addition", "The plus sign means addition.", "", "markdown"),
    _prose("each new paragraph starts with a capital letter", "Each new paragraph starts with a capital letter."),
    _prose("a slash separates the path segments", "A slash separates the path segments."),
    _prose("the underscore prefix marks private names", "The underscore prefix marks private names."),
    _prose("camel case is common in java code", "Camel case is common in Java code.", "", "markdown"),
    _prose("the open paren starts the argument list", "The open paren starts the argument list."),
)


def cases_of(family: Family) -> list[Case]:
    return [case for case in CASES if case.family == family]

"""The one cattrs converter: snake_case in Python, camelCase on the wire.

It carries lsprotocol's hooks, so ``Position``, ``Range`` and ``TextEdit`` travel exactly as LSP
clients expect, and renames every field of this package's attrs classes to camelCase.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import is_sequence, list_structure_factory
from cattrs.dispatch import StructureHook
from cattrs.errors import CattrsError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import format_exception as cattrs_format_exception
from lsprotocol.converters import get_converter

T = TypeVar("T")


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _is_ours(cls: Any) -> bool:
    return attrs.has(cls) and getattr(cls, "__module__", "").startswith("swictation_rpc")


def _renames(cls: type) -> dict[str, Any]:
    return {a.name: override(rename=to_camel(a.name)) for a in attrs.fields(cls)}


#: A value echoed in a message is cut to this many characters (a 1 MB setting is not shown whole).
MAX_ECHO_CHARS = 80


def echo(value: object) -> str:
    """``value`` as the user wrote it (JSON), cut to :data:`MAX_ECHO_CHARS` with its length."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, str):
        if len(value) <= MAX_ECHO_CHARS:
            return '"' + value.replace('"', '\\"') + '"'
        return '"' + value[:MAX_ECHO_CHARS] + '\u2026" (' + str(len(value)) + " characters)"
    text = repr(value)
    return text if len(text) <= MAX_ECHO_CHARS else text[:MAX_ECHO_CHARS] + f"\u2026 ({len(text)} characters)"


def _got(value: object, *, show_strings: bool) -> str:
    """What the user gave, for ``(got …)``: the value itself, or its kind for an object or array."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, str):
        return f"the string {echo(value)}" if show_strings else "a string"
    return echo(value)


class ValueProblem(TypeError):
    """A value of the wrong type or not among the allowed ones; ``sentence`` reads after its name."""

    def __init__(self, sentence: str):
        super().__init__(sentence)
        self.sentence = sentence


class LiteralProblem(ValueProblem, CattrsError):
    """A value that is not one of a ``Literal``'s (cattrs raises a ``CattrsError`` there too)."""


def _exactly(expected: type | tuple[type, ...], name: str) -> StructureHook:
    """A scalar hook that refuses what cattrs would coerce: ``"yes"`` -> True, ``1.7`` -> 1, ``"5"`` -> 5."""
    allowed = expected if isinstance(expected, tuple) else (expected,)

    def structure(value: object, _type: object) -> object:
        if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, expected):
            raise ValueProblem(f"must be {name} (got {_got(value, show_strings=True)})")
        if name == "a number" and isinstance(value, (int, float)):  # always, once past the check above
            return float(value)
        return value

    return structure


def _literal_hook(type_: Any) -> StructureHook:
    choices = get_args(type_)

    def structure(value: object, _type: object) -> object:
        for choice in choices:  # 1 == True in Python, not in JSON
            if value == choice and type(value) is type(choice):
                return choice
        listed = ", ".join(echo(c) for c in choices)
        got = echo(value) if isinstance(value, str) else _got(value, show_strings=False)
        raise LiteralProblem(f"must be one of {listed} (got {got})")

    return structure


def _is_plain_literal(type_: Any) -> bool:
    return get_origin(type_) is Literal and all(isinstance(c, (str, int, bool)) for c in get_args(type_))


def _sequence_factory(type_: Any, conv: cattrs.Converter) -> StructureHook:
    items = list_structure_factory(type_, conv)

    def structure(value: object, _type: object) -> object:
        # cattrs would turn the string "abc" into ["a", "b", "c"].
        if not isinstance(value, (list, tuple)):
            raise ValueProblem(f"must be an array (got {_got(value, show_strings=False)})")
        return items(value, _type)

    return structure


def _object_factory(cls: type[T], conv: cattrs.Converter, forbid_extra_keys: bool) -> StructureHook:
    fields = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=forbid_extra_keys, **_renames(cls))
    what = "an object of settings" if cls.__name__.endswith("Options") else "an object"

    def structure(value: object, _type: object) -> object:
        # Without this, "" or [] would pass as an object whose fields all take their defaults.
        if not isinstance(value, dict):
            raise ValueProblem(f"must be {what} (got {_got(value, show_strings=False)})")
        return fields(value, _type)

    return structure


def _make_converter(*, forbid_extra_keys: bool) -> cattrs.Converter:
    conv = get_converter(cattrs.Converter(forbid_extra_keys=forbid_extra_keys))
    # JSON has no coercions, and neither do we: a wrong type is an invalid-params error.
    conv.register_structure_hook(bool, _exactly(bool, "true or false"))
    conv.register_structure_hook(int, _exactly(int, "a whole number"))
    conv.register_structure_hook(float, _exactly((int, float), "a number"))
    conv.register_structure_hook(str, _exactly(str, "text (a string)"))
    conv.register_structure_hook_factory(_is_plain_literal, _literal_hook)
    conv.register_structure_hook_factory(is_sequence, lambda t: _sequence_factory(t, conv))
    conv.register_structure_hook_factory(_is_ours, lambda cls: _object_factory(cls, conv, forbid_extra_keys))
    conv.register_unstructure_hook_factory(
        _is_ours,
        lambda cls: make_dict_unstructure_fn(cls, conv, **_renames(cls)),
    )
    return conv


#: Lenient: clients may send fields this version does not know (forward compatibility).
converter = _make_converter(forbid_extra_keys=False)
#: Strict: used for configuration, where an unknown key is almost always a typo worth reporting.
strict_converter = _make_converter(forbid_extra_keys=True)


#: Deepest JSON a settings object may nest. The settings tree itself is five levels deep
#: (``text.customCommands.<language>.<phrase>.text``); hundreds of levels are an attack or a bug,
#: and would exhaust Python's recursion limit in copying or structuring.
MAX_NESTING_DEPTH = 32


class TooDeepError(ValueError):
    """JSON nested deeper than allowed; ``path`` is where the limit was crossed (cut short)."""

    def __init__(self, path: str, limit: int):
        self.path = path
        self.limit = limit
        super().__init__(f"nested more than {limit} levels deep @ {path}")


def bounded_copy(value: Any, max_depth: int = MAX_NESTING_DEPTH, path: str = "$") -> Any:
    """A deep copy of JSON data (objects, arrays, scalars) that refuses to go past ``max_depth``.

    Iterative, so no input can raise ``RecursionError`` here; ``copy.deepcopy`` would. The
    outermost object or array is level 1. Raises :class:`TooDeepError`.
    """

    def shell(item: Any) -> dict[Any, Any] | list[Any] | None:
        if isinstance(item, dict):
            return {}
        if isinstance(item, (list, tuple)):
            return []
        return None

    root = shell(value)
    if root is None:
        return value
    stack: list[tuple[Any, Any, str, int]] = [(value, root, path, 1)]
    while stack:
        source, target, where, depth = stack.pop()
        if depth > max_depth:
            raise TooDeepError(where if len(where) <= 200 else where[:200] + "...", max_depth)
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            child = shell(item)
            if child is not None:
                inner = f"{where}.{key}" if isinstance(source, dict) else f"{where}[{key}]"
                stack.append((item, child, inner, depth + 1))
            copied = item if child is None else child
            if isinstance(target, dict):
                target[key] = copied
            else:
                target.append(copied)
    return root


def error_messages(
    exc: BaseException,
    path: str = "$",
    format_exception: Callable[[BaseException, Any], str] = cattrs_format_exception,
    **kwargs: Any,
) -> list[str]:
    """cattrs' error paths for a structuring failure, e.g. ``line must be a whole number (got 1.5) @ $.position.line``.

    Paths use the wire (camelCase) names, since that is what the user wrote. A wrong type or a
    value not among the allowed ones is a sentence naming the setting (no Python type names), and
    a long value echoed by any message is cut (see :func:`cut_long_values`).
    """

    def formatted(error: BaseException, type_: Any) -> str:
        if isinstance(error, ValueProblem):
            return error.sentence
        return format_exception(error, type_)

    messages = cattrs.transform_error(exc, path=path, format_exception=formatted, **kwargs)
    return [cut_long_values(_named(_camel_path(m))) for m in messages]


def _camel_path(message: str) -> str:
    text, sep, where = message.rpartition(" @ ")
    if not sep:
        return message
    return f"{text} @ " + ".".join(to_camel(part) for part in where.split("."))


def _named(message: str) -> str:
    """``must be … @ $.engine.numThreads`` -> ``numThreads must be … @ $.engine.numThreads``."""
    text, sep, where = message.rpartition(" @ ")
    if not sep or not text.startswith("must ") or "\x00" in text:  # \x00: options' own naming
        return message
    name = re.sub(r"\[\d+\]$", "", where.rsplit(".", 1)[-1]) if where != "$" else "settings"
    return f"{name or 'value'} {text}{sep}{where}"


_LONG = MAX_ECHO_CHARS + 1
_LONG_QUOTED = re.compile(rf"'([^'\n]{{{_LONG},}})'|\"([^\"\n]{{{_LONG},}})\"")
#: A message longer than this after cutting quoted values is cut as a whole.
MAX_MESSAGE_CHARS = 1000


def cut_long_values(message: str) -> str:
    """Cut every quoted value over :data:`MAX_ECHO_CHARS` in ``message`` (e.g. a validator's
    ``got 'yyyy…'``) to that many characters, an ellipsis and its length; then the message itself."""
    if len(message) <= MAX_ECHO_CHARS:
        return message

    def cut(match: re.Match[str]) -> str:
        quote = "'" if match.group(1) is not None else '"'
        value = match.group(1) if match.group(1) is not None else match.group(2)
        return f"{quote}{value[:MAX_ECHO_CHARS]}\u2026{quote} ({len(value)} characters)"

    message = _LONG_QUOTED.sub(cut, message)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + f"\u2026 ({len(message)} characters)"
    return message

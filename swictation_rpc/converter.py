"""The one cattrs converter: snake_case in Python, camelCase on the wire.

It carries lsprotocol's hooks, so ``Position``, ``Range`` and ``TextEdit`` travel exactly as LSP
clients expect, and renames every field of this package's attrs classes to camelCase.
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import is_sequence, list_structure_factory
from cattrs.dispatch import StructureHook
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from lsprotocol.converters import get_converter

T = TypeVar("T")


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _is_ours(cls: Any) -> bool:
    return attrs.has(cls) and getattr(cls, "__module__", "").startswith("swictation_rpc")


def _renames(cls: type) -> dict[str, Any]:
    return {a.name: override(rename=to_camel(a.name)) for a in attrs.fields(cls)}


def _exactly(expected: type | tuple[type, ...], name: str) -> StructureHook:
    """A scalar hook that refuses what cattrs would coerce: ``"yes"`` -> True, ``1.7`` -> 1, ``"5"`` -> 5."""

    def structure(value: object, _type: object) -> object:
        if isinstance(value, bool) and bool not in (expected if isinstance(expected, tuple) else (expected,)):
            raise TypeError(f"expected {name}, got a boolean")
        if not isinstance(value, expected):
            raise TypeError(f"expected {name}, got {type(value).__name__}")
        if name == "number" and isinstance(value, (int, float)):  # always, once past the check above
            return float(value)
        return value

    return structure


def _sequence_factory(type_: Any, conv: cattrs.Converter) -> StructureHook:
    items = list_structure_factory(type_, conv)

    def structure(value: object, _type: object) -> object:
        # cattrs would turn the string "abc" into ["a", "b", "c"].
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected an array, got {type(value).__name__}")
        return items(value, _type)

    return structure


def _object_factory(cls: type[T], conv: cattrs.Converter, forbid_extra_keys: bool) -> StructureHook:
    fields = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=forbid_extra_keys, **_renames(cls))

    def structure(value: object, _type: object) -> object:
        # Without this, "" or [] would pass as an object whose fields all take their defaults.
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return fields(value, _type)

    return structure


def _make_converter(*, forbid_extra_keys: bool) -> cattrs.Converter:
    conv = get_converter(cattrs.Converter(forbid_extra_keys=forbid_extra_keys))
    # JSON has no coercions, and neither do we: a wrong type is an invalid-params error.
    conv.register_structure_hook(bool, _exactly(bool, "boolean"))
    conv.register_structure_hook(int, _exactly(int, "integer"))
    conv.register_structure_hook(float, _exactly((int, float), "number"))
    conv.register_structure_hook(str, _exactly(str, "string"))
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


def error_messages(exc: BaseException, path: str = "$", **kwargs: Any) -> list[str]:
    """cattrs' error paths for a structuring failure, e.g. ``invalid value @ $.position.line``.

    Paths use the wire (camelCase) names, since that is what the user wrote.
    """
    messages = cattrs.transform_error(exc, path=path, **kwargs)
    return [_camel_path(m) for m in messages]


def _camel_path(message: str) -> str:
    text, sep, where = message.rpartition(" @ ")
    if not sep:
        return message
    return f"{text} @ " + ".".join(to_camel(part) for part in where.split("."))

"""Every params path of every swictation method, with the JSON types it accepts, from ``schemas/``.

The schemas are generated from the attrs classes in ``swictation_rpc.protocol`` (and checked
against them by ``python -m swictation_rpc.schema --check``), so walking them walks the wire
contract: :func:`param_paths` lists ``($.a.b, allowed types, minimum)`` for each method, and
:func:`valid_params` builds params that are well-typed at every path (the base a fuzzer breaks
at one place).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from attrs import frozen

from tests.e2e.conftest import REPO

SCHEMAS = REPO / "schemas"
JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")


@frozen
class ParamPath:
    method: str
    path: tuple[str | int, ...]
    """Keys (and 0 for an array's first item) from the params object down to this value."""
    types: frozenset[str]
    """JSON types accepted here ("number" accepts integers too, as in JSON Schema)."""
    minimum: int | None = None
    enum: tuple[Any, ...] | None = None

    @property
    def dotted(self) -> str:
        text = "$"
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        return text

    def accepts(self, value: Any) -> bool:
        kind = json_type(value)
        if kind in self.types or (kind == "integer" and "number" in self.types):
            if self.enum is not None and value not in self.enum and kind != "null":
                return False
            return not (self.minimum is not None and kind in ("integer", "number") and value < self.minimum)
        return False


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@cache
def _schema(method: str) -> dict[str, Any]:
    path = SCHEMAS / f"{method.split('/', 1)[1]}.schema.json"
    return json.loads(Path(path).read_text())


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _alternatives(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(node, defs)
    if "anyOf" in node:
        return [alt for option in node["anyOf"] for alt in _alternatives(option, defs)]
    return [node]


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if kind is None:
        return set(JSON_TYPES)  # any JSON value
    return set(kind) if isinstance(kind, list) else {kind}


def params_schema(method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = _schema(method)
    defs = schema.get("$defs", {})
    return _resolve(schema["properties"]["params"], defs), defs


def param_paths(method: str) -> list[ParamPath]:
    """Every value's path in ``method``'s params, the root (``$``) included."""
    root, defs = params_schema(method)
    found: list[ParamPath] = []

    def walk(node: dict[str, Any], path: tuple[str | int, ...]) -> None:
        alternatives = _alternatives(node, defs)
        types: set[str] = set()
        minimum = None
        enum: list[Any] = []
        for alt in alternatives:
            types |= _types(alt)
            minimum = alt.get("minimum", minimum)
            enum += alt.get("enum", [])
        found.append(ParamPath(method, path, frozenset(types), minimum, tuple(enum) if enum else None))
        for alt in alternatives:
            for name, child in alt.get("properties", {}).items():
                walk(child, (*path, name))
            if "items" in alt:
                walk(alt["items"], (*path, 0))

    walk(root, ())
    return found


def valid_params(method: str) -> dict[str, Any]:
    """Params well-typed at every path (every optional field present, arrays with one item)."""
    root, defs = params_schema(method)

    def build(node: dict[str, Any]) -> Any:
        options = [alt for alt in _alternatives(node, defs) if "null" not in _types(alt)] or [{"type": "null"}]
        alt = options[0]
        if "enum" in alt:
            return alt["enum"][0]
        kind = sorted(_types(alt))[0] if "type" in alt else "object"
        if "properties" in alt or kind == "object":
            return {name: build(child) for name, child in alt.get("properties", {}).items()}
        if kind == "array":
            return [build(alt.get("items", {"type": "string"}))]
        return {"string": "x", "integer": max(alt.get("minimum", 0), 1), "number": 1.0, "boolean": True, "null": None}[
            kind
        ]

    return build(root)


def replace(params: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of ``params`` with the value at ``path`` replaced."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = list(params) if isinstance(params, list) else dict(params)
    copy[head] = replace(params[head], rest, value)  # type: ignore[index]
    return copy

"""Generate ``lua/swictation/protocol.lua`` from ``swictation_rpc/protocol.py``.

The protocol is declared once, in Python; the plugin takes its method names from the generated
module and LuaLS (lua-language-server) checks the plugin's params/results against the generated
``---@class`` annotations (camelCase, as on the wire).

    python editors/neovim/scripts/gen_protocol.py           # write the file
    python editors/neovim/scripts/gen_protocol.py --check   # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import attrs

from swictation_rpc import protocol
from swictation_rpc.converter import to_camel

OUT = Path(__file__).resolve().parents[1] / "lua" / "swictation" / "protocol.lua"


def _field_docs(cls: type) -> dict[str, str]:
    """Field docstrings, as the schema generator reads them (empty if it cannot)."""
    try:
        from swictation_rpc import schema

        return schema._field_docs(cls.__module__).get(cls.__name__, {})
    except Exception:  # noqa: BLE001 - docs are a nicety
        return {}


def lua_type(tp: Any) -> tuple[str, bool]:
    """(LuaLS type, optional) for a Python annotation."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        inner = "|".join(lua_type(a)[0] for a in args)
        return inner, optional
    if origin is Literal:
        return "|".join(f'"{v}"' for v in typing.get_args(tp)), False
    if origin in (list, list):
        (item,) = typing.get_args(tp) or (Any,)
        inner = lua_type(item)[0]
        return (f"({inner})[]" if "|" in inner else f"{inner}[]"), False
    if origin in (dict, dict):
        key, value = typing.get_args(tp) or (str, Any)
        return f"table<{lua_type(key)[0]}, {lua_type(value)[0]}>", False
    if tp is str:
        return "string", False
    if tp is bool:
        return "boolean", False
    if tp is int:
        return "integer", False
    if tp is float:
        return "number", False
    if tp is Any:
        return "any", False
    if attrs.has(tp):
        prefix = "lsp" if tp.__module__ == "lsprotocol.types" else "swictation"
        return f"{prefix}.{tp.__name__}", False
    raise TypeError(f"no Lua type for {tp!r}")


def classes() -> list[type]:
    seen: list[type] = []

    def visit(cls: type) -> None:
        if cls in seen or not attrs.has(cls) or not cls.__module__.startswith("swictation_rpc"):
            return
        seen.append(cls)
        for tp in typing.get_type_hints(cls).values():
            for candidate in _flatten(tp):
                visit(candidate)

    for params, result in protocol.METHODS.values():
        visit(params)
        if result is not None:
            visit(result)
    return seen


def _flatten(tp: Any) -> list[Any]:
    args = typing.get_args(tp)
    return [tp] if not args else [x for a in args for x in _flatten(a)]


def render() -> str:
    lines = [
        "-- Generated from swictation_rpc/protocol.py by editors/neovim/scripts/gen_protocol.py.",
        "-- Do not edit: run `python editors/neovim/scripts/gen_protocol.py` after changing the protocol.",
        "",
        "local M = {}",
        "",
        "-- Requests (client -> server) and notifications (server -> client).",
    ]
    constants = {
        value: name for name, value in vars(protocol).items() if isinstance(value, str) and value in protocol.METHODS
    }
    for method in protocol.METHODS:
        lines.append(f'M.{constants[method]} = "{method}"')
    lines += ["", "--- Notifications the server sends (the plugin handles each).", "M.notifications = {"]
    lines += [f'  "{m}",' for m, (_, result) in protocol.METHODS.items() if result is None]
    lines += ["}", ""]
    for cls in classes():
        doc = (cls.__doc__ or "").strip().splitlines()
        if doc and not doc[0].startswith(cls.__name__ + "("):
            lines.append(f"--- {doc[0]}")
        lines.append(f"---@class swictation.{cls.__name__}")
        hints = typing.get_type_hints(cls)
        docs = _field_docs(cls)
        for field in attrs.fields(cls):
            lua, optional = lua_type(hints[field.name])
            has_default = field.default is not attrs.NOTHING
            marker = "?" if optional or has_default else ""
            text = " ".join(docs.get(field.name, "").split())
            lines.append(f"---@field {to_camel(field.name)}{marker} {lua}" + (f" {text}" if text else ""))
        lines.append("")
    lines.append("return M")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python {Path(__file__).as_posix()}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

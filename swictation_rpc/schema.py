"""JSON Schema (draft 2020-12) and an OpenRPC document, generated from the attrs classes.

``protocol.py`` and ``options.py`` are the contract; ``schemas/`` is derived from them so editor
clients (VS Code settings, Neovim type annotations) and any other JSON-RPC client can check
against it. Field descriptions come from the string literal under each attrs field, read from
the module's source with :mod:`ast`.

    python -m swictation_rpc.schema          # write schemas/
    python -m swictation_rpc.schema --check  # exit 1 if schemas/ is out of date
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import itertools
import json
import sys
import types as pytypes
import typing
from pathlib import Path
from typing import Any, Literal, Union

import attrs

from swictation_rpc import __version__, errors, protocol
from swictation_rpc.converter import converter, to_camel
from swictation_rpc.options import Options, unstructure_options

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
PREFIX = "swictation/"

#: One line per method for the OpenRPC document (the params/result classes carry the details).
SUMMARIES: dict[str, str] = {
    protocol.TRANSCRIBE: "Transcribe an audio file or inline PCM; the result inserts the text at the position.",
    protocol.START_DICTATION: "Start listening to the microphone; text goes at the position when it stops (or per phrase).",
    protocol.STOP_DICTATION: "Stop listening and return the text as an edit at the session's position.",
    protocol.CANCEL_DICTATION: "Stop listening and discard what was heard.",
    protocol.STATUS: "Engine, models, latency, GPU, input devices and the settings in effect.",
    protocol.HISTORY: "The most recent utterances, newest first.",
    protocol.UNDO_UTTERANCE: "Edits that remove an utterance from its document, if its text is unchanged.",
    protocol.RETRANSCRIBE: "Decode a saved utterance again (e.g. in accurate mode); edits only if its text is unchanged.",
    protocol.INSERT_UTTERANCE: "Insert a history item again at a cursor, formatted for it, as a new utterance.",
    protocol.UTTERANCE_EDIT_APPLIED: "The client applied (or refused) an edit of an earlier utterance it was given.",
    protocol.MODELS: "The model catalogue with what is installed, sizes, roles, and the model each mode uses.",
    protocol.DOWNLOAD_MODEL: "Download, verify and install a catalogue model (work-done progress, cancellable), then serve it.",
    protocol.REMOVE_MODEL: "Remove an installed model from the store; the engine stops serving it.",
    protocol.STATE_CHANGED: "Server to client: the dictation state changed.",
    protocol.PARTIAL: "Server to client: interim text of the listening session.",
    protocol.REFINED: "Server to client: better text for an utterance already inserted.",
    protocol.PHRASE_COMMITTED: "Server to client: a phrase of a perPhrase dictation, saved and inserted while listening.",
}


def _is_lsp(cls: Any) -> bool:
    return getattr(cls, "__module__", "") == "lsprotocol.types"


def _wire_name(cls: type, name: str) -> str:
    if _is_lsp(cls):
        # lsprotocol's converter: snake_case to camelCase, a trailing underscore (``from_``) dropped.
        return to_camel(name.rstrip("_"))
    return to_camel(name)


@functools.cache
def _field_docs(module_name: str) -> dict[str, dict[str, str]]:
    """``{class: {field: docstring}}`` from the string literal after each annotated field."""
    module = sys.modules[module_name]
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return {}
    docs: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, str] = {}
        body = node.body
        for current, following in itertools.pairwise(body):
            if (
                isinstance(current, ast.AnnAssign)
                and isinstance(current.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                fields[current.target.id] = inspect.cleandoc(following.value.value)
        docs[node.name] = fields
    return docs


def _class_field_docs(cls: type) -> dict[str, str]:
    """Field docs of ``cls`` and its attrs bases (``TranscribeResult`` inherits ``Transcript``'s)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if attrs.has(klass):
            docs.update(_field_docs(klass.__module__).get(klass.__name__, {}))
    return docs


def _clean(text: str) -> str:
    """Docstrings use reST literals (````x````); JSON Schema descriptions read better with `x`."""
    return " ".join(text.replace("``", "`").split())


class SchemaBuilder:
    """Turns attrs classes and typing annotations into JSON Schema, collecting ``$defs``."""

    def __init__(self, ref_prefix: str = "#/$defs/", *, closed: bool = False):
        self.ref_prefix = ref_prefix
        #: ``additionalProperties: false`` on our classes (the config is structured strictly).
        self.closed = closed
        self.defs: dict[str, dict[str, Any]] = {}

    def of_type(self, tp: Any) -> dict[str, Any]:
        if tp is Any or tp is object:
            return {}
        if tp is type(None) or tp is None:
            return {"type": "null"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is int:
            return {"type": "integer"}
        if tp is float:
            return {"type": "number"}
        if tp is str:
            return {"type": "string"}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Literal:
            values = list(args)
            kinds = {type(v) for v in values}
            schema: dict[str, Any] = {"enum": values}
            if kinds == {str}:
                schema = {"type": "string", "enum": values}
            return schema
        if origin is Union or origin is pytypes.UnionType:
            options = [self.of_type(arg) for arg in args]
            return {"anyOf": options}
        if origin in (list, tuple, set, frozenset) or tp in (list, tuple):
            item = args[0] if args else Any
            return {"type": "array", "items": self.of_type(item)}
        if origin is dict or tp is dict:
            value = args[1] if len(args) == 2 else Any
            schema = {"type": "object"}
            value_schema = self.of_type(value)
            if value_schema:
                schema["additionalProperties"] = value_schema
            return schema
        if attrs.has(tp):
            return self.ref(tp)
        raise TypeError(f"No JSON Schema mapping for {tp!r}")

    def ref(self, cls: type) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: recursion and repeats stop here
            self.defs[name] = self.of_class(cls)
        return {"$ref": self.ref_prefix + name}

    def of_class(self, cls: type) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        docs = _class_field_docs(cls)
        schema: dict[str, Any] = {"type": "object", "title": cls.__name__}
        if cls.__doc__ and not _is_lsp(cls) and cls.__doc__ != _attrs_default_doc(cls):
            schema["description"] = _clean(inspect.cleandoc(cls.__doc__).split("\n\n")[0])
        properties: dict[str, Any] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            wire = _wire_name(cls, field.name)
            prop = self.of_type(hints.get(field.name, Any))
            if field.name in docs:
                prop = {**prop, "description": _clean(docs[field.name])}
            prop = _bounded(prop, _bounds(field))
            default = _default_of(field)
            if default is not attrs.NOTHING:
                prop["default"] = default
            else:
                required.append(wire)
            properties[wire] = prop
        schema["properties"] = properties
        if required:
            schema["required"] = required
        if self.closed and not _is_lsp(cls):
            schema["additionalProperties"] = False
        return schema


def _attrs_default_doc(cls: type) -> str:
    # attrs/dataclass-style classes without a docstring get a generated signature doc.
    return f"{cls.__name__}({', '.join(a.name for a in attrs.fields(cls))})"


#: attrs' Factory class (``attrs.Factory`` is typed as a function that returns the default's type).
_FACTORY: Any = type(attrs.Factory(list))


def _default_of(field: attrs.Attribute) -> Any:
    default = field.default
    if default is attrs.NOTHING:
        return attrs.NOTHING
    if isinstance(default, _FACTORY):
        if default.takes_self:
            return attrs.NOTHING
        default = default.factory()
    if attrs.has(type(default)) and type(default).__module__ == "swictation_rpc.options":
        return unstructure_options(default) if isinstance(default, Options) else _unstructure_strict(default)
    return converter.unstructure(default)


def _unstructure_strict(value: Any) -> Any:
    from swictation_rpc.converter import strict_converter

    return strict_converter.unstructure(value)


def _bounds(field: attrs.Attribute) -> dict[str, Any]:
    """JSON Schema bounds from the field's validators.

    ``options.Between`` and ``options.MaxLength`` carry theirs (``json_schema``); lsprotocol's
    uinteger validator is known by name.
    """
    validators = [field.validator]
    inner = getattr(field.validator, "_validators", None) or getattr(field.validator, "validators", None)
    if inner:
        validators = list(inner)
    bounds: dict[str, Any] = {}
    for validator in validators:
        keywords = getattr(validator, "json_schema", None)
        if isinstance(keywords, dict):
            bounds.update(keywords)
        elif getattr(validator, "__name__", "") == "uinteger_validator":
            bounds["minimum"] = 0
    return bounds


_NUMERIC_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_STRING_KEYWORDS = ("maxLength", "minLength")


def _bounded(prop: dict[str, Any], bounds: dict[str, Any]) -> dict[str, Any]:
    """``prop`` with the bounds that apply to its type(s).

    For a union (``anyOf``) they go at the top: JSON Schema applies numeric keywords to numbers
    only and ``maxLength`` to strings only, so ``{"anyOf": [integer, string, null], "minimum": 0,
    "maxLength": 256}`` bounds each branch, and editors read the bounds where they expect them.
    """
    kinds = {branch.get("type") for branch in prop.get("anyOf", [])} | {prop.get("type")}
    keywords = dict(prop)
    if kinds & {"integer", "number"}:
        keywords.update({k: v for k, v in bounds.items() if k in _NUMERIC_KEYWORDS})
    if "string" in kinds:
        keywords.update({k: v for k, v in bounds.items() if k in _STRING_KEYWORDS})
    return keywords


# -- documents ------------------------------------------------------------------------------------


def config_schema() -> dict[str, Any]:
    builder = SchemaBuilder(closed=True)
    root = builder.of_class(Options)
    root.pop("title", None)
    return {
        "$schema": DRAFT,
        "title": "swictation-rpc settings",
        "description": "The `swictation` settings section: initializationOptions, "
        "workspace/didChangeConfiguration and workspace/configuration all carry this object. "
        "Every setting has a default; an invalid one is reported and its default used.",
        **{k: v for k, v in root.items() if k != "description"},
        "$defs": dict(sorted(builder.defs.items())),
    }


def method_file(method: str) -> str:
    return method.removeprefix(PREFIX) + ".schema.json"


def method_schema(method: str) -> dict[str, Any]:
    params_cls, result_cls = protocol.METHODS[method]
    builder = SchemaBuilder()
    properties: dict[str, Any] = {"params": builder.ref(params_cls)}
    if result_cls is not None:
        properties["result"] = builder.ref(result_cls)
    return {
        "$schema": DRAFT,
        "title": method,
        "description": SUMMARIES.get(method, ""),
        "x-kind": "request" if result_cls is not None else "notification",
        "x-direction": "client-to-server" if result_cls is not None else "server-to-client",
        "type": "object",
        "properties": properties,
        "$defs": dict(sorted(builder.defs.items())),
    }


def _error_entries() -> list[dict[str, Any]]:
    standard = [
        {"code": -32700, "message": "Parse error", "data": {"kind": "parse-error"}},
        {"code": -32600, "message": "Invalid Request", "data": {"kind": "invalid-request"}},
        {"code": -32601, "message": "Method Not Found", "data": {"kind": "method-not-found"}},
        {
            "code": -32602,
            "message": "Invalid params (message and data.problems carry the path, e.g. $.position.line)",
            "data": {"kind": "invalid-params"},
        },
        {"code": -32002, "message": "Server not initialized", "data": {"kind": "server-not-initialized"}},
        {
            "code": -32800,
            "message": "Request cancelled ($/cancelRequest, or window/workDoneProgress/cancel of its progress)",
            "data": {"kind": "request-cancelled"},
        },
    ]
    ours = [
        {
            "code": cls.CODE,
            "message": (cls.__doc__ and _clean(inspect.cleandoc(cls.__doc__))) or cls.MESSAGE,
            "data": {"kind": cls.KIND},
        }
        for cls in errors.ALL_ERRORS
    ]
    return standard + ours


def openrpc_document() -> dict[str, Any]:
    builder = SchemaBuilder(ref_prefix="#/components/schemas/")
    methods = []
    for method, (params_cls, result_cls) in protocol.METHODS.items():
        hints = typing.get_type_hints(params_cls)
        docs = _class_field_docs(params_cls)
        params = []
        for field in attrs.fields(params_cls):
            schema = builder.of_type(hints[field.name])
            default = _default_of(field)
            if default is not attrs.NOTHING:
                schema = {**schema, "default": default}
            entry: dict[str, Any] = {
                "name": _wire_name(params_cls, field.name),
                "required": default is attrs.NOTHING,
                "schema": schema,
            }
            if field.name in docs:
                entry["description"] = _clean(docs[field.name])
            params.append(entry)
        entry = {
            "name": method,
            "summary": SUMMARIES.get(method, ""),
            "paramStructure": "by-name",
            "params": params,
            "x-params-schema": builder.ref(params_cls),
        }
        if result_cls is not None:
            entry["result"] = {"name": result_cls.__name__, "schema": builder.ref(result_cls)}
            entry["errors"] = [{"$ref": f"#/components/errors/{e['data']['kind']}"} for e in _error_entries()]
        else:
            entry["x-notification"] = "server-to-client"
        methods.append(entry)
    return {
        "openrpc": "1.3.2",
        "info": {
            "title": "swictation-rpc",
            "version": __version__,
            "description": "On-device voice dictation over stdio JSON-RPC 2.0 with LSP framing "
            "(Content-Length headers). Send initialize/initialized first, shutdown/exit last; "
            "settings are described by config.schema.json.",
        },
        "methods": methods,
        "components": {
            "schemas": dict(sorted(builder.defs.items())),
            # Keyed by kind: LSP gives -32001/-32002 meanings of its own, so a code alone can be ambiguous.
            "errors": {e["data"]["kind"]: e for e in _error_entries()},
        },
    }


def documents() -> dict[str, dict[str, Any]]:
    """Every file of ``schemas/``, by name."""
    files = {"config.schema.json": config_schema(), "openrpc.json": openrpc_document()}
    for method in protocol.METHODS:
        files[method_file(method)] = method_schema(method)
    return files


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    wanted = documents()
    for name, document in wanted.items():
        path = directory / name
        text = render(document)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for stale in directory.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
            written.append(stale)
    return written


def drift(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of files in ``directory`` that differ from what would be generated (or are missing/extra)."""
    wanted = documents()
    problems = []
    for name, document in wanted.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name} (missing)")
        elif path.read_text(encoding="utf-8") != render(document):
            problems.append(f"{name} (out of date)")
    if directory.is_dir():
        problems += [f"{p.name} (not generated)" for p in sorted(directory.glob("*.json")) if p.name not in wanted]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swictation_rpc.schema", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the generated ones")
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help=f"directory (default: {SCHEMA_DIR})")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift(args.out)
        for problem in problems:
            print(f"schemas drifted: {problem}", file=sys.stderr)
        if problems:
            print("Regenerate with: python -m swictation_rpc.schema", file=sys.stderr)
        return 1 if problems else 0
    for path in write(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

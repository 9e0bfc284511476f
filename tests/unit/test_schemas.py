"""schemas/ is generated from protocol.py and options.py, and checks what the server really sends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol.types import Position, Range, TextDocumentIdentifier, TextEdit

from swictation_rpc import errors, protocol, schema
from swictation_rpc.converter import converter
from swictation_rpc.options import Options, unstructure_options

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def validator_for(document: dict, definition: str | None = None):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(document)
    target = document
    if definition is not None:
        target = {"$schema": document["$schema"], "$defs": document["$defs"], "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(target)


def test_checked_in_schemas_match_the_attrs_classes():
    problems = schema.drift(SCHEMAS)
    assert not problems, f"schemas/ drifted ({problems}); run: python -m swictation_rpc.schema"


def test_check_mode_fails_on_a_drifted_file(tmp_path: Path):
    schema.write(tmp_path)
    assert schema.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "transcribe.schema.json").write_text("{}\n")
    (tmp_path / "leftover.json").write_text("{}\n")
    assert schema.main(["--check", "--out", str(tmp_path)]) == 1
    assert set(schema.drift(tmp_path)) == {"transcribe.schema.json (out of date)", "leftover.json (not generated)"}


def test_every_method_has_a_schema_file_and_an_openrpc_entry():
    openrpc = load("openrpc.json")
    listed = {m["name"] for m in openrpc["methods"]}
    assert listed == set(protocol.METHODS)
    for method, (_, result_cls) in protocol.METHODS.items():
        document = load(schema.method_file(method))
        assert document["title"] == method
        assert ("result" in document["properties"]) == (result_cls is not None)


def test_default_settings_validate_and_typos_do_not():
    config = load("config.schema.json")
    validator = validator_for(config)
    assert not list(validator.iter_errors(unstructure_options(Options())))
    assert list(validator.iter_errors({"engine": {"numThreads": "two"}}))
    assert list(validator.iter_errors({"engine": {"numThreads": 0}}))  # must be > 0
    assert list(validator.iter_errors({"modles": {}}))  # unknown key: the server would report it too
    assert list(validator.iter_errors({"defaultMode": "fastest"}))


def test_settings_schema_carries_defaults_enums_and_descriptions():
    config = load("config.schema.json")
    assert config["properties"]["defaultMode"]["enum"] == ["fast", "accurate", "auto"]
    assert config["properties"]["applyEdits"]["default"] == "client"
    num_threads = config["$defs"]["EngineOptions"]["properties"]["numThreads"]
    assert num_threads["type"] == "integer" and num_threads["default"] == 2
    assert "CPU threads" in num_threads["description"]
    input_device = config["$defs"]["AudioOptions"]["properties"]["inputDevice"]
    assert {"type": "null"} in input_device["anyOf"]
    assert {"type": "integer"} in input_device["anyOf"]
    assert (input_device["minimum"], input_device["maximum"], input_device["maxLength"]) == (0, 1023, 256)
    threshold = config["$defs"]["VadOptions"]["properties"]["threshold"]
    assert threshold["minimum"] == 0 and threshold["exclusiveMaximum"] == 1


def test_wire_data_of_real_params_and_results_validates():
    document = load("transcribe.schema.json")
    params = protocol.TranscribeParams(
        text_document=TextDocumentIdentifier(uri="file:///x.py"),
        position=Position(line=3, character=7),
        audio=protocol.AudioInput(path="/tmp/a.wav"),
        mode="fast",
    )
    position = Position(line=3, character=7)
    result = protocol.TranscribeResult(
        text="hello",
        mode="fast",
        model="whisper-tiny.en (bundled)",
        timings=protocol.Timings(audio_ms=1000.0, decode_ms=80.0, total_ms=90.0),
        edits=[TextEdit(range=Range(start=position, end=position), new_text="hello")],
    )
    assert not list(validator_for(document, "TranscribeParams").iter_errors(converter.unstructure(params)))
    assert not list(validator_for(document, "TranscribeResult").iter_errors(converter.unstructure(result)))
    bad = converter.unstructure(params)
    bad["position"]["line"] = -1
    assert list(validator_for(document, "TranscribeParams").iter_errors(bad))


def test_lsp_types_are_described_as_lsp_sends_them():
    document = load("transcribe.schema.json")
    defs = document["$defs"]
    assert set(defs["Position"]["required"]) == {"line", "character"}
    assert defs["TextEdit"]["properties"]["newText"] == {
        "type": "string",
        "description": defs["TextEdit"]["properties"]["newText"]["description"],
    }
    assert "position" in defs["TranscribeParams"]["required"]
    assert defs["TranscribeParams"]["properties"]["waitForEngine"]["default"] is True


def test_openrpc_lists_every_error_kind_with_its_code():
    components = load("openrpc.json")["components"]["errors"]
    for cls in errors.ALL_ERRORS:
        assert components[cls.KIND]["code"] == cls.CODE
    for kind, code in {
        "parse-error": -32700,
        "invalid-request": -32600,
        "method-not-found": -32601,
        "invalid-params": -32602,
    }.items():
        assert components[kind]["code"] == code

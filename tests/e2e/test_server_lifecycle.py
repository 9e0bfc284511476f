"""The LSP lifecycle over real pipes: initialize, background engine load, shutdown/exit, stdin EOF."""

from __future__ import annotations

from pathlib import Path

import pytest

from swictation_rpc import __version__

from .conftest import RpcError, transcribe_params


def test_initialize_names_the_server_and_advertises_the_swictation_methods(start_server):
    rpc = start_server()
    result = rpc.initialize()
    assert result["serverInfo"] == {"name": "swictation-rpc", "version": __version__}
    advertised = result["capabilities"]["experimental"]["swictation"]
    assert "swictation/transcribe" in advertised["methods"]
    assert "swictation/stateChanged" in advertised["notifications"]
    assert rpc.shutdown_and_exit() == 0
    assert rpc.junk == []


@pytest.mark.parametrize("dynamic", [True, False])
def test_document_sync_is_static_only_for_clients_that_cannot_register_it(start_server, dynamic):
    # Sync only serves to follow dictated utterances; clients that can register it dynamically are
    # asked for it after `initialized` (scoped to the documents they dictate into).
    rpc = start_server()
    capabilities = {"textDocument": {"synchronization": {"dynamicRegistration": dynamic}}, "workspace": {}}
    sync = rpc.initialize(capabilities=capabilities)["capabilities"]["textDocumentSync"]
    if dynamic:
        assert sync["openClose"] is False and sync["change"] == 0
    else:
        assert sync["openClose"] is True and sync["change"] == 2  # Incremental
    assert rpc.shutdown_and_exit() == 0


def test_engine_loads_in_the_background_with_work_done_progress_including_warmup(start_server):
    rpc = start_server()
    rpc.initialize()
    created = rpc.wait_for("window/workDoneProgress/create", requests=True)
    token = created["token"]
    end = rpc.wait_for("$/progress", lambda p: p["token"] == token and p["value"]["kind"] == "end")
    assert end["value"]["message"] == "ready"
    progress = [p["value"] for p in rpc.of("$/progress") if p["token"] == token]
    assert progress[0]["kind"] == "begin" and "loading" in progress[0]["title"].lower()
    messages = [v.get("message") or "" for v in progress]
    assert any("warm" in m.lower() for m in messages), messages
    # The client hears the state go from loading to idle.
    states = [p["state"] for p in rpc.of("swictation/stateChanged")]
    assert states[-1] == "idle"
    assert rpc.request("swictation/status")["engine"]["ready"] is True
    assert rpc.shutdown_and_exit() == 0


def test_clients_without_progress_support_get_no_progress_but_a_working_engine(start_server):
    rpc = start_server()
    rpc.initialize(capabilities={})
    status = rpc.wait_ready()
    assert status["state"] == "idle"
    assert rpc.of("$/progress") == []
    assert rpc.server_requests == []  # no create, no workspace/configuration without the capability
    assert rpc.of("window/logMessage"), "the load is still reported in the log"
    assert rpc.shutdown_and_exit() == 0


def test_shutdown_then_exit_exits_with_code_0(client):
    assert client.request("shutdown") is None
    client.notify("exit")
    assert client.wait_exit() == 0


def test_exit_without_shutdown_exits_with_code_1(client):
    client.notify("exit")
    assert client.wait_exit() == 1


def test_closing_stdin_ends_the_server_cleanly(client):
    client.wait_ready()
    assert client.proc.stdin is not None
    client.proc.stdin.close()
    assert client.wait_exit() == 0
    assert "Traceback" not in client.stderr_tail(100_000)


def test_requests_after_shutdown_are_refused_as_invalid(client):
    client.request("shutdown")
    with pytest.raises(RpcError) as refused:
        client.request("swictation/status")
    assert refused.value.code == -32600
    assert "shutting down" in refused.value.message
    client.notify("exit")
    assert client.wait_exit() == 0


def test_requests_before_initialize_are_refused_then_initialize_works(start_server):
    rpc = start_server()
    with pytest.raises(RpcError) as refused:
        rpc.request("swictation/status")
    assert refused.value.code == -32002
    assert refused.value.data["kind"] == "server-not-initialized"
    rpc.initialize()
    assert rpc.request("swictation/status")["state"] in ("loading", "idle")
    with pytest.raises(RpcError) as twice:
        rpc.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert twice.value.code == -32600
    assert rpc.shutdown_and_exit() == 0


def test_stdout_carries_only_frames_and_logs_go_to_stderr_the_log_file_and_the_client(
    start_server, server_env, sentence_wav: Path
):
    rpc = start_server(args=("--log-level", "debug"))
    rpc.initialize()
    rpc.request("swictation/transcribe", transcribe_params(sentence_wav))
    assert rpc.shutdown_and_exit() == 0
    assert rpc.junk == []
    assert "swictation_rpc" in rpc.stderr_tail(100_000)
    log_file = Path(server_env["SWICTATION_DATA_DIR"]) / "logs" / "server.log"
    assert "Speech engine ready" in log_file.read_text()
    assert any("Speech engine ready" in p["message"] for p in rpc.of("window/logMessage"))


def test_engine_requests_made_during_the_load_wait_for_it(start_server, sentence_wav: Path):
    rpc = start_server()
    # Pipelined like an eager editor: the transcribe arrives while the engine is still loading.
    init_id = rpc.request_async("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    rpc.notify("initialized", {})
    transcribe_id = rpc.request_async("swictation/transcribe", transcribe_params(sentence_wav))
    rpc.result(init_id)
    assert rpc.result(transcribe_id)["text"]
    assert rpc.shutdown_and_exit() == 0

"""Utterances as tracked edits over the real server: history, undo, "scratch that", retranscribe,
document sync, and a killed server that still has every finished utterance in its history.

Tone models (``documents.TOKENS``) make the transcripts exact, so the document text after each
edit is known; the pretend editor (``documents.EditorDocument``) reports every change like VS Code.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from swictation_rpc.history import HistoryStore

from .conftest import RpcClient
from .documents import ACCURATE_TOKENS, EditorDocument, pos, transcribe, write_clip, write_model

URI = "file:///tmp/swictation-e2e/history.py"


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("history-tones")
    return {
        "model": write_model(root, "spoken-tones"),
        "accurate": write_model(root, "spoken-tones-accurate", ACCURATE_TOKENS),
        "hello": write_clip(root, "print hello world"),
        "count": write_clip(root, "user count"),
        "scratch": write_clip(root, "scratch that camel case user count"),
        "scratch-only": write_clip(root, "scratch that"),
    }


@pytest.fixture
def serve(start_server, tones, tmp_path: Path):
    """``serve(settings=None, capabilities=None) -> RpcClient``: a server with its own history."""
    data = tmp_path / "data"

    def _serve(settings: dict | None = None, capabilities: dict | None = None) -> RpcClient:
        rpc = start_server(env_extra={"SWICTATION_DATA_DIR": str(data), "SWICTATION_CHECK_CLIP": str(tones["hello"])})
        options = {"models": {"fast": str(tones["model"]), "accurate": str(tones["model"])}, "defaultMode": "fast"}
        options.update(settings or {})
        rpc.initialize(options, capabilities=capabilities)
        rpc.data_dir = data  # type: ignore[attr-defined]
        return rpc

    return _serve


def test_history_lists_utterances_newest_first_with_their_current_ranges(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "x = 1\n# \n")
    first = transcribe(rpc, doc, tones["hello"], 1, 2)
    assert first["text"] == "Print hello world"
    line, character = doc.cursor_at_end()
    second = transcribe(rpc, doc, tones["count"], line, character)
    assert second["text"] == "user count"
    # Two lines typed above both utterances move them down.
    doc.type(0, 0, "import os\nimport sys\n")
    items = rpc.request("swictation/history", {"limit": 10})["items"]
    assert [i["id"] for i in items] == [second["utteranceId"], first["utteranceId"]]
    assert items[1]["text"] == "Print hello world" and items[1]["uri"] == URI
    assert items[1]["range"] == {"start": pos(3, 2), "end": pos(3, 19)}
    assert items[0]["range"] == {"start": pos(4, 0), "end": pos(4, 10)}
    assert items[0]["mode"] == "fast" and items[0]["model"] == "spoken-tones"
    assert items[0]["timings"]["audioMs"] > 0 and items[0]["createdAt"].endswith("Z")
    assert rpc.request("swictation/history", {"limit": 1})["items"] == items[:1]
    assert rpc.shutdown_and_exit() == 0


def test_undo_deletes_exactly_the_utterance_after_the_cursor_moved_and_text_changed_around_it(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "before after\n")
    result = transcribe(rpc, doc, tones["count"], 0, 7)
    assert doc.text == "before user count after\n"
    # The user types before it, after it and on a new line above; the cursor is elsewhere.
    doc.type(0, 0, "# NEW\n")
    doc.type(1, 0, ">> ")
    doc.type(1, len(">> before user count after"), "!")
    assert doc.text == "# NEW\n>> before user count after!\n"
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["id"] == result["utteranceId"]
    doc.apply(undone["edits"])
    assert doc.text == "# NEW\n>> before after!\n"
    assert rpc.request("swictation/history", {"limit": 5})["items"] == []
    # A second "undo last" does not reach further back: it says the last one is already removed.
    again = rpc.request("swictation/undoUtterance", {})
    assert again["edits"] == [] and again["id"] == result["utteranceId"]
    assert again["reason"] == "already-undone" and again["message"]
    assert rpc.request("swictation/undoUtterance", {"id": result["utteranceId"]})["edits"] == []
    assert rpc.shutdown_and_exit() == 0


def test_undo_of_an_older_utterance_by_id_leaves_the_newer_one(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "# \n")
    older = transcribe(rpc, doc, tones["hello"], 0, 2)
    newer = transcribe(rpc, doc, tones["count"], *doc.cursor_at_end())
    undone = rpc.request("swictation/undoUtterance", {"id": older["utteranceId"]})
    doc.apply(undone["edits"])
    assert doc.text == "# \nuser count"
    # The newer one moved up a line; undo (no id) still finds it.
    doc.apply(rpc.request("swictation/undoUtterance", {})["edits"])
    assert doc.text == "# \n"
    assert newer["utteranceId"] != older["utteranceId"]
    with pytest.raises(Exception) as raised:
        rpc.request("swictation/undoUtterance", {"id": "no-such-utterance"})
    assert raised.value.code == -33009 and raised.value.data["kind"] == "utterance-not-found"
    assert rpc.shutdown_and_exit() == 0


def test_text_the_user_deleted_by_hand_is_not_deleted_again_by_undo(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "a = \n")
    transcribe(rpc, doc, tones["count"], 0, 4)
    assert doc.text == "a = user count\n"
    doc.type(0, 4, "", end=(0, 14))
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["edits"] == [] and undone["reason"] == "gone"
    # The same words typed (or pasted, or put back by the editor's undo) at that spot may be the
    # user's own: undo still leaves them alone.
    doc.type(0, 4, "user count")
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["edits"] == [] and undone["reason"] == "gone"
    assert doc.text == "a = user count\n"
    assert rpc.shutdown_and_exit() == 0


def test_scratch_that_deletes_the_previous_utterance_where_it_is_now(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "total = \n")
    previous = transcribe(rpc, doc, tones["hello"], 0, 8)
    assert doc.text == "total = print hello world\n"
    doc.type(0, 0, "# sum\n")  # it moved down a line since
    result = transcribe(rpc, doc, tones["scratch"], 1, len("total = print hello world"))
    assert result["text"] == "userCount"
    assert result["scratchedUtteranceId"] == previous["utteranceId"]
    assert result["version"] == doc.version - 1  # checked before its own deletion was applied
    assert doc.text == "# sum\ntotal = userCount\n"
    items = rpc.request("swictation/history", {"limit": 10})["items"]
    assert [i["id"] for i in items] == [result["utteranceId"]]  # the scratched one is removed
    assert items[0]["range"] == {"start": pos(1, 8), "end": pos(1, 17)}
    assert previous["utteranceId"] not in [i["id"] for i in items]
    # "scratch that" alone removes the one before it, and inserts nothing.
    only = transcribe(rpc, doc, tones["scratch-only"], 1, 17)
    assert only["text"] == "" and only["utteranceId"] is None
    assert doc.text == "# sum\ntotal = \n"
    assert rpc.shutdown_and_exit() == 0


def test_retranscribe_replaces_the_utterance_where_it_is_now_and_updates_the_history(serve, tones):
    rpc = serve({"models": {"fast": str(tones["model"]), "accurate": str(tones["accurate"])}})
    doc = EditorDocument(rpc, URI, "# \n")
    fast = transcribe(rpc, doc, tones["hello"], 0, 2)
    assert fast["text"] == "Print hello world" and fast["mode"] == "fast"
    doc.type(0, 0, "\n")
    again = rpc.request("swictation/retranscribe", {"id": fast["utteranceId"], "mode": "accurate"})
    assert again["text"] == "Print hello planet"
    assert again["mode"] == "accurate" and again["model"] == "spoken-tones-accurate"
    assert again["utteranceId"] == fast["utteranceId"]
    assert again["edits"] == [{"range": {"start": pos(1, 2), "end": pos(1, 19)}, "newText": "Print hello planet"}]
    doc.apply(again["edits"])
    assert doc.text == "\n# Print hello planet\n"
    item = rpc.request("swictation/history", {"limit": 1})["items"][0]
    assert item["text"] == "Print hello planet" and item["model"] == "spoken-tones-accurate"
    assert item["range"] == {"start": pos(1, 2), "end": pos(1, 20)}
    # Undo now removes the new text.
    doc.apply(rpc.request("swictation/undoUtterance", {})["edits"])
    assert doc.text == "\n# \n"
    assert rpc.shutdown_and_exit() == 0


def test_retranscribe_without_kept_audio_says_how_to_keep_it(serve, tones):
    rpc = serve({"history": {"keepAudio": False}})
    doc = EditorDocument(rpc, URI, "")
    result = transcribe(rpc, doc, tones["count"], 0, 0)
    with pytest.raises(Exception) as raised:
        rpc.request("swictation/retranscribe", {"id": result["utteranceId"], "mode": "accurate"})
    assert raised.value.data["kind"] == "audio-unreadable"
    assert "keepAudio" in raised.value.data["remedy"]
    assert rpc.shutdown_and_exit() == 0


def test_editors_that_can_register_sync_are_asked_for_incremental_document_changes(serve):
    capabilities = {"textDocument": {"synchronization": {"dynamicRegistration": True}}}
    rpc = serve(capabilities=capabilities)
    request = rpc.wait_for("client/registerCapability", requests=True)
    by_method = {r["method"]: r.get("registerOptions", {}) for r in request["registrations"]}
    assert set(by_method) == {
        "textDocument/didOpen",
        "textDocument/didChange",
        "textDocument/didClose",
        "textDocument/didSave",  # which utterances are on disk (a close without a save discards them)
    }
    assert by_method["textDocument/didSave"]["includeText"] is False
    assert by_method["textDocument/didChange"]["syncKind"] == 2  # incremental
    assert {"scheme": "file"} in by_method["textDocument/didChange"]["documentSelector"]
    assert rpc.shutdown_and_exit() == 0
    # A client that cannot register sync is not asked.
    plain = serve()
    plain.wait_ready()
    assert not [m for m, _ in plain.server_requests if m == "client/registerCapability"]
    assert plain.shutdown_and_exit() == 0


def test_moved_ranges_and_the_document_version_are_saved_in_the_history(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "\n")
    result = transcribe(rpc, doc, tones["count"], 1, 0)
    doc.type(0, 0, "# a\n# b\n")
    # Saved a moment after the typing stops (about a second).
    deadline = time.monotonic() + 15
    while True:
        with HistoryStore(rpc.data_dir / "history") as store:  # type: ignore[attr-defined]
            entry = store.entry(result["utteranceId"])
        if entry.item.range is not None and entry.item.range.start.line == 3:
            break
        assert time.monotonic() < deadline, entry
        time.sleep(0.2)
    assert entry.document_version == doc.version
    assert (entry.item.range.start.character, entry.item.range.end.character) == (0, 10)
    assert rpc.shutdown_and_exit() == 0


def test_a_killed_server_still_has_every_finished_utterance_in_its_history(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "")
    ids = []
    for _ in range(5):
        result = transcribe(rpc, doc, tones["count"], *doc.cursor_at_end())
        ids.append(result["utteranceId"])
    rpc.proc.send_signal(signal.SIGKILL)
    assert rpc.proc.wait(10) == -signal.SIGKILL
    with HistoryStore(rpc.data_dir / "history") as store:  # type: ignore[attr-defined]
        items = store.list(100)
        assert [i.id for i in items] == ids[::-1]
        assert all(i.text.strip() == "user count" for i in items)
        assert all(store.audio(i) is not None for i in ids)

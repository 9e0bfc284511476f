"""Edits of earlier utterances over the real server: only ever the text the server inserted (issue 13).

Every reason code (``changed``, ``not-synced``, ``gone``, ``already-undone``), restarts against
the same data folder with the document reopened with other text, a refused ``workspace/applyEdit``,
the client's ``utteranceEditApplied``, ``history {includeUndone}`` and ``insertUtterance``. The
pretend editor (``documents.EditorDocument``) applies the server's edits and reports every change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CLIENT_CAPABILITIES, RpcClient
from .documents import ACCURATE_TOKENS, EditorDocument, pos, transcribe, workspace_edits, write_clip, write_model

DEMO = "file:///tmp/swictation-e2e/demo.py"
OTHER = "file:///tmp/swictation-e2e/other.txt"


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("utterance-edit-tones")
    return {
        "model": write_model(root, "spoken-tones"),
        "accurate": write_model(root, "spoken-tones-accurate", ACCURATE_TOKENS),
        "hello": write_clip(root, "print hello world"),
        "count": write_clip(root, "user count"),
    }


@pytest.fixture
def serve(start_server, tones, tmp_path: Path):
    """``serve(settings=None) -> RpcClient``; every server of one test shares its data folder."""
    data = tmp_path / "data"

    def _serve(settings: dict | None = None, capabilities: dict | None = None) -> RpcClient:
        rpc = start_server(env_extra={"SWICTATION_DATA_DIR": str(data), "SWICTATION_CHECK_CLIP": str(tones["hello"])})
        options = {
            "models": {"fast": str(tones["model"]), "accurate": str(tones["accurate"])},
            "defaultMode": "fast",
            "text": {"refine": "off"},
        }
        options.update(settings or {})
        rpc.initialize(options, capabilities)
        return rpc

    return _serve


def history(rpc: RpcClient, **params) -> list[dict]:
    return rpc.request("swictation/history", {"limit": 20, **params})["items"]


def test_undo_after_the_user_edited_inside_the_utterance_deletes_nothing_and_says_changed(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "total = \n")
    result = transcribe(rpc, doc, tones["count"], 0, 8)
    assert doc.text == "total = user count\n"
    doc.type(0, 13, "COUNT", end=(0, 18))  # the user rewrites a word inside it
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["edits"] == [] and undone["reason"] == "changed"
    assert undone["id"] == result["utteranceId"] and undone["uri"] == DEMO and undone["version"] == doc.version
    assert "demo.py" in undone["message"]
    # Retranscribe does not overwrite the user's edit either: the new text is offered instead.
    again = rpc.request("swictation/retranscribe", {"id": result["utteranceId"], "mode": "accurate"})
    assert again["edits"] == [] and again["reason"] == "changed" and again["text"] == "user count"
    assert doc.text == "total = user COUNT\n"
    [item] = history(rpc)
    assert item["text"] == "user count" and item["undone"] is False
    assert rpc.shutdown_and_exit() == 0


def test_after_a_restart_nothing_is_deleted_until_the_document_is_synced_with_the_utterance_in_it(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "result = \n")
    dictated = transcribe(rpc, doc, tones["count"], 0, 9)
    assert doc.text == "result = user count\n"
    assert rpc.shutdown_and_exit() == 0

    # The window reloads: a new server, the same data folder; only other.txt is open (and active).
    rpc = serve()
    other = EditorDocument(rpc, OTHER, "notes: keep me\n", "plaintext")
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["id"] == dictated["utteranceId"] and undone["uri"] == DEMO
    assert undone["edits"] == [] and undone["reason"] == "not-synced" and undone["version"] is None
    assert "demo.py" in undone["message"]
    # demo.py changed on disk: reopened with other text where the utterance was.
    changed = EditorDocument(rpc, DEMO, "result = compute_total(items)  # do not touch\n")
    undone = rpc.request("swictation/undoUtterance", {"id": dictated["utteranceId"]})
    assert undone["edits"] == [] and undone["reason"] == "changed" and undone["version"] == changed.version
    assert other.text == "notes: keep me\n"
    # Re-sent with the utterance's text in place (didOpen again): now it is proposed, exactly.
    doc = EditorDocument(rpc, DEMO, "result = user count\n")
    undone = rpc.request("swictation/undoUtterance", {"id": dictated["utteranceId"]})
    assert undone["reason"] is None and undone["uri"] == DEMO and undone["version"] == doc.version
    assert undone["edits"] == [{"range": {"start": pos(0, 9), "end": pos(0, 19)}, "newText": ""}]
    doc.apply(undone["edits"])
    assert doc.text == "result = \n"
    assert history(rpc) == []
    assert rpc.shutdown_and_exit() == 0


def test_after_a_restart_the_same_words_at_the_saved_place_with_other_text_around_are_not_the_utterance(serve, tones):
    # Outside-user finding: dictated at the start of "beta", saved, quit; a line the user wrote
    # ("user count mine") went in above it, so the saved place now holds the user's own words.
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "alpha\nbeta\n")
    dictated = transcribe(rpc, doc, tones["count"], 1, 0)
    assert doc.text == "alpha\nuser count beta\n"
    doc.type(1, 16, " # typed after it, on its line")  # the history keeps what surrounds it up to date
    assert rpc.shutdown_and_exit() == 0

    rpc = serve()
    users = "alpha\nuser count mine\nuser count beta # typed after it, on its line\n"
    reopened = EditorDocument(rpc, DEMO, users)
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["id"] == dictated["utteranceId"]
    assert undone["edits"] == [] and undone["reason"] == "changed", undone
    assert reopened.text == users
    # Reopened as it was when the server saw it last: the utterance is found, exactly.
    doc = EditorDocument(rpc, DEMO, "alpha\nuser count beta # typed after it, on its line\n")
    undone = rpc.request("swictation/undoUtterance", {"id": dictated["utteranceId"]})
    assert undone["reason"] is None and undone["edits"] == [
        {"range": {"start": pos(1, 0), "end": pos(1, 11)}, "newText": ""}
    ]
    assert rpc.shutdown_and_exit() == 0


def test_undo_last_in_a_second_window_never_reaches_the_utterances_of_a_running_first_one(serve, tones):
    # Outside-user finding: two editors of one kind on one workspace share an owner; B had
    # dictated nothing, yet its undo removed A's utterance in A's file.
    first = serve()
    doc = EditorDocument(first, DEMO, "a = \n")
    dictated = transcribe(first, doc, tones["count"], 0, 4)
    second = serve()
    EditorDocument(second, DEMO, doc.text)
    undone = second.request("swictation/undoUtterance", {})
    assert undone["edits"] == [] and undone["id"] is None, undone
    assert "nothing to undo" in undone["message"]
    # Once the first has exited (a restart), its utterances are this editor's to undo again.
    assert first.shutdown_and_exit() == 0
    undone = second.request("swictation/undoUtterance", {})
    assert undone["id"] == dictated["utteranceId"] and undone["reason"] is None
    assert second.shutdown_and_exit() == 0


def test_a_client_that_syncs_whole_documents_has_its_undo_and_scratch_recorded(serve, tones):
    # Outside-user finding: LSP lets a client send the full text on each change; the deletion then
    # arrives as a whole-document change, and the utterance must still count as undone.
    rpc = serve()
    text = "a = \n"
    rpc.notify(
        "textDocument/didOpen", {"textDocument": {"uri": DEMO, "languageId": "python", "version": 1, "text": text}}
    )
    result = rpc.request(
        "swictation/transcribe",
        {"textDocument": {"uri": DEMO}, "position": pos(0, 4), "audio": {"path": str(tones["count"])}},
    )
    [insertion] = result["edits"]
    text = "a = " + insertion["newText"] + "\n"
    rpc.notify(
        "textDocument/didChange", {"textDocument": {"uri": DEMO, "version": 2}, "contentChanges": [{"text": text}]}
    )
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["reason"] is None and undone["edits"], undone
    rpc.notify(
        "textDocument/didChange", {"textDocument": {"uri": DEMO, "version": 3}, "contentChanges": [{"text": "a = \n"}]}
    )
    again = rpc.request("swictation/undoUtterance", {})
    assert again["reason"] == "already-undone", again
    assert history(rpc) == [] and history(rpc, includeUndone=True)[0]["undone"] is True
    assert rpc.shutdown_and_exit() == 0


def test_an_utterance_discarded_with_an_unsaved_document_is_gone_for_good(serve, tones):
    # Outside-user finding: dictate (unsaved), `:e!` (the document is closed and reopened from
    # disk without it), type the same words by hand at that place: undo deleted the user's words.
    saves = {**CLIENT_CAPABILITIES, "textDocument": {"synchronization": {"didSave": True}}}
    rpc = serve(capabilities=saves)
    doc = EditorDocument(rpc, DEMO, "first line\nsecond line\n")
    dictated = transcribe(rpc, doc, tones["count"], 1, 0)
    assert doc.text == "first line\nuser count second line\n"
    doc.close()  # closed without a save: the dictation is discarded with the buffer
    doc = EditorDocument(rpc, DEMO, "first line\nsecond line\n")
    doc.type(1, 0, "user count ")  # the user's own words, at the same place
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["id"] == dictated["utteranceId"] and undone["edits"] == [] and undone["reason"] == "gone", undone
    assert doc.text == "first line\nuser count second line\n"

    # Saved before it was closed: the text on disk is the utterance, and it can be undone.
    kept = transcribe(rpc, doc, tones["count"], 0, 0)
    rpc.notify("textDocument/didSave", {"textDocument": {"uri": DEMO}})
    doc.close()
    doc = EditorDocument(rpc, DEMO, "user count first line\nuser count second line\n")
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["id"] == kept["utteranceId"] and undone["reason"] is None, undone
    assert rpc.shutdown_and_exit() == 0


def test_a_range_past_the_end_of_the_reopened_document_is_gone(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "\n\n# \n")
    dictated = transcribe(rpc, doc, tones["hello"], 2, 2)
    assert rpc.shutdown_and_exit() == 0
    rpc = serve()
    EditorDocument(rpc, DEMO, "# \n")
    undone = rpc.request("swictation/undoUtterance", {"id": dictated["utteranceId"]})
    assert undone["edits"] == [] and undone["reason"] == "gone"
    assert rpc.shutdown_and_exit() == 0


def test_a_second_undo_last_says_already_undone_instead_of_reaching_an_older_utterance(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "a = \nb = \n")
    older = transcribe(rpc, doc, tones["count"], 0, 4)
    newer = transcribe(rpc, doc, tones["hello"], 1, 4)
    first = rpc.request("swictation/undoUtterance", {})
    assert first["id"] == newer["utteranceId"]
    doc.apply(first["edits"])
    second = rpc.request("swictation/undoUtterance", {})
    assert second["edits"] == [] and second["reason"] == "already-undone" and second["id"] == newer["utteranceId"]
    assert second["message"] == "The last utterance was already removed; undo an older one from the history."
    assert doc.text == "a = user count\nb = \n"
    by_id = rpc.request("swictation/undoUtterance", {"id": older["utteranceId"]})
    assert by_id["reason"] is None
    doc.apply(by_id["edits"])
    assert doc.text == "a = \nb = \n"
    assert rpc.shutdown_and_exit() == 0


def test_a_refused_workspace_apply_edit_leaves_the_utterance_undoable(serve, tones):
    rpc = serve({"applyEdits": "server"})
    doc = EditorDocument(rpc, DEMO, "x = \n")
    requests: list[dict] = []

    def apply(params):
        requests.append(params)
        doc.apply(workspace_edits(params, DEMO))
        return {"applied": True}

    rpc.handlers["workspace/applyEdit"] = apply
    dictated = rpc.request(
        "swictation/transcribe",
        {
            "textDocument": {"uri": DEMO},
            "position": pos(0, 4),
            "audio": {"path": str(tones["count"])},
            "context": doc.context(0, 4),
        },
    )
    assert dictated["appliedByServer"] is True and doc.text == "x = user count\n"
    rpc.handlers["workspace/applyEdit"] = lambda params: {"applied": False, "failureReason": "version mismatch"}
    refused = rpc.request("swictation/undoUtterance", {})
    assert refused["appliedByServer"] is False and refused["uri"] == DEMO and refused["version"] == doc.version
    assert doc.text == "x = user count\n"
    [item] = history(rpc)
    assert item["id"] == dictated["utteranceId"] and item["undone"] is False
    # Accepted now: the workspace edit names the document and the version it was checked at.
    rpc.handlers["workspace/applyEdit"] = apply
    applied = rpc.request("swictation/undoUtterance", {})
    assert applied["appliedByServer"] is True and applied["edits"] == [] and applied["reason"] is None
    [change] = requests[-1]["edit"]["documentChanges"]
    assert change["textDocument"] == {"uri": DEMO, "version": applied["version"]}
    assert doc.text == "x = \n"
    assert history(rpc) == []
    assert rpc.shutdown_and_exit() == 0


def test_the_client_confirms_an_edit_it_applied_itself_and_a_refusal_changes_nothing(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "x = \n")
    dictated = transcribe(rpc, doc, tones["count"], 0, 4)
    uid = dictated["utteranceId"]
    proposed = rpc.request("swictation/undoUtterance", {})
    refused = rpc.request(
        "swictation/utteranceEditApplied",
        {"utteranceId": uid, "kind": "undo", "applied": False, "failureReason": "version mismatch"},
    )
    assert refused["item"]["id"] == uid and refused["item"]["undone"] is False
    again = rpc.request("swictation/undoUtterance", {})
    assert again["edits"] == proposed["edits"] and again["reason"] is None
    doc.apply(again["edits"])
    confirmed = rpc.request("swictation/utteranceEditApplied", {"utteranceId": uid, "kind": "undo", "applied": True})
    assert confirmed["item"]["undone"] is True and confirmed["item"]["text"] == "user count"
    assert rpc.request("swictation/undoUtterance", {})["reason"] == "already-undone"
    assert rpc.shutdown_and_exit() == 0


def test_history_lists_undone_utterances_only_when_asked(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "a = \nb = \n")
    kept = transcribe(rpc, doc, tones["count"], 0, 4)
    gone = transcribe(rpc, doc, tones["hello"], 1, 4)
    doc.apply(rpc.request("swictation/undoUtterance", {})["edits"])
    assert [i["id"] for i in history(rpc)] == [kept["utteranceId"]]
    items = history(rpc, includeUndone=True)
    assert [(i["id"], i["undone"]) for i in items] == [(gone["utteranceId"], True), (kept["utteranceId"], False)]
    assert items[0]["text"] == gone["text"]
    assert rpc.shutdown_and_exit() == 0


def test_insert_from_history_is_laid_out_for_the_new_cursor_and_undo_removes_only_the_copy(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "# \nx = foo(\n")
    original = transcribe(rpc, doc, tones["hello"], 0, 2)
    assert doc.text == "# Print hello world\nx = foo(\n"  # a comment: a sentence
    copy = rpc.request(
        "swictation/insertUtterance",
        {
            "utteranceId": original["utteranceId"],
            "textDocument": {"uri": DEMO},
            "position": pos(1, 8),
            "context": doc.context(1, 8),
        },
    )
    assert copy["text"] == "print hello world"  # code: no sentence capital
    assert copy["utteranceId"] not in (None, original["utteranceId"])
    assert copy["edits"] == [{"range": {"start": pos(1, 8), "end": pos(1, 8)}, "newText": "print hello world"}]
    doc.apply(copy["edits"])
    assert [i["id"] for i in history(rpc)] == [copy["utteranceId"], original["utteranceId"]]
    undone = rpc.request("swictation/undoUtterance", {})
    assert undone["id"] == copy["utteranceId"]
    doc.apply(undone["edits"])
    assert doc.text == "# Print hello world\nx = foo(\n"
    # An undone utterance can be inserted again too.
    again = rpc.request(
        "swictation/insertUtterance",
        {"utteranceId": copy["utteranceId"], "textDocument": {"uri": DEMO}, "position": pos(2, 0)},
    )
    assert again["edits"][0]["newText"].lower() == "print hello world"
    assert rpc.shutdown_and_exit() == 0


def test_retranscribe_of_an_undone_utterance_offers_its_text_and_edits_nothing(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, DEMO, "# \n")
    dictated = transcribe(rpc, doc, tones["hello"], 0, 2)
    doc.apply(rpc.request("swictation/undoUtterance", {})["edits"])
    again = rpc.request("swictation/retranscribe", {"id": dictated["utteranceId"], "mode": "accurate"})
    assert again["edits"] == [] and again["reason"] == "already-undone" and again["uri"] == DEMO
    assert again["text"] == "Print hello planet"
    assert doc.text == "# \n"
    assert rpc.shutdown_and_exit() == 0

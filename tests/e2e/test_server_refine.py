"""Two-pass refine over the real server: fast text first, accurate text after, only where it still is.

Two tone models share their tones but not their words (``documents.ACCURATE_TOKENS``): the fast
one hears "print hello world", the accurate one "print hello planet", so a refinement is due and
its text is known exactly.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .conftest import RpcClient
from .documents import ACCURATE_TOKENS, EditorDocument, pos, transcribe, workspace_edits, write_clip, write_model
from .test_server_dictation import mic_env  # noqa: F401 - the private virtual microphone fixture

URI = "file:///tmp/swictation-e2e/refine.py"
FAST_TEXT = "Print hello world"
ACCURATE_TEXT = "Print hello planet"


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("refine-tones")
    return {
        "fast": write_model(root, "tones-fast"),
        "accurate": write_model(root, "tones-accurate", ACCURATE_TOKENS),
        "hello": write_clip(root, "print hello world"),
    }


@pytest.fixture
def serve(start_server, tones, tmp_path: Path):
    def _serve(refine: str = "auto", **settings) -> RpcClient:
        rpc = start_server(
            env_extra={"SWICTATION_DATA_DIR": str(tmp_path / "data"), "SWICTATION_CHECK_CLIP": str(tones["hello"])}
        )
        options = {
            "models": {"fast": str(tones["fast"]), "accurate": str(tones["accurate"])},
            "text": {"refine": refine},
            **settings,
        }
        rpc.initialize(options)
        return rpc

    return _serve


def accurate_decodes(rpc: RpcClient) -> int:
    metrics = rpc.request("swictation/status")["metrics"]
    return metrics.get("accurate", {}).get("count", 0)


def test_the_fast_text_is_inserted_then_replaced_by_the_accurate_text_where_it_now_is(serve, tones):
    rpc = serve("auto")
    doc = EditorDocument(rpc, URI, "x = 1\n# \n")
    result = rpc.request(
        "swictation/transcribe",
        {  # defaultMode auto: the first pass is fast
            "textDocument": {"uri": URI},
            "position": pos(1, 2),
            "audio": {"path": str(tones["hello"])},
            "context": doc.context(1, 2),
        },
    )
    assert (result["text"], result["mode"], result["model"]) == (FAST_TEXT, "fast", "tones-fast")
    # The editor inserts it, and the user goes on typing above it (before the refinement arrives).
    typed = {"range": {"start": pos(0, 0), "end": pos(0, 0)}, "newText": "import os\n"}
    doc.changes([*result["edits"], typed])
    refined = rpc.wait_for("swictation/refined")
    assert refined["utteranceId"] == result["utteranceId"] and refined["uri"] == URI
    assert refined["text"] == ACCURATE_TEXT
    assert refined["edit"] == {"range": {"start": pos(2, 2), "end": pos(2, 19)}, "newText": ACCURATE_TEXT}
    doc.apply([refined["edit"]])
    assert doc.text == "import os\nx = 1\n# Print hello planet\n"
    item = rpc.request("swictation/history", {"limit": 1})["items"][0]
    assert (item["text"], item["mode"], item["model"]) == (ACCURATE_TEXT, "accurate", "tones-accurate")
    assert item["range"] == {"start": pos(2, 2), "end": pos(2, 20)}
    # Undo removes the refined text.
    doc.apply(rpc.request("swictation/undoUtterance", {})["edits"])
    assert doc.text == "import os\nx = 1\n# \n"
    assert len(rpc.of("swictation/refined")) == 1
    assert rpc.shutdown_and_exit() == 0


def test_no_refinement_overwrites_text_the_user_edited_inside(serve, tones):
    rpc = serve("always")
    doc = EditorDocument(rpc, URI, "# \n")
    params = {
        "textDocument": {"uri": URI},
        "position": pos(0, 2),
        "audio": {"path": str(tones["hello"])},
        "context": doc.context(0, 2),
    }
    result = rpc.request("swictation/transcribe", params)
    assert result["text"] == FAST_TEXT
    # The editor inserts the text and the user at once changes a word inside it (one didChange).
    edit_inside = {"range": {"start": pos(0, 8), "end": pos(0, 13)}, "newText": "HELLO"}
    doc.changes([*result["edits"], edit_inside])
    assert doc.text == "# Print HELLO world\n"
    # The accurate pass ran (and found other text), but sent nothing: the user's edit wins.
    deadline = time.monotonic() + 30
    while accurate_decodes(rpc) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # It offers the accurate text instead, with no edit, and says why.
    offered = rpc.wait_for("swictation/refined")
    assert offered["edit"] is None and offered["text"] == ACCURATE_TEXT
    assert offered["reason"] == "changed" and offered["uri"] == URI and "edited" in offered["message"]
    assert doc.text == "# Print HELLO world\n"
    assert rpc.request("swictation/history", {"limit": 1})["items"][0]["text"] == FAST_TEXT
    assert rpc.shutdown_and_exit() == 0


def test_refine_applied_by_the_server_when_it_applies_edits(serve, tones):
    rpc = serve("always", applyEdits="server")
    doc = EditorDocument(rpc, URI, "# \n")
    labels = []

    def apply_edit(params):
        labels.append(params.get("label"))
        doc.apply(workspace_edits(params, URI))
        return {"applied": True}

    rpc.handlers["workspace/applyEdit"] = apply_edit
    result = rpc.request(
        "swictation/transcribe",
        {
            "textDocument": {"uri": URI},
            "position": pos(0, 2),
            "audio": {"path": str(tones["hello"])},
            "context": doc.context(0, 2),
        },
    )
    assert result["appliedByServer"] is True and result["edits"] == []
    deadline = time.monotonic() + 30
    while doc.text != "# Print hello planet\n":
        assert time.monotonic() < deadline, doc.text
        time.sleep(0.05)
    assert len(labels) == 2
    assert rpc.of("swictation/refined") == []  # applied, not notified
    assert rpc.shutdown_and_exit() == 0


def test_documents_the_editor_does_not_sync_get_the_refined_text_offered_not_an_edit(serve, tones):
    rpc = serve("auto")
    result = rpc.request(
        "swictation/transcribe",
        {
            "textDocument": {"uri": URI},
            "position": pos(4, 2),
            "audio": {"path": str(tones["hello"])},
            "context": {"before": "# ", "languageId": "python"},
        },
    )
    assert result["text"] == FAST_TEXT
    # The server cannot check a document it does not have: it offers the text, and says why.
    refined = rpc.wait_for("swictation/refined")
    assert refined["edit"] is None and refined["text"] == ACCURATE_TEXT
    assert refined["reason"] == "not-synced" and refined["version"] is None and refined["uri"] == URI
    assert rpc.shutdown_and_exit() == 0


def test_auto_refine_needs_two_different_models_and_off_never_refines(serve, tones):
    rpc = serve("auto", models={"fast": str(tones["fast"]), "accurate": str(tones["fast"])})
    doc = EditorDocument(rpc, URI, "# \nx = 1\n# \n")
    result = transcribe(rpc, doc, tones["hello"], 0, 2)
    assert result["mode"] == "accurate"  # auto mode, final text: no first pass to refine
    rpc.notify(
        "workspace/didChangeConfiguration",
        {
            "settings": {
                "swictation": {
                    "models": {"fast": str(tones["fast"]), "accurate": str(tones["accurate"])},
                    "text": {"refine": "off"},
                }
            }
        },
    )
    off = transcribe(rpc, doc, tones["hello"], 2, 2)
    assert (off["mode"], off["text"]) == ("accurate", ACCURATE_TEXT)
    for _ in range(3):
        rpc.request("swictation/status")
    assert rpc.of("swictation/refined") == []
    assert rpc.shutdown_and_exit() == 0


@pytest.mark.audio
def test_a_microphone_session_is_refined_after_stop(start_server, tones, tmp_path, request):
    """stopDictation's fast text, then its accurate refinement, through real PortAudio capture."""
    from .test_server_dictation import speak

    microphone_env = request.getfixturevalue("mic_env")
    rpc = start_server(
        env_extra={
            **microphone_env,
            "SWICTATION_DATA_DIR": str(tmp_path / "data"),
            "SWICTATION_CHECK_CLIP": str(tones["hello"]),
        }
    )
    # Tones are no speech to the VAD: the session decodes its whole recording at stop.
    rpc.initialize(
        {
            "models": {"fast": str(tones["fast"]), "accurate": str(tones["accurate"])},
            "text": {"refine": "auto"},
            "vad": {"enabled": False},
        }
    )
    if not rpc.request("swictation/status")["inputDevices"]:
        pytest.skip("PortAudio sees no input device through PulseAudio (libasound2-plugins missing?)")
    doc = EditorDocument(rpc, URI, "# \n")
    rpc.request(
        "swictation/startDictation", {"textDocument": {"uri": URI}, "position": pos(0, 2), "context": doc.context(0, 2)}
    )
    speak(microphone_env, tones["hello"])
    result = rpc.request("swictation/stopDictation", {}, timeout=180)
    assert (result["text"], result["mode"]) == (FAST_TEXT, "fast")
    doc.apply(result["edits"])
    refined = rpc.wait_for("swictation/refined", timeout=60)
    assert refined["utteranceId"] == result["utteranceId"] and refined["text"] == ACCURATE_TEXT
    doc.apply([refined["edit"]])
    assert doc.text == "# Print hello planet\n"
    assert rpc.shutdown_and_exit() == 0

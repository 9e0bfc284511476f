""" "Correct that" over the real server and pipes: the alternatives of an utterance (its text now
and the other mode's decode of its saved audio), a choice put in place where the utterance is now,
a refusal when the user edited it, and the spoken "correct that" that opens the list.

Two tone models hear the same tones as different words: the fast one "world", the accurate one
"planet" (``documents.ACCURATE_TOKENS``), so the two modes' texts are known exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import RpcClient
from .documents import ACCURATE_TOKENS, TOKENS, EditorDocument, pos, transcribe, write_clip, write_model

URI = "file:///tmp/swictation-e2e/corrections.py"
TEXT_URI = "file:///tmp/swictation-e2e/notes.txt"

#: The spoken-command alphabet plus "correct" (appended: the other tones keep their words).
FAST_TOKENS = (*TOKENS, "\u2581correct")
ACCURATE = (*ACCURATE_TOKENS, "\u2581correct")


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("correction-tones")
    return {
        "fast": write_model(root, "tones-fast", FAST_TOKENS),
        "accurate": write_model(root, "tones-accurate", ACCURATE),
        "hello": write_clip(root, "print hello world", FAST_TOKENS),
        "correct-that": write_clip(root, "correct that", FAST_TOKENS),
        "prose": write_clip(root, "correct that world", FAST_TOKENS),
    }


@pytest.fixture
def serve(start_server, tones, tmp_path: Path):
    """``serve(settings=None) -> RpcClient``: fast and accurate mode on different tone models."""

    def _serve(settings: dict | None = None) -> RpcClient:
        env = {"SWICTATION_DATA_DIR": str(tmp_path / "data"), "SWICTATION_CHECK_CLIP": str(tones["hello"])}
        rpc = start_server(env_extra=env)
        options = {
            "models": {"fast": str(tones["fast"]), "accurate": str(tones["accurate"])},
            "defaultMode": "fast",
        }
        options.update(settings or {})
        rpc.initialize(options)
        return rpc

    return _serve


def test_alternatives_offer_the_text_now_and_the_other_modes_and_a_choice_replaces_it_where_it_is_now(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "# \n")
    said = transcribe(rpc, doc, tones["hello"], 0, 2)
    assert said["text"] == "Print hello world" and said["mode"] == "fast"
    doc.type(0, 0, "\n")  # the utterance moves a line down

    listed = rpc.request("swictation/alternatives", {})
    assert listed["utteranceId"] == said["utteranceId"]
    assert listed["text"] == "Print hello world" and listed["uri"] == URI
    assert listed["alternatives"] == [
        {"text": "Print hello world", "source": "current", "mode": "fast", "model": "tones-fast"},
        {"text": "Print hello planet", "source": "other-mode", "mode": "accurate", "model": "tones-accurate"},
    ]
    assert listed["message"] is None

    fixed = rpc.request(
        "swictation/correctUtterance", {"utteranceId": said["utteranceId"], "text": "Print hello planet"}
    )
    assert fixed["reason"] is None and fixed["uri"] == URI and fixed["version"] == doc.version
    assert fixed["utteranceId"] == said["utteranceId"]
    assert fixed["mode"] == "accurate" and fixed["model"] == "tones-accurate"
    assert fixed["edits"] == [{"range": {"start": pos(1, 2), "end": pos(1, 19)}, "newText": "Print hello planet"}]
    doc.apply(fixed["edits"])
    confirmed = rpc.request(
        "swictation/utteranceEditApplied", {"utteranceId": said["utteranceId"], "kind": "correct", "applied": True}
    )
    assert doc.text == "\n# Print hello planet\n"
    item = confirmed["item"]
    assert item["text"] == "Print hello planet" and item["model"] == "tones-accurate" and item["mode"] == "accurate"
    assert item["range"] == {"start": pos(1, 2), "end": pos(1, 20)}

    # The corrected utterance lists its old text as the other mode's; undo removes the new text.
    again = rpc.request("swictation/alternatives", {"utteranceId": said["utteranceId"]})
    assert [(a["text"], a["source"]) for a in again["alternatives"]] == [
        ("Print hello planet", "current"),
        ("Print hello world", "other-mode"),
    ]
    doc.apply(rpc.request("swictation/undoUtterance", {})["edits"])
    assert doc.text == "\n# \n"
    assert rpc.shutdown_and_exit() == 0


def test_a_correction_never_overwrites_an_utterance_the_user_edited_and_offers_the_text_instead(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "# \n")
    said = transcribe(rpc, doc, tones["hello"], 0, 2)
    line, character = doc.find("hello")
    doc.type(line, character, "big ")  # the user edits inside the utterance

    listed = rpc.request("swictation/alternatives", {"utteranceId": said["utteranceId"]})
    assert [a["text"] for a in listed["alternatives"]] == ["Print hello world", "Print hello planet"]
    refused = rpc.request(
        "swictation/correctUtterance", {"utteranceId": said["utteranceId"], "text": "Print hello planet"}
    )
    assert refused["edits"] == [] and refused["reason"] == "changed"
    assert refused["text"] == "Print hello planet" and "offered" in refused["message"]
    assert doc.text == "# Print big hello world\n"
    item = rpc.request("swictation/history", {"limit": 1})["items"][0]
    assert item["text"] == "Print hello world" and item["model"] == "tones-fast"
    assert rpc.shutdown_and_exit() == 0


def test_without_kept_audio_only_the_text_now_is_offered_and_the_message_says_how_to_keep_it(serve, tones):
    rpc = serve({"history": {"keepAudio": False}})
    doc = EditorDocument(rpc, URI, "# \n")
    said = transcribe(rpc, doc, tones["hello"], 0, 2)
    listed = rpc.request("swictation/alternatives", {})
    assert listed["utteranceId"] == said["utteranceId"]
    assert [a["source"] for a in listed["alternatives"]] == ["current"]
    assert "keepAudio" in listed["message"]
    assert rpc.shutdown_and_exit() == 0


def test_spoken_correct_that_inserts_nothing_and_names_the_utterance_to_correct(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "# \n")
    said = transcribe(rpc, doc, tones["hello"], 0, 2)
    line, character = doc.cursor_at_end()
    before = doc.text
    command = transcribe(rpc, doc, tones["correct-that"], line, character)
    assert command["correctUtteranceId"] == said["utteranceId"]
    assert command["text"] == "" and command["edits"] == [] and command["utteranceId"] is None
    assert doc.text == before
    assert rpc.shutdown_and_exit() == 0


def test_prose_that_merely_contains_correct_that_is_written_as_words(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, TEXT_URI, "", language_id="plaintext")
    said = transcribe(rpc, doc, tones["prose"], 0, 0)
    assert said["text"] == "Correct that world" and said["correctUtteranceId"] is None
    assert doc.text == "Correct that world"
    assert rpc.shutdown_and_exit() == 0


def test_correct_that_with_nothing_dictated_yet_says_so(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "")
    command = transcribe(rpc, doc, tones["correct-that"], 0, 0)
    assert command["correctUtteranceId"] is None and command["edits"] == []
    assert "no earlier utterance" in rpc.wait_for("window/showMessage")["message"]
    assert rpc.request("swictation/alternatives", {})["alternatives"] == []
    assert rpc.shutdown_and_exit() == 0

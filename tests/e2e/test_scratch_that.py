""" "scratch that" over the real server: as the bundled Whisper writes it after real speech, what it
may remove (only an utterance the history keeps), and the one sentence when it removes nothing.

Piper speech through Whisper shows what the recognizer really writes; tone models
(``documents.TOKENS``) make the transcripts exact for the history rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swictation_rpc.testing.speech import word_error_rate

from .conftest import RpcClient
from .documents import EditorDocument, transcribe, write_clip, write_model

URI = "file:///tmp/swictation-e2e/scratch.py"


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("scratch-tones")
    return {
        "model": write_model(root, "scratch-tones"),
        "hello": write_clip(root, "print hello world"),
        "count": write_clip(root, "user count"),
        "scratch": write_clip(root, "scratch that camel case user count"),
        "scratch-only": write_clip(root, "scratch that"),
    }


@pytest.fixture
def serve(start_server, tones, tmp_path: Path):
    """``serve(settings=None) -> RpcClient``: a tone-model server with its own history."""

    def _serve(settings: dict[str, Any] | None = None) -> RpcClient:
        rpc = start_server(
            env_extra={"SWICTATION_DATA_DIR": str(tmp_path / "data"), "SWICTATION_CHECK_CLIP": str(tones["hello"])}
        )
        options: dict[str, Any] = {
            "models": {"fast": str(tones["model"]), "accurate": str(tones["model"])},
            "defaultMode": "fast",
        }
        options.update(settings or {})
        rpc.initialize(options)
        return rpc

    return _serve


def messages(rpc: RpcClient, start: int = 0) -> list[str]:
    return [params["message"] for params in rpc.of("window/showMessage")[start:]]


def test_scratch_that_then_words_on_real_speech_removes_the_previous_utterance(client: RpcClient, speech_wav):
    """The bundled Whisper, prompted for prose, wrote "Let's scratch that hello world." for "scratch
    that hello world": the lead-in it made up counted as words before the command, so the scratch
    applied to them alone and the previous utterance stayed, silently."""
    doc = EditorDocument(client, "file:///tmp/swictation-e2e/scratch-speech.txt", "USER\n\n\n", "plaintext")
    first = transcribe(client, doc, speech_wav("the quick brown fox jumps over the lazy dog."), 1, 0)
    assert word_error_rate("the quick brown fox jumps over the lazy dog", first["text"]) <= 0.2, first["text"]
    scratch = transcribe(client, doc, speech_wav("scratch that hello world."), 2, 0)
    assert scratch["scratchedUtteranceId"] == first["utteranceId"], scratch["text"]
    assert word_error_rate("hello world", scratch["text"]) == 0, scratch["text"]
    assert doc.text == f"USER\n\n{scratch['text']}\n"
    # "scratch that" alone then removes "hello world" (the fox is already gone).
    only = transcribe(client, doc, speech_wav("scratch that."), 2, len(scratch["text"]))
    assert only["scratchedUtteranceId"] == scratch["utteranceId"]
    assert only["text"] == "" and doc.text == "USER\n\n\n"


def test_scratch_that_with_nothing_to_remove_says_so_in_one_sentence(serve, tones):
    rpc = serve()
    doc = EditorDocument(rpc, URI, "x = 1\n")
    result = transcribe(rpc, doc, tones["scratch-only"], 0, 5)
    assert result["edits"] == [] and result["scratchedUtteranceId"] is None
    assert doc.text == "x = 1\n"
    [said] = messages(rpc)
    assert said == "Swictation: 'scratch that' found no earlier utterance in scratch.py to remove."
    assert rpc.shutdown_and_exit() == 0


def test_scratch_that_never_removes_an_utterance_the_history_no_longer_keeps(serve, tones):
    """With ``maxItems: 1`` the older utterance is rotated out: removing it would lose its words."""
    rpc = serve({"history": {"maxItems": 1}})
    doc = EditorDocument(rpc, URI, "\n\n")
    older = transcribe(rpc, doc, tones["hello"], 0, 0)
    newer = transcribe(rpc, doc, tones["count"], 1, 0)
    assert doc.text == f"{older['text']}\n{newer['text']}\n"
    doc.apply(rpc.request("swictation/undoUtterance", {})["edits"])  # the newer one goes
    assert doc.text == f"{older['text']}\n\n"
    result = transcribe(rpc, doc, tones["scratch-only"], 1, 0)
    assert result["scratchedUtteranceId"] is None and result["edits"] == []
    assert doc.text == f"{older['text']}\n\n", "the rotated-out utterance stays"
    [said] = messages(rpc)
    assert "left the previous utterance in scratch.py as it is" in said and "maxItems" in said
    assert rpc.shutdown_and_exit() == 0


def test_scratch_that_with_words_keeps_the_scratched_utterance_in_the_history(serve, tones):
    """Saving the new words would rotate the scratched one out with ``maxItems: 1``; with 2 it stays."""
    rpc = serve({"history": {"maxItems": 1}})
    doc = EditorDocument(rpc, URI, "\n\n")
    older = transcribe(rpc, doc, tones["hello"], 0, 0)
    result = transcribe(rpc, doc, tones["scratch"], 1, 0)
    assert result["scratchedUtteranceId"] is None
    assert doc.text == f"{older['text']}\n{result['text']}\n", "the words go in; the older one stays"
    assert len(messages(rpc)) == 1
    assert rpc.shutdown_and_exit() == 0

    rpc = serve({"history": {"maxItems": 2}})
    doc = EditorDocument(rpc, URI, "\n\n")
    older = transcribe(rpc, doc, tones["hello"], 0, 0)
    result = transcribe(rpc, doc, tones["scratch"], 1, 0)
    assert result["scratchedUtteranceId"] == older["utteranceId"]
    assert doc.text == f"\n{result['text']}\n"
    items = rpc.request("swictation/history", {"limit": 10, "includeUndone": True})["items"]
    assert [(i["id"], i["undone"]) for i in items][:2] == [(result["utteranceId"], False), (older["utteranceId"], True)]
    assert messages(rpc) == []
    assert rpc.shutdown_and_exit() == 0

"""Vocabulary from the buffer over the real server: the editor's identifiers bias recognition
(hotwords) and spoken forms come back spelled exactly as the code spells them.

How much recognition gains is measured by ``python -m benchmarks.vocabulary``, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import transcribe_params
from .documents import EditorDocument, transcribe, write_clip, write_model

URI = "file:///tmp/swictation-e2e/vocabulary.py"
IDENTIFIERS = ["getUserByName", "getUserById", "userCount", "request", "fetchJsonConfig"]


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("vocabulary-tones")
    return {"model": write_model(root, "vocab-tones"), "get": write_clip(root, "get user by id")}


@pytest.mark.parametrize("decoding", ["greedy_search", "modified_beam_search"])
def test_spoken_identifiers_come_back_spelled_as_the_code_spells_them(start_server, tones, tmp_path, decoding):
    rpc = start_server(
        env_extra={"SWICTATION_DATA_DIR": str(tmp_path / "data"), "SWICTATION_CHECK_CLIP": str(tones["get"])}
    )
    rpc.initialize(
        {
            "models": {"fast": str(tones["model"]), "accurate": str(tones["model"])},
            "defaultMode": "fast",
            "engine": {"decodingMethod": decoding},
        }
    )
    doc = EditorDocument(rpc, URI, "user = \nname = \n")
    # With beam search the identifiers also go to sherpa-onnx as hotwords: the decode still works.
    with_ids = transcribe(rpc, doc, tones["get"], 0, 7, context_extra={"identifiers": IDENTIFIERS})
    assert with_ids["text"] == "getUserById"
    without = transcribe(rpc, doc, tones["get"], 1, 7)
    assert without["text"] == "get user by id"
    assert doc.text == "user = getUserById\nname = get user by id\n"
    assert rpc.shutdown_and_exit() == 0


def test_real_speech_mentioning_an_identifier_gets_its_exact_spelling(start_server, speech_wav, tmp_path):
    """Piper's voice through the bundled Whisper: the identifier is spelled exactly in a comment."""
    wav = speech_wav("call get user by id with the request")
    rpc = start_server(env_extra={"SWICTATION_DATA_DIR": str(tmp_path / "data")})
    rpc.initialize()
    context = {"before": "# ", "after": "", "languageId": "python", "identifiers": IDENTIFIERS}
    result = rpc.request("swictation/transcribe", transcribe_params(wav, 0, 2, context=context))
    assert "getUserById" in result["text"].split(), result["text"]
    assert "getUserByName" not in result["text"]
    assert rpc.shutdown_and_exit() == 0

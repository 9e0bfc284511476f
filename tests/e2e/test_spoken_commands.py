"""Spoken commands over the real server with real speech (Piper -> bundled Whisper tiny.en).

One family of commands per test, and prose whose words happen to be command words, which must
come back as words. Accuracy over many utterances is measured by ``python -m benchmarks.commands``;
the phrases here are ones the bundled model hears reliably, so a failure means the server's
pipeline (hints, word timings, command rules) broke, not the recognizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import transcribe_params

PAUSE_S = 0.6


@pytest.fixture(scope="module")
def said(tmp_path_factory: pytest.TempPathFactory):
    """``said(*segments) -> Path``: Piper says the segments with a pause between them."""
    soundfile = pytest.importorskip("soundfile")
    from swictation_rpc.testing.speech import silence, synthesize

    root = tmp_path_factory.mktemp("spoken-commands")

    def _make(*segments: str) -> Path:
        path = root / f"{abs(hash(segments))}.wav"
        if not path.exists():
            parts: list[np.ndarray] = []
            for n, segment in enumerate(segments):
                parts += ([silence(PAUSE_S)] if n else []) + [synthesize(segment)]
            soundfile.write(str(path), np.concatenate(parts), 16000, subtype="PCM_16")
        return path

    return _make


def insert(rpc, wav: Path, before: str, language_id: str = "python") -> dict:
    context = {"before": before, "after": "", "languageId": language_id}
    return rpc.request("swictation/transcribe", transcribe_params(wav, 0, len(before), context=context))


@pytest.mark.parametrize(
    ("spoken", "before", "language_id", "expected"),
    [
        ("open paren", "    print", "python", "("),
        ("new line", "x = 1", "python", "\n"),
        ("semicolon", "let x = 1", "javascript", ";"),
        ("question mark", "Is it done", "markdown", "?"),
    ],
)
def test_a_command_said_alone_writes_its_symbol(shared_client, said, spoken, before, language_id, expected):
    assert insert(shared_client, said(spoken), before, language_id)["text"] == expected


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("print open paren name close paren", "print(name)"),
        ("names equals open bracket close bracket", "names = []"),
        ("if count greater than limit colon", "if count > limit:"),
        ("values dot append open paren item close paren", "values.append(item)"),
    ],
)
def test_commands_inside_code_dictation(shared_client, said, spoken, expected):
    assert insert(shared_client, said(spoken), "    ")["text"] == expected


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("snake case user name", "user_name"),
        ("camel case get user name", "getUserName"),
        ("kebab case main window", "main-window"),
        ("constant case max retries", "MAX_RETRIES"),
    ],
)
def test_casing_commands(shared_client, said, spoken, expected):
    assert insert(shared_client, said(spoken), "    ")["text"] == expected


def test_a_command_set_off_by_a_pause_in_prose(shared_client, said):
    result = insert(shared_client, said("is it ready", "question mark"), "", "markdown")
    assert result["text"] == "Is it ready?"
    assert result["language"] == "en"


@pytest.mark.parametrize(
    ("spoken", "before", "language_id", "kept"),
    [
        ("the period was so far like the present period", "# ", "python", ["period", "present period"]),
        ("strip the new line characters from each row", "# ", "python", ["new line characters"]),
        ("put a semicolon at the end of each line", "", "markdown", ["semicolon"]),
        ("we prefer snake case names in python", "# ", "python", ["snake case names"]),
    ],
)
def test_command_words_in_prose_stay_words(shared_client, said, spoken, before, language_id, kept):
    text = insert(shared_client, said(spoken), before, language_id)["text"]
    for words in kept:
        assert words in text.lower(), text
    assert not set(text) & set("\n;_()"), text


def test_status_names_the_language_setting(shared_client):
    assert shared_client.request("swictation/status", {})["engine"]["language"] == "auto"


def test_the_language_setting_reaches_status_and_the_english_model_still_says_english(start_server, said, tmp_path):
    """``language: "de"`` on the bundled tiny.en: status names the setting, the result the language the
    model really decoded in (English), and the commands follow that language."""
    rpc = start_server(env_extra={"SWICTATION_DATA_DIR": str(tmp_path / "data")})
    rpc.initialize({"language": "de"})
    rpc.wait_ready()
    assert rpc.request("swictation/status", {})["engine"]["language"] == "de"
    result = insert(rpc, said("print open paren name close paren"), "    ")
    assert result["language"] == "en"
    assert result["text"] == "print(name)"
    assert rpc.shutdown_and_exit() == 0

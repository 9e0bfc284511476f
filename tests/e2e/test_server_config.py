"""Settings: initializationOptions, live changes pushed or pulled, invalid settings reported, not fatal."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile

from .conftest import RpcClient, transcribe_params

TONE_TEXT = "hello world"


@pytest.fixture(scope="module")
def tone_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny real transducer (tone alphabet) and a WAV it decodes to :data:`TONE_TEXT`."""
    synthetic = pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("tone")
    folder = synthetic.write_tone_model(root, kind="tdt", feat_dim=80, layout="sherpa", name="tone-tdt")
    wav = root / "tones.wav"
    soundfile.write(str(wav), synthetic.tone_audio(TONE_TEXT), 16_000, subtype="PCM_16")
    assert synthetic.expected_text(TONE_TEXT) == TONE_TEXT
    return folder, wav


def shown(rpc: RpcClient, start: int = 0) -> list[str]:
    return [p["message"] for n, p in rpc.notifications[start:] if n == "window/showMessage"]


def test_invalid_initialization_options_are_reported_by_name_and_replaced_by_defaults(start_server):
    rpc = start_server()
    rpc.initialize(
        {
            "engine": {"numThreads": "lots", "warmup": False},
            "defaultMode": "fastest",
            "bogusSetting": 1,
            "applyEdits": "server",
        }
    )
    message = rpc.wait_for("window/showMessage")["message"]
    for name in ("engine.numThreads", "defaultMode", "bogusSetting"):
        assert name in message
    assert "default" in message
    config = rpc.wait_ready()["config"]
    assert config["engine"]["numThreads"] == 2 and config["defaultMode"] == "auto"  # defaults
    assert config["engine"]["warmup"] is False and config["applyEdits"] == "server"  # valid ones kept
    assert "bogusSetting" not in config
    assert rpc.shutdown_and_exit() == 0


def test_settings_may_come_wrapped_in_their_section(start_server):
    rpc = start_server()
    rpc.initialize({"swictation": {"defaultMode": "fast"}})
    assert rpc.request("swictation/status")["config"]["defaultMode"] == "fast"
    assert shown(rpc) == []
    assert rpc.shutdown_and_exit() == 0


def test_switching_the_fast_model_live_changes_the_model_that_answers(start_server, tone_model):
    folder, tones = tone_model
    rpc = start_server(env_extra={"SWICTATION_CHECK_CLIP": str(tones)})
    rpc.initialize()
    before = rpc.request("swictation/transcribe", transcribe_params(tones, mode="fast"))
    assert "whisper" in before["model"]

    start = len(rpc.notifications)
    rpc.notify("workspace/didChangeConfiguration", {"settings": {"swictation": {"models": {"fast": str(folder)}}}})
    after = rpc.request("swictation/transcribe", transcribe_params(tones, 2, 5, mode="fast"))
    assert after["model"] == "tone-tdt"
    assert after["text"].lower() == TONE_TEXT  # prose at a sentence start: capitalised
    assert after["edits"][0]["range"]["start"] == {"line": 2, "character": 5}
    status = rpc.request("swictation/status")
    assert status["config"]["models"]["fast"] == str(folder)
    assert {m["mode"]: m["name"] for m in status["engine"]["models"]}["fast"] == "tone-tdt"
    # The reload was shown as work-done progress.
    titles = [p["value"].get("title") for n, p in rpc.notifications[start:] if n == "$/progress"]
    assert "Swictation: applying settings" in titles

    rpc.notify("workspace/didChangeConfiguration", {"settings": {"swictation": {}}})
    back = rpc.request("swictation/transcribe", transcribe_params(tones, mode="fast"))
    assert "whisper" in back["model"]
    assert rpc.shutdown_and_exit() == 0


def test_a_change_without_settings_is_pulled_with_workspace_configuration(start_server, sentence_wav):
    rpc = start_server()
    rpc.initialize({})
    rpc.wait_ready()
    rpc.handlers["workspace/configuration"] = lambda params: [
        {"defaultMode": "fast", "engine": {"numThreads": -3}} if item.get("section") == "swictation" else None
        for item in params["items"]
    ]
    start = len(rpc.notifications)
    rpc.notify("workspace/didChangeConfiguration", {"settings": None})
    asked = rpc.wait_for("workspace/configuration", requests=True)
    assert asked["items"] == [{"section": "swictation"}]
    message = rpc.wait_for("window/showMessage", start=start)["message"]
    assert "engine" in message and "numThreads" in message
    result = rpc.request("swictation/transcribe", transcribe_params(sentence_wav))
    assert result["mode"] == "fast"  # the pulled defaultMode is in effect
    config = rpc.request("swictation/status")["config"]
    assert config["defaultMode"] == "fast" and config["engine"]["numThreads"] == 2
    assert rpc.shutdown_and_exit() == 0


def test_without_initialization_options_the_settings_are_pulled_at_start(start_server):
    rpc = start_server()
    rpc.handlers["workspace/configuration"] = lambda params: [{"applyEdits": "server"} for _ in params["items"]]
    rpc.initialize()  # no initializationOptions
    rpc.wait_for("workspace/configuration", requests=True)
    for _ in range(100):  # the pulled settings apply right after the client's answer
        status = rpc.request("swictation/status")
        if status["config"]["applyEdits"] == "server":
            break
    assert status["config"]["applyEdits"] == "server"
    assert rpc.shutdown_and_exit() == 0


def test_an_invalid_live_change_keeps_the_server_working(start_server, sentence_wav):
    rpc = start_server()
    rpc.initialize({"defaultMode": "accurate"})
    start = len(rpc.notifications)
    rpc.notify("workspace/didChangeConfiguration", {"settings": {"swictation": "not an object"}})
    message = rpc.wait_for("window/showMessage", start=start)["message"]
    assert "expected an object" in message
    # Everything falls back to defaults and the engine still serves.
    result = rpc.request("swictation/transcribe", transcribe_params(sentence_wav))
    assert result["text"]
    assert rpc.request("swictation/status")["config"]["defaultMode"] == "auto"
    assert rpc.shutdown_and_exit() == 0

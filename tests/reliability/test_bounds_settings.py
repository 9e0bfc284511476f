"""Settings out of range, absurdly long or absurdly deep: refused per setting, never wedging the server.

Issue 19, items 3, 6 and 13 (``audio.inputDevice: 1e30``), over the real server: every numeric
setting has a documented range (finite, min/max), a value outside it is reported by name with
the usual "invalid settings ignored" message and its default used, and settings nested
hundreds of levels deep (pushed or as ``initializationOptions``) give a settings problem, not a
``RecursionError`` that leaves every pending request waiting on an engine job nobody settles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from swictation_rpc.audio.io import sample_clip_path
from tests.e2e.conftest import transcribe_params

from .conftest import PROBE_TIMEOUT_S, Server, add_figure, start_module_server

#: (setting path, value) pairs each refused on its own; every one was accepted before.
OUT_OF_RANGE: list[tuple[str, Any]] = [
    ("vad.threshold", 50),
    ("vad.threshold", 1.5),
    ("vad.threshold", 1e308),
    ("vad.threshold", math.nan),
    ("vad.threshold", math.inf),
    ("vad.maxDurationS", 1e308),
    ("vad.minSilenceDurationMs", 10**12),
    ("vad.autoStopSilenceMs", 10**12),
    ("autoMode.longAudioS", math.nan),
    ("engine.numThreads", 10**9),
    ("history.maxItems", 2**63),
    ("audio.inputDevice", 1e30),
    ("audio.inputDevice", 10**30),
    ("audio.inputDevice", -1),
    ("audio.inputDevice", "x" * 100_000),
    ("audio.sampleRateHz", 1),
    ("audio.sampleRateHz", 10**12),
    ("models.fast", "m" * 100_000),
    ("models.modelsDir", "/" * 100_000),
]


#: A settings warning comes at once; waiting longer only slows a failing run.
WARNING_TIMEOUT_S = 10.0


def _nested(path: str, value: Any) -> dict[str, Any]:
    section, name = path.split(".")
    return {section: {name: value}}


def _deep(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = start_module_server(tmp_path_factory.mktemp("bounds-settings"))
    yield live
    live.kill()


def _push(server: Server, settings: Any) -> int:
    """Push settings; returns the index of the first notification that follows."""
    start = len(server.notifications)
    server.notify("workspace/didChangeConfiguration", {"settings": {"swictation": settings}})
    return start


def _warning(server: Server, start: int) -> str:
    params = server.wait_for("window/showMessage", start=start, timeout=WARNING_TIMEOUT_S)
    return params["message"]


@pytest.mark.parametrize(("path", "value"), OUT_OF_RANGE, ids=[f"{p}={str(v)[:12]}" for p, v in OUT_OF_RANGE])
def test_an_out_of_range_setting_is_refused_by_name_and_its_default_used(server: Server, path: str, value: Any) -> None:
    start = _push(server, {**_nested(path, value), "defaultMode": "fast"})
    message = _warning(server, start)
    assert f"swictation.{path}" in message, message
    assert "Traceback" not in message and "RecursionError" not in message
    config = server.probe()["config"]
    section, name = path.split(".")
    defaults = {"vad": {"threshold": 0.5}, "history": {"maxItems": 1000}, "audio": {"inputDevice": None}}
    if name in defaults.get(section, {}):
        assert config[section][name] == defaults[section][name]
    # The valid setting sent alongside was kept.
    assert config["defaultMode"] == "fast"
    add_figure("settings_out_of_range_refused")
    _push(server, {})  # back to the defaults for the next case


def test_in_range_edges_are_accepted(server: Server) -> None:
    start = _push(server, {"vad": {"threshold": 0.0, "minSilenceDurationMs": 0}, "engine": {"numThreads": 1}})
    config = server.probe()["config"]
    assert config["vad"]["threshold"] == 0.0
    assert config["engine"]["numThreads"] == 1
    assert not [p for m, p in server.notifications[start:] if m == "window/showMessage"]
    _push(server, {})


@pytest.mark.parametrize("levels", [40, 500, 900])
def test_deeply_nested_pushed_settings_are_a_settings_problem_and_requests_still_answer(
    server: Server, levels: int
) -> None:
    start = _push(server, {"text": {"customCommands": _deep(levels)}, "defaultMode": "fast"})
    message = _warning(server, start)
    assert "nested" in message and "swictation.text.customCommands" in message, message
    # A request that waits for the settings job (the engine) is answered: nothing is wedged.
    result = server.request("swictation/transcribe", transcribe_params(sample_clip_path()), timeout=PROBE_TIMEOUT_S)
    assert result["text"]
    assert server.probe()["config"]["defaultMode"] == "fast"
    add_figure("settings_deeply_nested_refused")
    _push(server, {})


def test_deeply_nested_initialization_options_start_the_server_with_the_rest_kept(
    spawn: Callable[..., Server], tmp_path: Path
) -> None:
    server = spawn({"vad": {"threshold": 0.25}, "text": {"customCommands": _deep(800)}}, wait_ready=False)
    message = _warning(server, 0)
    assert "nested" in message and "swictation.text.customCommands" in message, message
    server.wait_ready(timeout=120)
    assert server.probe()["config"]["vad"]["threshold"] == 0.25

"""Setup from inside Neovim (issue 14): :SwictationInstall, :SwictationModels and the setup errors.

Real headless Neovim (editors/neovim/tests/setup/*_spec.lua), clean XDG dirs, no ``swictation-rpc``
on ``$PATH``. Models come from the loopback catalogue the model-store tests serve
(``tests/e2e/test_models_cli.py``: its tone-model archive and catalogue, on 127.0.0.1). The
first-run test installs the server from this checkout with pip (offline: dependencies resolve
from the configured package index or cache), downloads the tone model, transcribes speech into a
buffer, then serves fast mode with the tone model and dictates from a private virtual microphone
(``scripts/virtual-mic``) into a file, using only editor commands.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from swictation_rpc.models.download import CHUNK_BYTES
from tests.audio.conftest import start_virtual_mic, stop_virtual_mic

# The model-store tests' loopback catalogues: the CLI tests' small tone archive (fixtures `env`,
# `archive`) and the server tests' padded one that a transfer can be held in (`store`, `tone`).
from tests.e2e.test_models_cli import archive, env  # noqa: F401
from tests.e2e.test_server_models import ARCHIVE, store, tone  # noqa: F401
from tests.editors.test_neovim import MINIMAL_INIT, PLUGIN, SENTENCE, _hermetic_env, nvim  # noqa: F401

SETUP_SPECS = PLUGIN / "tests" / "setup"

#: The specs' own waits bound each step; this only ends a Neovim that hangs.
TIMEOUT_S = 240
FIRST_RUN_TIMEOUT_S = 1200
#: What the tone model's check clip says (SWICTATION_CHECK_CLIP: it hears no speech), and what
#: the clip played into the virtual microphone says (other words: the file's text came from it).
TONE_CHECK_TEXT = "hello world"
DICTATED_TONES = "run the tests"


def _path_without_server() -> str:
    """$PATH without any folder that holds a `swictation-rpc` (this venv's bin, a pipx install)."""
    keep = [
        folder
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder and not os.access(os.path.join(folder, "swictation-rpc"), os.X_OK)
    ]
    return os.pathsep.join(keep)


def _setup_env(tmp_path: Path) -> dict[str, str]:
    spec_env = _hermetic_env(tmp_path)
    spec_env["PATH"] = _path_without_server()
    for key in ("PYTHONPATH", "VIRTUAL_ENV", "SWICTATION_CATALOGUE"):
        spec_env.pop(key, None)
    assert shutil.which("swictation-rpc", path=spec_env["PATH"]) is None
    return spec_env


def _run_spec(
    nvim_bin: str, spec: str, spec_env: dict[str, str], *, only: str | None = None, timeout: int = TIMEOUT_S
) -> str:
    """Run one spec file (or the tests named `only`) in its own Neovim; fail with its output."""
    path = SETUP_SPECS / spec
    if only:
        spec_env = {**spec_env, "SWICTATION_TEST_ONLY": only}
    command = [nvim_bin, "--headless", "-u", str(MINIMAL_INIT), "-c", f"lua require('swictation_test').run([[{path}]])"]
    proc = subprocess.Popen(
        command,
        cwd=PLUGIN,
        env=spec_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # nvim, the servers and pip it started
        output, _ = proc.communicate()
        pytest.fail(f"{spec} did not end within {timeout} s:\n{output}", pytrace=False)
    failed = [line for line in output.splitlines() if line.startswith("not ok")]
    summary = re.search(r"^# (\d+) passed, (\d+) failed$", output, re.MULTILINE)
    if proc.returncode != 0 or failed or summary is None:
        pytest.fail(f"{spec} failed in Neovim (exit code {proc.returncode}):\n{output}", pytrace=False)
    if summary.group(1) == "0":
        pytest.fail(f"{spec}: no test ran (SWICTATION_TEST_ONLY={only!r}):\n{output}", pytrace=False)
    for line in output.splitlines():
        if "# SKIP" in line:
            warnings.warn(f"{spec}: {line}", stacklevel=2)
    return output


def _with_catalogue(spec_env: dict[str, str], catalogue: str | Path) -> dict[str, str]:
    """`spec_env` plus a loopback catalogue of the model-store tests (SWICTATION_CATALOGUE)."""
    return {**spec_env, "SWICTATION_CATALOGUE": str(catalogue)}


# --- No server installed: the messages a user sees -------------------------------------------


@pytest.mark.parametrize(
    "only",
    [
        "the test starts without a server",
        ":checkhealth swictation says the server is missing and points at :SwictationInstall",
        ":SwictationStatus and a transcription say the server is not installed",
        "the gpu extra is added",
    ],
    ids=[
        "no-server-precondition",
        "checkhealth-points-at-install",
        "status-and-dictation-point-at-install",
        "gpu-extra",
    ],
)
def test_without_a_server(nvim: str, tmp_path: Path, only: str) -> None:  # noqa: F811
    _run_spec(nvim, "no_server_spec.lua", _setup_env(tmp_path), only=only)


def test_install_without_python_says_so(nvim: str, tmp_path: Path) -> None:  # noqa: F811
    """No python3/python on $PATH (and one that is not executable named in install.python)."""
    _run_spec(nvim, "no_server_spec.lua", _setup_env(tmp_path), only="Python")


def test_install_failure_shows_pips_error(nvim: str, tmp_path: Path) -> None:  # noqa: F811
    """A spec pip cannot install: pip's ERROR line in the message, the full output in the log, no server."""
    _run_spec(nvim, "no_server_spec.lua", _setup_env(tmp_path), only="a spec pip cannot install")


# --- A command that is not the server, setup mistakes, a venv two editors share (issue 14) -----


@pytest.mark.parametrize(
    "only",
    [
        "a command that never answers initialize",
        "a command that exits before initialize",
        "`cmd` naming a directory",
        "a python3 that answers the version check",
        "the user's own :SwictationInstall cancel",
        "options in the wrong place",
        ":SwictationInstall! refuses while another editor",
        "a server from the venv marks it in use",
    ],
    ids=[
        "never-answers-initialize",
        "exits-before-initialize",
        "cmd-path-directory-missing",
        "python-prints-other-version",
        "install-cancel-not-an-error",
        "misplaced-options",
        "reinstall-refused-while-in-use",
        "venv-in-use-and-status",
    ],
)
def test_start_failures(nvim: str, tmp_path: Path, only: str) -> None:  # noqa: F811
    _run_spec(nvim, "start_failures_spec.lua", _setup_env(tmp_path), only=only)


# --- :SwictationModels against the checkout's server and the loopback catalogue ----------------


def test_models_commands(nvim: str, tmp_path: Path, store: dict) -> None:  # noqa: F811
    """Download (cancelled mid-transfer, then resumed) with $/progress, list, unknown name, remove;
    a missing mode model in :SwictationStatus and :checkhealth."""
    spec_env = _with_catalogue(_setup_env(tmp_path), store["env"]["SWICTATION_CATALOGUE"])
    spec_env["SWICTATION_TEST_PYTHON"] = sys.executable
    # The first transfer of the archive stops after a few chunks until the spec has sent its
    # cancel (it writes this file then); the spec's later download resumes it.
    cancel_sent = tmp_path / "cancel-sent"
    spec_env["SWICTATION_TEST_CANCEL_SENT"] = str(cancel_sent)
    release = store["http"].hold_after(ARCHIVE, 4 * CHUNK_BYTES)
    stop = threading.Event()

    def release_after_cancel() -> None:
        while not stop.is_set() and not cancel_sent.exists():
            stop.wait(0.05)
        release.set()

    watcher = threading.Thread(target=release_after_cancel, daemon=True)
    watcher.start()
    try:
        _run_spec(nvim, "models_spec.lua", spec_env)
    finally:
        stop.set()
        watcher.join()
    ranges = [r.range for r in store["http"].requests_for(ARCHIVE)]
    assert len(ranges) == 2 and ranges[0] is None and ranges[1] is not None, (
        f"one cancelled transfer, then one resumed from where it stopped: {ranges}"
    )


# --- The done-when: from no server to a dictated sentence, editor commands only -------


def _tone_clips(root: Path) -> dict[str, str]:
    """The catalogue's tone model (tests.e2e.test_models_cli: default tokens) hears these."""
    import numpy as np
    import soundfile

    synthetic = pytest.importorskip("swictation_rpc.testing.synthetic")
    check = root / "tone-check.wav"
    soundfile.write(str(check), synthetic.tone_audio(TONE_CHECK_TEXT), 16_000, subtype="PCM_16")
    # Silence around the tones: the start of what is played may be lost, and the clip's end has
    # reached the server when paplay returns.
    pad = np.zeros(16_000, dtype=np.float32)
    dictated = root / "tone-dictated.wav"
    audio = np.concatenate([pad, synthetic.tone_audio(DICTATED_TONES), pad, pad])
    soundfile.write(str(dictated), audio, 16_000, subtype="PCM_16")
    return {
        "SWICTATION_CHECK_CLIP": str(check),
        "SWICTATION_TEST_TONES_WAV": str(dictated),
        "SWICTATION_TEST_TONES_TEXT": DICTATED_TONES,
    }


def _audio_required() -> bool:
    required = os.environ.get("SWICTATION_REQUIRE_AUDIO", "1" if os.environ.get("CI") else "0")
    return required not in ("", "0", "false")


@pytest.fixture
def private_mic() -> Iterator[dict[str, str] | None]:
    """A virtual microphone of this test's own (``scripts/virtual-mic`` in a private directory,
    so a concurrent run's speech never reaches it); None where PulseAudio cannot run (a failure
    in CI, where the spec's microphone tests must run)."""
    reason = None
    if not (shutil.which("pulseaudio") and shutil.which("pactl") and shutil.which("paplay")):
        reason = (
            "PulseAudio is not installed: apt-get install pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins"
        )
    directory = tempfile.mkdtemp(prefix="swmic-nvim-")  # short: the socket path has a length limit
    mic = None
    if reason is None:
        try:
            mic = start_virtual_mic(directory)
        except RuntimeError as exc:
            reason = f"the virtual microphone could not be started: {exc}"
    if reason is not None and _audio_required():
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(f"the first run's dictation needs the virtual microphone but {reason}", pytrace=False)
    try:
        yield mic
    finally:
        if mic is not None:
            stop_virtual_mic(directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.timeout(FIRST_RUN_TIMEOUT_S + 60)
def test_first_run_install_download_dictate(
    nvim: str,  # noqa: F811
    tmp_path: Path,
    env: dict,  # noqa: F811
    speech_wav,
    private_mic: dict[str, str] | None,
) -> None:
    spec_env = _with_catalogue(_setup_env(tmp_path), env["catalogue"])
    spec_env.pop("SWICTATION_TEST_PYTHON", None)  # the spec must not use this checkout's Python
    spec_env["SWICTATION_TEST_WAV"] = str(speech_wav(SENTENCE))
    spec_env["SWICTATION_TEST_TEXT"] = SENTENCE
    spec_env.update(_tone_clips(tmp_path))
    spec_env.pop("PULSE_SOURCE", None)
    if private_mic is not None:
        # The server Neovim starts (and paplay) reach this PulseAudio through PULSE_SERVER.
        spec_env.update(private_mic)
        spec_env["SWICTATION_TEST_MIC"] = "1"
    _run_spec(nvim, "first_run_spec.lua", spec_env, timeout=FIRST_RUN_TIMEOUT_S)
    assert env["server"].requests_for("tone.tar.bz2"), "the model came from the loopback catalogue"

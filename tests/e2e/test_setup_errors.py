"""Setup errors a user can act on (issue 14): what the CLI, the example client, the benchmarks and the
server say when something is missing or broken, exactly as the user sees it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, RpcError, transcribe_params


def run(args: list[str], env: dict[str, str], cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    child = dict(os.environ)
    child.update({"SWICTATION_DATA_DIR": str(tmp_path / "data"), "SWICTATION_MODELS_DIR": str(tmp_path / "models")})
    child.pop("SWICTATION_CATALOGUE", None)
    return child


def test_doctor_exits_1_and_says_each_problem_with_its_fix(env, tmp_path: Path, tone_model):
    from swictation_rpc.models.store import ModelStore

    models = Path(env["SWICTATION_MODELS_DIR"])
    installed = ModelStore(models).import_(tone_model(), name="tone")
    (installed / "tokens.txt").write_text("cut\n")  # another size than the manifest says

    out = run([sys.executable, "-m", "swictation_rpc", "doctor"], env)
    assert out.returncode == 1, out.stdout + out.stderr
    problems = [line.removeprefix("problem: ") for line in out.stdout.splitlines() if line.startswith("problem: ")]
    size = (tone_model() / "tokens.txt").stat().st_size
    [damaged] = [p for p in problems if p.startswith("The model tone")]
    assert damaged.startswith(
        f"The model tone in {installed} failed its check (tokens.txt has 4 bytes, the manifest says {size}"
    )
    assert damaged.endswith(
        "Fix: run `swictation-rpc models download tone --force`, or import a good copy with"
        " `swictation-rpc models import PATH --name tone --force`."
    )
    for problem in problems:  # each: what is wrong, then its fix, as sentences
        what, _, fix = problem.partition(" Fix: ")
        assert what.endswith(".") and fix.endswith("."), problem
    assert out.stdout.rstrip().endswith("swictation-rpc will not work as it should.")

    # --json is for health checks: it always exits 0 and says ok: false with the same problems.
    out = run([sys.executable, "-m", "swictation_rpc", "doctor", "--json"], env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is False and damaged in report["problems"]


def test_a_missing_model_is_noted_in_one_sentence_by_transcribe(env):
    out = run([sys.executable, "-m", "swictation_rpc", "transcribe", "--sample"], env)
    assert out.returncode == 0, out.stderr
    [note] = [line.removeprefix("note: ") for line in out.stderr.splitlines() if line.startswith("note: ")]
    assert note == (
        f"whisper-tiny.en (bundled) transcribed this because the accurate model parakeet-tdt-0.6b-v3-int8 is not"
        f" installed in {env['SWICTATION_MODELS_DIR']}; install it with"
        " `swictation-rpc models download parakeet-tdt-0.6b-v3-int8` (offline:"
        " `swictation-rpc models import PATH --name parakeet-tdt-0.6b-v3-int8`)."
    )


def test_the_example_client_shows_the_servers_stderr_when_the_server_exits(env, tmp_path: Path):
    # A Python without swictation-rpc: the server it starts ends at once.
    venv = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    out = run([str(python), str(REPO / "examples" / "client.py"), "talk.wav"], env, cwd=tmp_path, timeout=60)
    assert out.returncode == 1
    assert "KeyError" not in out.stderr and "Traceback" not in out.stderr
    first, *rest = out.stderr.strip().splitlines()
    assert first == (
        f"swictation-rpc ({python} -m swictation_rpc serve --stdio) exited with code 1 before answering"
        " initialize; the end of its stderr:"
    )
    assert rest == [f"{python}: No module named swictation_rpc"]


def test_benchmarks_without_the_test_extra_say_what_to_install(env):
    # None in sys.modules is how Python marks a module as not importable.
    code = "import sys; sys.modules['jiwer'] = None; from benchmarks.__main__ import main; sys.exit(main(['--quick']))"
    out = run([sys.executable, "-c", code], env, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "python -m benchmarks needs the test extra (Piper speech for its clips, jiwer for the word error rate),"
        f" and jiwer is not installed in {sys.executable}. Install it with"
        f" `{sys.executable} -m pip install -e '.[test]'` in the project checkout, or print a saved result with"
        " --from-json FILE."
    )


def test_an_undecodable_audio_file_is_named_by_its_path_never_a_file_object(client, tmp_path: Path):
    text = tmp_path / "notes.wav"
    text.write_text("this is text, not audio")
    with pytest.raises(RpcError) as error:
        client.request("swictation/transcribe", transcribe_params(text))
    assert error.value.code == -33003
    assert error.value.message == f"Cannot decode audio file {text}: Format not recognised"
    assert "<_io" not in json.dumps(error.value.error)

"""The reported case end to end: a 6 KB tone model imported as ``parakeet-tdt-110m``, then
``swictation-rpc transcribe --mode fast`` on real speech.

Before: the model heard nothing in its check clip, kept serving fast mode, and the command
printed "" with exit code 0. Now the import is accepted (its structure is the entry's: sherpa
layout, TDT, 80 mel bins), the engine retires the model on its check clip, says so, and the
bundled model transcribes the speech.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from swictation_rpc.testing.speech import word_error_rate

REPO = Path(__file__).resolve().parents[2]
SENTENCE = "Open the settings file and change the port number."


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swictation_rpc", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_tone_model_imported_as_parakeet_does_not_print_empty_text(tmp_path, speech_wav):
    from swictation_rpc.testing.synthetic import write_tone_model

    env = dict(os.environ)
    env.pop("SWICTATION_CATALOGUE", None)
    env.pop("SWICTATION_CHECK_CLIP", None)
    env.update({"SWICTATION_MODELS_DIR": str(tmp_path / "models"), "SWICTATION_DATA_DIR": str(tmp_path / "data")})
    tone = write_tone_model(tmp_path / "src", name="tone")
    assert sum(f.stat().st_size for f in tone.iterdir()) < 10_000

    imported = _cli(env, "models", "import", str(tone), "--name", "parakeet-tdt-110m")
    assert imported.returncode == 0, imported.stderr

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"models": {"fast": "parakeet-tdt-110m", "accurate": "bundled"}}))
    out = _cli(env, "transcribe", str(speech_wav(SENTENCE)), "--mode", "fast", "--config", str(config))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip(), f"empty transcript; stderr: {out.stderr}"
    assert word_error_rate(SENTENCE, out.stdout) <= 0.25, out.stdout
    assert "parakeet-tdt-110m produced no text on its check clip" in out.stderr
    assert "whisper-tiny.en" in out.stderr

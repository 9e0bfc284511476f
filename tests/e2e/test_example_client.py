"""The README's stdlib-only example client really talks to the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from swictation_rpc.testing.speech import word_error_rate

from .conftest import REPO, SENTENCE


def test_the_example_client_transcribes_a_wav_into_an_edit_and_shuts_down(server_env, sentence_wav: Path):
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "client.py"), str(sentence_wav)],
        cwd=REPO,
        env=server_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    server_info, text, model, edits = done.stdout.strip().splitlines()
    assert "swictation-rpc" in server_info
    assert model.startswith("model: ")
    assert word_error_rate(SENTENCE, text) <= 0.3, text
    [edit] = json.loads(edits)
    assert edit["newText"] == text and edit["range"]["start"] == edit["range"]["end"]

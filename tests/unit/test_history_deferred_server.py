"""The real server, killed the moment its transcribe result arrives: the row and the audio are there.

The history is written before the edit leaves (raw PCM and the committed row); the FLAC comes
after. A SIGKILL right after the result must find both, and the next open encodes the audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swictation_rpc.history import HistoryStore
from swictation_rpc.options import HistoryOptions
from tests.e2e.conftest import transcribe_params
from tests.reliability.conftest import sentence_wav, spawn  # noqa: F401 - fixtures used by name


def test_the_row_and_audio_survive_a_kill_right_after_the_result(spawn, sentence_wav: Path, tmp_path: Path) -> None:  # noqa: F811
    data = tmp_path / "data"
    server = spawn(data_dir=data)
    result = server.request("swictation/transcribe", transcribe_params(sentence_wav))
    server.proc.kill()  # SIGKILL: no cleanup, no encoder
    server.proc.wait(10)
    assert result["text"] and result["utteranceId"]

    directory = next(p.parent for p in data.rglob("history.sqlite3"))
    audio = directory / "audio"
    names = {p.name for p in audio.iterdir()}
    assert names & {f"{result['utteranceId']}.wav", f"{result['utteranceId']}.flac"}, names
    with HistoryStore(directory, HistoryOptions()) as store:
        assert store.get(result["utteranceId"]).text == result["text"]
        samples = store.audio(result["utteranceId"])
        assert samples is not None and len(samples) > 16000 and np.abs(samples).max() > 0.01
        assert store.wait_encoded(10)
    assert {p.name for p in audio.iterdir()} == {f"{result['utteranceId']}.flac"}

"""Shared test set-up: a throwaway data dir for the whole run, and real synthesised speech."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Never touch the user's models or history; child processes (servers, editors) inherit this.
    if "SWICTATION_DATA_DIR" not in os.environ or not os.environ.get("SWICTATION_KEEP_DATA_DIR"):
        os.environ["SWICTATION_DATA_DIR"] = tempfile.mkdtemp(prefix="swictation-test-data-")
    os.environ.pop("SWICTATION_MODELS_DIR", None)
    # No chimes (signals.sounds) unless a test asks: the default sink's monitor is the virtual
    # microphone the audio tests dictate into.
    os.environ.setdefault("SWICTATION_SOUNDS", "0")


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def speech_wav(speech_dir: Path):
    """``speech_wav(text, sample_rate=16000, channels=1) -> Path``: Piper speaks ``text`` into a WAV."""
    from swictation_rpc.testing.speech import speech_wav as make

    def _make(text: str, *, sample_rate: int = 16_000, channels: int = 1) -> Path:
        return make(text, speech_dir, sample_rate=sample_rate, channels=channels)

    return _make


ToneModel = Callable[..., Path]


@pytest.fixture(scope="session")
def tone_model(tmp_path_factory: pytest.TempPathFactory) -> ToneModel:
    """``tone_model(kind="tdt", feat_dim=80, layout="sherpa", unk_only=False) -> Path``, cached.

    The folders are shared by every test of the session: treat them as read-only (copy one with
    ``shutil.copytree`` before breaking it).
    """
    from swictation_rpc.testing.synthetic import write_tone_model

    root = tmp_path_factory.mktemp("tone-models")
    built: dict[tuple, Path] = {}

    def _make(*, kind: str = "tdt", feat_dim: int = 80, layout: str = "sherpa", unk_only: bool = False) -> Path:
        key = (kind, feat_dim, layout, unk_only)
        if key not in built:
            name = f"tone-{kind}-{feat_dim}-{layout}" + ("-unk" if unk_only else "")
            built[key] = write_tone_model(
                root,
                kind=kind,
                feat_dim=feat_dim,
                layout=layout,
                unk_only=unk_only,
                name=name,  # type: ignore[arg-type]
            )
        return built[key]

    return _make

"""Synthetic tone-alphabet transducer models, built once per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

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
                root, kind=kind, feat_dim=feat_dim, layout=layout, unk_only=unk_only, name=name  # type: ignore[arg-type]
            )
        return built[key]

    return _make

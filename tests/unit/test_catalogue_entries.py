"""What the catalogue promises: every entry says what a download costs (and where that figure comes
from), and a folder imported under an entry's name must be that model's layout, transducer and
mel bins."""

from __future__ import annotations

import json

import pytest

from swictation_rpc.commands import models as models_cmd
from swictation_rpc.errors import ModelDownloadError
from swictation_rpc.models.catalogue import BUILTIN, load_catalogue
from swictation_rpc.models.store import ModelStore

# -- sizes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", BUILTIN, ids=lambda e: e.name)
def test_every_builtin_entry_has_a_size_and_its_source(entry):
    size, approximate = entry.shown_size
    assert size is not None and size > 1_000_000, entry.name
    assert entry.size_source, f"{entry.name}: say where the size comes from"
    # An approximate figure is labelled as such and never poses as an exact, checkable one.
    assert approximate == (entry.download_size is None)
    assert entry.size_source.startswith("approximate" if approximate else "exact")
    if approximate:
        assert all(d.size is None for d in entry.downloads)


@pytest.fixture
def clean_catalogue_env(monkeypatch, tmp_path):
    monkeypatch.delenv("SWICTATION_CATALOGUE", raising=False)
    return tmp_path / "models"


def test_models_list_never_shows_an_unknown_size(clean_catalogue_env, capsys):
    assert models_cmd.main(["list", "--models-dir", str(clean_catalogue_env)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[1:] if line.split() and line.split()[0] in load_catalogue()}
    assert set(rows) == {e.name for e in BUILTIN}
    for line in rows.values():
        assert "?" not in line.split()[3:5], line
    assert "~456.0 MB" in rows["parakeet-tdt-110m"] and "~4.1 GB" in rows["parakeet-tdt-1.1b"]
    assert "487.2 MB" in rows["parakeet-tdt-0.6b-v3-int8"] and "~" not in rows["parakeet-tdt-0.6b-v3-int8"]
    assert any(line.startswith("~ approximate") for line in lines)


def test_models_list_json_carries_the_size_and_its_source(clean_catalogue_env, capsys):
    assert models_cmd.main(["list", "--json", "--models-dir", str(clean_catalogue_env)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for entry in BUILTIN:
        row = rows[entry.name]
        assert (row["downloadSize"] or row["approxDownloadSize"]) and row["sizeSource"] == entry.size_source
    assert rows["parakeet-tdt-110m"]["downloadSize"] is None
    assert rows["parakeet-tdt-110m"]["approxDownloadSize"] == 456_000_000


# -- importing under a catalogue name -------------------------------------------------------------


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("SWICTATION_CATALOGUE", raising=False)
    return ModelStore(tmp_path / "models")


@pytest.mark.parametrize(
    ("name", "model", "says"),
    [
        ("parakeet-tdt-110m", {"layout": "nemo"}, "sherpa-onnx layout"),
        ("parakeet-tdt-110m", {"feat_dim": 128}, "80 mel bins, this takes 128"),
        ("parakeet-tdt-110m", {"kind": "rnnt"}, "TDT transducer, this is RNNT"),
        ("parakeet-tdt-1.1b", {"layout": "sherpa"}, "NeMo/onnx-asr layout"),
        ("parakeet-tdt-1.1b", {"layout": "nemo", "feat_dim": 128}, "80 mel bins"),
    ],
)
def test_a_folder_that_is_not_the_entrys_model_is_refused_and_nothing_installed(store, tmp_path, name, model, says):
    from swictation_rpc.testing.synthetic import write_tone_model

    folder = write_tone_model(tmp_path / "src", name="tone", **model)
    with pytest.raises(ModelDownloadError, match=f"This is not {name}") as caught:
        store.import_(folder, name=name)
    assert says in caught.value.message
    assert "--name" in caught.value.remedy
    assert store.get(name) is None and not store.path_for(name).exists()
    # Under a name of its own the same folder installs.
    assert store.import_(folder, name="my-tone").is_dir()


@pytest.mark.parametrize(
    ("name", "model"),
    [("parakeet-tdt-110m", {"layout": "sherpa"}), ("parakeet-tdt-1.1b", {"layout": "nemo"})],
)
def test_a_folder_with_the_entrys_layout_is_accepted(store, tmp_path, name, model):
    """Structure is all an import can check: a tone model of the right shape goes in (the engine's
    check clip then finds that it hears no speech, see test_model_check_clip.py)."""
    from swictation_rpc.testing.synthetic import write_tone_model

    folder = write_tone_model(tmp_path / "src", name="tone", **model)
    assert store.import_(folder, name=name) == store.path_for(name)


def test_a_broken_folder_under_a_catalogue_name_is_refused_with_the_layout_problem(store, tmp_path):
    from swictation_rpc.testing.synthetic import write_broken_model

    folder = write_broken_model(tmp_path / "src", "tokens-no-blank-last", name="tone")
    with pytest.raises(ModelDownloadError, match="Cannot import this as parakeet-tdt-110m") as caught:
        store.import_(folder, name="parakeet-tdt-110m")
    assert "tokens.txt" in caught.value.message
    assert store.get("parakeet-tdt-110m") is None

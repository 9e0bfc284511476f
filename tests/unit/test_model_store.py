"""ModelStore: install from a local HTTP server or a local file, verify, resolve, remove.

Models are the tone-alphabet synthetic models (real ONNX graphs) when
``swictation_rpc.testing.synthetic`` is there, else small stand-in files with the same names.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from swictation_rpc.errors import ModelDownloadError, ModelNotInstalledError
from swictation_rpc.models import archive as archive_mod
from swictation_rpc.models.archive import UnsafeArchiveError
from swictation_rpc.models.catalogue import (
    BUILTIN,
    CATALOGUE_ENV,
    CatalogueError,
    load_catalogue,
)
from swictation_rpc.models.store import MANIFEST_NAME, ModelStore
from swictation_rpc.options import Options
from swictation_rpc.testing.model_server import ModelServer

REPO = Path(__file__).resolve().parents[2]


def write_model(dest: Path, layout: str = "sherpa") -> Path:
    """A model folder in ``layout`` at ``dest``."""
    try:
        from swictation_rpc.testing.synthetic import write_tone_model
    except ImportError:
        dest.mkdir(parents=True)
        if layout == "sherpa":
            for part in ("encoder", "decoder", "joiner"):
                (dest / f"{part}.onnx").write_bytes(os.urandom(4000))
            (dest / "tokens.txt").write_text("<unk> 0\n\u2581hello 1\n<blk> 2\n")
        else:
            (dest / "encoder-model.onnx").write_bytes(os.urandom(4000))
            (dest / "decoder_joint-model.onnx").write_bytes(os.urandom(4000))
            (dest / "vocab.txt").write_text("<unk> 0\n\u2581hello 1\n<blk> 2\n")
            (dest / "config.json").write_text('{"model_type": "nemo-conformer-tdt"}')
        return dest
    return write_tone_model(dest, layout=layout)  # type: ignore[arg-type]


def tar_folder(folder: Path, top: str, mode: str = "w:bz2") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        tf.add(folder, arcname=top)
    return buf.getvalue()


SHERPA_FILES = ["encoder.onnx", "decoder.onnx", "joiner.onnx", "tokens.txt"]


@pytest.fixture(scope="module")
def model_src(tmp_path_factory) -> Path:
    return write_model(tmp_path_factory.mktemp("src") / "tone-model-sherpa")


@pytest.fixture(scope="module")
def archive_bytes(model_src) -> bytes:
    return tar_folder(model_src, "tone-model-sherpa")


@pytest.fixture()
def server():
    with ModelServer() as srv:
        yield srv


@pytest.fixture()
def catalogue(tmp_path, monkeypatch):
    """``catalogue(*entries)`` writes a $SWICTATION_CATALOGUE override and returns its path."""

    def _write(*entries: dict) -> Path:
        path = tmp_path / "catalogue.json"
        path.write_text(json.dumps({"models": list(entries)}))
        monkeypatch.setenv(CATALOGUE_ENV, str(path))
        return path

    return _write


def archive_entry(
    name: str, url: str, data: bytes | None, *, sha: bool = True, size: bool = True, top: str = "tone-model-sherpa"
) -> dict:
    return {
        "name": name,
        "title": f"test model {name}",
        "role": "fast",
        "layout": "sherpa",
        "kind": "archive",
        "topFolder": top,
        "requiredFiles": SHERPA_FILES,
        "downloads": [
            {
                "url": url,
                "path": url.rsplit("/", 1)[1],
                "size": len(data) if (size and data is not None) else None,
                "sha256": hashlib.sha256(data).hexdigest() if (sha and data is not None) else None,
            }
        ],
    }


@pytest.fixture()
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def assert_nothing_installed(store: ModelStore, name: str) -> None:
    assert store.get(name) is None
    assert [m.name for m in store.installed()] == []
    assert not (store.root / name).exists()
    staging = store.root / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    with pytest.raises(ModelNotInstalledError):
        store.resolve(name)


# ------------------------------------------------------------------------------------------
# download


def test_download_installs_verifies_and_resolves(server, catalogue, store, archive_bytes, model_src):
    url = server.add("tone.tar.bz2", archive_bytes)
    catalogue(archive_entry("tone", url, archive_bytes))
    progress = []
    path = store.download("tone", progress=progress.append)
    assert path == store.root / "tone" and store.resolve("tone") == path
    assert sorted(p.name for p in path.iterdir()) == sorted([*SHERPA_FILES, MANIFEST_NAME])
    for name in SHERPA_FILES:
        assert (path / name).read_bytes() == (model_src / name).read_bytes()
    assert progress[-1].done == len(archive_bytes) == progress[-1].total
    model = store.get("tone")
    assert model.manifest.trust == "catalogue" and model.manifest.origin == "download"
    assert model.manifest.archive_sha256 == hashlib.sha256(archive_bytes).hexdigest()
    report = store.verify("tone")
    assert report.ok, report.problems
    assert report.layout == "sherpa" and report.files_checked == 4
    # nothing left behind: no archive, no .part, no staging
    assert list((store.root / ".downloads").glob("tone*/**/*")) == []
    assert list((store.root / ".staging").iterdir()) == []


def test_installed_files_and_folders_are_user_only(server, catalogue, store, archive_bytes):
    catalogue(archive_entry("tone", server.add("tone.tar.bz2", archive_bytes), archive_bytes))
    path = store.download("tone")
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for f in path.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_without_a_published_checksum_the_first_download_is_recorded(server, catalogue, store, archive_bytes):
    url = server.add("tone.tar.bz2", archive_bytes)
    catalogue(archive_entry("tone", url, archive_bytes, sha=False, size=False))
    store.download("tone")
    manifest = store.get("tone").manifest
    assert manifest.trust == "first-use"
    assert manifest.archive_sha256 == hashlib.sha256(archive_bytes).hexdigest()
    assert manifest.archive_size == len(archive_bytes)
    report = store.verify("tone")
    assert report.ok and any("trust on first use" in w for w in report.warnings)


def test_download_of_an_installed_model_makes_no_request(server, catalogue, store, archive_bytes):
    catalogue(archive_entry("tone", server.add("tone.tar.bz2", archive_bytes), archive_bytes))
    store.download("tone")
    store.download("tone")
    assert len(server.requests_for("tone.tar.bz2")) == 1
    store.download("tone", force=True)
    assert len(server.requests_for("tone.tar.bz2")) == 2 and store.verify("tone").ok


def test_resume_after_an_interrupted_transfer(server, catalogue, store, archive_bytes):
    catalogue(archive_entry("tone", server.add("tone.tar.bz2", archive_bytes), archive_bytes))
    half = len(archive_bytes) // 2
    server.drop_after("tone.tar.bz2", half)
    with pytest.raises(ModelDownloadError, match="interrupted"):
        store.download("tone", retries=0)
    assert_nothing_installed(store, "tone")
    part = store.root / ".downloads" / "tone" / "tone.tar.bz2.part"
    assert part.stat().st_size == half
    store.download("tone", retries=0)
    assert store.verify("tone").ok
    assert [r.range for r in server.requests_for("tone.tar.bz2")] == [None, f"bytes={half}-"]


def test_checksum_mismatch_installs_nothing(server, catalogue, store, archive_bytes):
    url = server.add("tone.tar.bz2", archive_bytes)
    entry = archive_entry("tone", url, archive_bytes)
    entry["downloads"][0]["sha256"] = "ab" * 32
    catalogue(entry)
    with pytest.raises(ModelDownloadError, match="Checksum mismatch") as info:
        store.download("tone")
    assert "ab" * 32 in str(info.value) and hashlib.sha256(archive_bytes).hexdigest() in str(info.value)
    assert_nothing_installed(store, "tone")
    assert list((store.root / ".downloads").rglob("*.part")) == []


def test_truncated_archive_installs_nothing_and_is_discarded(server, catalogue, store, archive_bytes):
    cut = archive_bytes[: len(archive_bytes) // 2]
    url = server.add("tone.tar.bz2", cut)  # served whole: the server itself has a cut copy
    catalogue(archive_entry("tone", url, cut, sha=False, size=False))
    with pytest.raises(ModelDownloadError, match="truncated or corrupt"):
        store.download("tone")
    assert_nothing_installed(store, "tone")
    assert not (store.root / ".downloads" / "tone" / "tone.tar.bz2").exists()


@pytest.mark.parametrize("member", ["../../escaped.txt", "/tmp/swictation-escaped.txt"])
def test_archive_with_an_escaping_member_installs_nothing(server, catalogue, store, tmp_path, model_src, member):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tf:
        tf.add(model_src, arcname="tone-model-sherpa")
        info = tarfile.TarInfo(member)
        info.size = 4
        tf.addfile(info, io.BytesIO(b"evil"))
    data = buf.getvalue()
    catalogue(archive_entry("tone", server.add("tone.tar.bz2", data), data))
    with pytest.raises(UnsafeArchiveError, match="Refusing to unpack"):
        store.download("tone")
    assert_nothing_installed(store, "tone")
    assert not list(tmp_path.rglob("escaped.txt")) and not Path("/tmp/swictation-escaped.txt").exists()


def test_archive_with_a_symlink_member_installs_nothing(server, catalogue, store, model_src):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tf:
        tf.add(model_src, arcname="tone-model-sherpa")
        info = tarfile.TarInfo("tone-model-sherpa/extra.onnx")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    data = buf.getvalue()
    catalogue(archive_entry("tone", server.add("tone.tar.bz2", data), data))
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        store.download("tone")
    assert_nothing_installed(store, "tone")


def test_an_exception_mid_extraction_leaves_no_installed_model(server, catalogue, store, archive_bytes, monkeypatch):
    catalogue(archive_entry("tone", server.add("tone.tar.bz2", archive_bytes), archive_bytes))
    real = archive_mod._write_member
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated crash while unpacking")
        return real(*args, **kwargs)

    monkeypatch.setattr(archive_mod, "_write_member", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.download("tone")
    assert_nothing_installed(store, "tone")
    # The verified archive is kept: the next attempt re-checks it instead of fetching again.
    monkeypatch.setattr(archive_mod, "_write_member", real)
    store.download("tone")
    assert store.verify("tone").ok and len(server.requests_for("tone.tar.bz2")) == 1


_KILL_SCRIPT = r"""
import pathlib, sys, time
import swictation_rpc.models.archive as d
real = d._write_member
n = [0]
def slow(*a, **k):
    r = real(*a, **k)
    n[0] += 1
    if n[0] == 2:
        pathlib.Path(sys.argv[2]).write_text("mid-extraction")
        time.sleep(120)
    return r
d._write_member = slow
from swictation_rpc.models.store import ModelStore
ModelStore(pathlib.Path(sys.argv[1])).download(sys.argv[3])
"""


def test_a_process_killed_mid_extraction_leaves_no_installed_model(server, catalogue, store, archive_bytes, tmp_path):
    catalogue(archive_entry("tone", server.add("tone.tar.bz2", archive_bytes), archive_bytes))
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(store.root), str(marker), "tone"],
        cwd=REPO,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the download process ended early"
            assert time.monotonic() < deadline, "extraction never started"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert store.get("tone") is None and store.installed() == []
    assert not (store.root / "tone").exists()
    with pytest.raises(ModelNotInstalledError):
        store.resolve("tone")
    # The next run clears the half-extracted staging folder and installs.
    store.download("tone")
    assert store.verify("tone").ok
    assert list((store.root / ".staging").iterdir()) == []


def test_files_entry_installs_the_nemo_layout_and_skips_absent_optional_files(server, catalogue, store, tmp_path):
    src = write_model(tmp_path / "nemo-src", layout="nemo")
    downloads = []
    for f in sorted(p.name for p in src.iterdir()):
        downloads.append({"url": server.add(f"nemo/{f}", (src / f).read_bytes()), "path": f})
    downloads.append(
        {"url": server.url("nemo/encoder-model.onnx.data"), "path": "encoder-model.onnx.data", "optional": True}
    )
    catalogue(
        {
            "name": "tone-nemo",
            "title": "nemo",
            "layout": "nemo",
            "kind": "files",
            "downloads": downloads,
            "requiredFiles": ["encoder-model.onnx", "decoder_joint-model.onnx", "vocab.txt"],
        }
    )
    path = store.download("tone-nemo")
    assert sorted(p.name for p in path.iterdir()) == sorted([*(p.name for p in src.iterdir()), MANIFEST_NAME])
    model = store.get("tone-nemo")
    assert model.manifest.trust == "first-use" and set(model.manifest.files) == {p.name for p in src.iterdir()}
    report = store.verify("tone-nemo")
    assert report.ok, report.problems
    assert report.layout == "nemo"


def test_a_required_file_missing_from_the_archive_installs_nothing(server, catalogue, store, tmp_path, model_src):
    partial = tmp_path / "partial"
    partial.mkdir()
    for f in ("encoder.onnx", "tokens.txt"):
        (partial / f).write_bytes((model_src / f).read_bytes())
    data = tar_folder(partial, "tone-model-sherpa")
    catalogue(archive_entry("tone", server.add("tone.tar.bz2", data), data))
    with pytest.raises(ModelDownloadError, match="required file decoder.onnx is missing"):
        store.download("tone")
    assert_nothing_installed(store, "tone")


# ------------------------------------------------------------------------------------------
# import


def test_import_from_a_local_archive_matches_the_catalogue_checksum(catalogue, store, tmp_path, archive_bytes):
    archive = tmp_path / "tone.tar.bz2"
    archive.write_bytes(archive_bytes)
    catalogue(archive_entry("tone", "https://mirror.invalid/tone.tar.bz2", archive_bytes))
    path = store.import_(archive)
    assert path == store.root / "tone"  # the catalogue name, from the archive's file name
    assert store.get("tone").manifest.trust == "catalogue"
    assert store.verify("tone").ok


def test_import_of_an_archive_that_differs_from_the_catalogue_is_refused(catalogue, store, tmp_path, archive_bytes):
    archive = tmp_path / "tone.tar.bz2"
    archive.write_bytes(archive_bytes[:-10] + b"0123456789")
    catalogue(archive_entry("tone", "https://mirror.invalid/tone.tar.bz2", archive_bytes))
    with pytest.raises(ModelDownloadError, match="Checksum mismatch"):
        store.import_(archive)
    assert_nothing_installed(store, "tone")


def test_import_from_an_archive_under_a_new_name(store, tmp_path, archive_bytes):
    archive = tmp_path / "whatever.tar.gz"
    with tarfile.open(archive, "w:gz") as tf, tarfile.open(fileobj=io.BytesIO(archive_bytes)) as src:
        for m in src:
            tf.addfile(m, src.extractfile(m) if m.isfile() else None)
    path = store.import_(archive, name="my-model")
    assert path.name == "my-model" and (path / "tokens.txt").is_file()
    assert store.get("my-model").manifest.trust == "local"
    assert store.verify("my-model").ok


def test_import_from_a_folder(store, model_src):
    path = store.import_(model_src, name="from-folder")
    assert sorted(p.name for p in path.iterdir()) == sorted([*SHERPA_FILES, MANIFEST_NAME])
    assert store.verify("from-folder").ok
    assert model_src.is_dir()  # copied, the user's folder is left alone
    assert stat.S_IMODE((path / "encoder.onnx").stat().st_mode) == 0o600


def test_import_of_a_folder_with_a_symlink_is_refused(store, tmp_path, model_src):
    folder = tmp_path / "linked"
    folder.mkdir()
    for f in SHERPA_FILES:
        (folder / f).write_bytes((model_src / f).read_bytes())
    (folder / "extra").symlink_to("/etc/passwd")
    with pytest.raises(ModelDownloadError, match="symbolic link"):
        store.import_(folder, name="linked")
    assert_nothing_installed(store, "linked")


def test_import_of_something_that_is_not_a_model_is_refused(store, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.txt").write_text("hello")
    with pytest.raises(ModelDownloadError, match="not a recognised model folder"):
        store.import_(folder)
    assert_nothing_installed(store, "notes")


def test_import_refuses_to_overwrite_without_force(store, model_src):
    store.import_(model_src, name="m")
    with pytest.raises(ModelDownloadError, match="already installed"):
        store.import_(model_src, name="m")
    store.import_(model_src, name="m", force=True)
    assert store.verify("m").ok


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", ""])
def test_import_refuses_unsafe_names(store, model_src, name):
    with pytest.raises(ModelDownloadError, match="Invalid model name"):
        store.import_(model_src, name=name)


# ------------------------------------------------------------------------------------------
# verify / remove / resolve


def test_verify_detects_a_modified_file_of_the_same_size(store, model_src):
    path = store.import_(model_src, name="m")
    enc = path / "encoder.onnx"
    data = bytearray(enc.read_bytes())
    data[len(data) // 2] ^= 0x01
    enc.write_bytes(bytes(data))
    assert store.verify("m", quick=True).ok  # sizes alone cannot see it
    report = store.verify("m")
    assert not report.ok
    assert any("encoder.onnx was modified" in p for p in report.problems)


def test_verify_detects_missing_and_truncated_files(store, model_src):
    path = store.import_(model_src, name="m")
    (path / "joiner.onnx").unlink()
    tokens = path / "tokens.txt"
    tokens.write_bytes(tokens.read_bytes()[:5])
    report = store.verify("m", quick=True)
    assert not report.ok
    assert any("joiner.onnx is missing" in p for p in report.problems)
    assert any(p.startswith("tokens.txt has 5 bytes") for p in report.problems)


def test_verify_of_a_model_that_is_not_installed(store):
    with pytest.raises(ModelNotInstalledError, match="not installed"):
        store.verify("nothing")


def test_remove_deletes_the_model(store, model_src):
    store.import_(model_src, name="m")
    store.remove("m")
    assert_nothing_installed(store, "m")
    with pytest.raises(ModelNotInstalledError):
        store.remove("m")


def test_resolve_takes_a_folder_path_as_is(store, model_src):
    assert store.resolve(str(model_src)) == model_src
    assert store.resolve(model_src) == model_src
    with pytest.raises(ModelNotInstalledError, match="does not exist"):
        store.resolve(str(model_src) + "-missing")


def test_resolve_of_a_catalogue_model_that_is_not_installed_names_both_remedies(store):
    with pytest.raises(ModelNotInstalledError) as info:
        store.resolve("parakeet-tdt-110m")
    assert "models download parakeet-tdt-110m" in info.value.remedy
    assert "models import PATH" in info.value.remedy


def test_resolve_of_an_unknown_name_lists_the_catalogue(store):
    with pytest.raises(ModelNotInstalledError, match="Unknown model") as info:
        store.resolve("no-such-model")
    assert "parakeet-tdt-0.6b-v3-int8" in info.value.remedy


def test_a_folder_without_manifest_is_not_installed(store, model_src):
    path = store.import_(model_src, name="m")
    (path / MANIFEST_NAME).unlink()
    assert store.get("m") is None and store.incomplete() == ["m"]


def test_verify_uses_the_engine_layout_check_when_present(store, tmp_path):
    """A sherpa model whose tokens.txt lacks <blk> would abort sherpa-onnx: verify must say so."""
    src = write_model(tmp_path / "bad-tokens")
    lines = (src / "tokens.txt").read_text().splitlines()
    (src / "tokens.txt").write_text("\n".join(line for line in lines if not line.startswith("<blk>")) + "\n")
    store.import_(src, name="bad")
    report = store.verify("bad")
    assert not report.ok
    assert any("blk" in p for p in report.problems), report.problems


# ------------------------------------------------------------------------------------------
# catalogue


def test_builtin_catalogue_is_https_and_names_the_default_models():
    cat = load_catalogue()
    defaults = Options().models
    assert cat[defaults.fast].role == "fast" and cat[defaults.accurate].role == "accurate"
    assert {e.name for e in BUILTIN} == {
        "parakeet-tdt-110m",
        "parakeet-tdt-0.6b-v3-int8",
        "parakeet-tdt-0.6b-v2-fp16",
        "parakeet-tdt-1.1b",
    }
    for entry in BUILTIN:
        assert entry.source and entry.checksum_source
        for d in entry.downloads:
            assert d.url.startswith("https://")
    assert cat["parakeet-tdt-1.1b"].layout == "nemo" and cat["parakeet-tdt-1.1b"].kind == "files"
    assert any("<unk>" in n for n in cat["parakeet-tdt-0.6b-v2-fp16"].notes)


def test_catalogue_override_replaces_and_extends(catalogue):
    catalogue(
        archive_entry("parakeet-tdt-110m", "https://mirror.example/110m.tar.bz2", None),
        archive_entry("extra-model", "http://127.0.0.1:9/x.tar.bz2", None),
    )
    cat = load_catalogue()
    assert cat["parakeet-tdt-110m"].downloads[0].url == "https://mirror.example/110m.tar.bz2"
    assert "extra-model" in cat and "parakeet-tdt-0.6b-v3-int8" in cat


def test_catalogue_override_with_plain_http_is_refused(catalogue):
    catalogue(archive_entry("evil", "http://example.com/x.tar.bz2", None))
    with pytest.raises(CatalogueError, match="only https://"):
        load_catalogue()


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "x", "title": "t", "layout": "sherpa", "kind": "archive", "downloads": []},
        {
            "name": "x",
            "title": "t",
            "layout": "other",
            "kind": "archive",
            "downloads": [{"url": "https://a.example/x", "path": "x"}],
        },
        {
            "name": "x",
            "title": "t",
            "layout": "sherpa",
            "kind": "archive",
            "downloads": [{"url": "https://a.example/x", "path": "../x"}],
        },
        {
            "name": "x",
            "title": "t",
            "layout": "sherpa",
            "kind": "archive",
            "downloads": [{"url": "https://a.example/x", "path": "x", "sha256": "not-a-hash"}],
        },
        {
            "name": "../x",
            "title": "t",
            "layout": "sherpa",
            "kind": "archive",
            "downloads": [{"url": "https://a.example/x", "path": "x"}],
        },
    ],
)
def test_invalid_catalogue_override_entries_are_reported(catalogue, bad):
    catalogue(bad)
    with pytest.raises(CatalogueError):
        load_catalogue()


def test_unreadable_catalogue_override_is_reported(tmp_path, monkeypatch):
    path = tmp_path / "cat.json"
    path.write_text("{not json")
    monkeypatch.setenv(CATALOGUE_ENV, str(path))
    with pytest.raises(CatalogueError, match="Cannot read the catalogue override"):
        load_catalogue()


def test_a_second_install_of_the_same_model_at_once_is_refused(server, catalogue, store, archive_bytes):
    from swictation_rpc.models.staging import locked

    catalogue(archive_entry("tone", server.add("tone.tar.bz2", archive_bytes), archive_bytes))
    with locked(store.root / ".downloads" / "tone.lock"):
        with pytest.raises(ModelDownloadError, match="Another swictation-rpc process"):
            store.download("tone")
    assert server.requests == []
    store.download("tone")
    assert store.verify("tone").ok

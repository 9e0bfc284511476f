"""The model store reads regular files only, unpacks bounded archives only, names damage as such.

Issue 19, items 7, 9 and 13, over the real CLI (``swictation-rpc models ...``) and the real server:

- ``models import`` of ``/dev/zero``, ``/dev/urandom``, a FIFO or ``/proc/self/mem`` is refused
  at once with a clear error (no hang, no traceback);
- a FIFO in place of ``swictation-model.json`` does not hang ``models list``/``verify`` nor
  leave the server ``loading``; it is reported as a damaged manifest;
- a damaged manifest is reported as such ("installed, its manifest is damaged", with the fix),
  not as an unknown or uninstalled model;
- a sparse tar member or a gzip bomb is refused before it fills the disk, with nothing
  installed and nothing left in the staging folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from swictation_rpc.models.store import MANIFEST_NAME
from tests.e2e.conftest import REPO

from .conftest import Server, add_figure, wait_until

CLI_TIMEOUT_S = 30


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SWICTATION_DATA_DIR"] = str(tmp_path / "data")
    env["SWICTATION_MODELS_DIR"] = str(tmp_path / "models")
    env.pop("SWICTATION_CATALOGUE", None)
    return env


def _models(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "swictation_rpc", "models", *args],
            cwd=REPO,
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`models {' '.join(args)}` hangs (no exit within {CLI_TIMEOUT_S} s)", pytrace=False)
    assert "Traceback" not in done.stderr, done.stderr
    done.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
    return done


def _nothing_installed(tmp_path: Path, name: str) -> None:
    models = tmp_path / "models"
    assert not (models / name).exists()
    staging = models / ".staging"
    assert not staging.exists() or not [p for p in staging.iterdir() if not p.name.endswith(".lock")]


@pytest.mark.parametrize("source", ["/dev/zero", "/dev/urandom", "fifo", "/proc/self/mem"])
def test_importing_a_device_fifo_or_proc_file_is_refused_at_once(tmp_path: Path, source: str) -> None:
    if source == "fifo":
        source = str(tmp_path / "model.tar.bz2")
        os.mkfifo(source)
    done = _models(tmp_path, "import", source, "--name", "odd")
    assert done.returncode == 1, done
    assert "regular file" in done.stderr or "empty" in done.stderr, done.stderr
    _nothing_installed(tmp_path, "odd")
    add_figure("model_imports_of_special_files_refused")


def _installed_with_manifest(tmp_path: Path, name: str, manifest: str | None) -> Path:
    folder = tmp_path / "models" / name
    folder.mkdir(parents=True)
    (folder / "tokens.txt").write_text("<blk> 0\n")
    if manifest is None:
        os.mkfifo(folder / MANIFEST_NAME)
    else:
        (folder / MANIFEST_NAME).write_text(manifest)
    return folder


@pytest.mark.parametrize("manifest", [None, "{not json", '{"name": 5}'], ids=["fifo", "garbage", "wrong-shape"])
def test_a_damaged_or_fifo_manifest_is_reported_as_damaged_and_never_hangs(
    tmp_path: Path, manifest: str | None
) -> None:
    _installed_with_manifest(tmp_path, "mine", manifest)
    listed = _models(tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    verified = _models(tmp_path, "verify", "mine")
    assert verified.returncode == 1
    for out in (verified.stderr, _models(tmp_path, "path", "mine").stderr):
        assert "manifest" in out and "damaged" in out, out
        assert "Unknown model" not in out and "not installed" not in out, out
        assert "models remove mine" in out or "--force" in out, out


def test_a_fifo_manifest_does_not_leave_the_server_loading(spawn: Callable[..., Server], tmp_path: Path) -> None:
    _installed_with_manifest(tmp_path, "mine", None)
    settings = {"models": {"modelsDir": str(tmp_path / "models"), "fast": "mine", "accurate": "mine"}}
    server = spawn(settings, wait_ready=False)
    assert wait_until(lambda: server.probe()["state"] != "loading", 60), "the server stays in loading"
    status = server.probe()
    problems = " ".join(m.get("problem") or "" for m in status["engine"]["models"])
    assert "manifest" in problems and "damaged" in problems, status["engine"]


# -- archives --------------------------------------------------------------------------------------

BLOCK = 512


def _gnu_sparse_tar(path: Path, real_size: int) -> None:
    """An old-GNU sparse member ('S'): 512 bytes stored, ``real_size`` bytes once unpacked."""
    info = tarfile.TarInfo("bomb/encoder.onnx")
    info.size = BLOCK
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    assert len(header) == BLOCK and header[156:157] == b"S"
    # First sparse entry (offset, numbytes) at 386, real size at 483: octal, NUL-terminated.
    header[386 : 386 + 12] = b"%011o\0" % (real_size - BLOCK)
    header[386 + 12 : 386 + 24] = b"%011o\0" % BLOCK
    header[483 : 483 + 12] = b"%011o\0" % real_size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    with path.open("wb") as f:
        f.write(bytes(header) + b"\x01" * BLOCK + bytes(2 * BLOCK))


def _gzip_bomb(path: Path, inflated: int) -> None:
    """A .tar.gz whose one member inflates to ``inflated`` bytes of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    info = tarfile.TarInfo("bomb/encoder.onnx")
    info.size = inflated
    chunk = bytes(1 << 20)
    with path.open("wb") as f:
        f.write(compressor.compress(info.tobuf(format=tarfile.GNU_FORMAT)))
        for _ in range(inflated // len(chunk)):
            f.write(compressor.compress(chunk))
        f.write(compressor.compress(bytes(2 * BLOCK)))
        f.write(compressor.flush())


def test_a_sparse_tar_member_is_refused_with_nothing_installed(tmp_path: Path) -> None:
    archive = tmp_path / "sparse.tar"
    _gnu_sparse_tar(archive, 512 << 20)  # 2 KB on disk, 512 MiB unpacked
    with tarfile.open(archive) as tf:
        assert tf.getmembers()[0].issparse()
    done = _models(tmp_path, "import", str(archive), "--name", "holey")
    assert done.returncode == 1
    assert "sparse" in done.stderr, done.stderr
    _nothing_installed(tmp_path, "holey")
    add_figure("sparse_archives_refused")


def test_a_gzip_bomb_is_refused_before_it_fills_the_disk(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    _gzip_bomb(archive, 256 << 20)  # ~250 KB that inflates to 256 MiB
    assert archive.stat().st_size < 1 << 20
    done = _models(tmp_path, "import", str(archive), "--name", "bomb")
    assert done.returncode == 1
    assert "unpacks to more than" in done.stderr, done.stderr
    _nothing_installed(tmp_path, "bomb")
    add_figure("gzip_bombs_refused")


def test_a_genuine_archive_still_imports(tmp_path: Path) -> None:
    from tests.unit.test_model_store import tar_folder, write_model

    model = write_model(tmp_path / "src" / "tone-model")
    archive = tmp_path / "tone.tar.bz2"
    archive.write_bytes(tar_folder(model, "tone-model"))
    done = _models(tmp_path, "import", str(archive), "--name", "tone")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "models" / "tone" / MANIFEST_NAME).is_file()
    listed = {row["name"]: row for row in json.loads(_models(tmp_path, "list", "--json").stdout)}
    assert listed["tone"]["state"] == "installed", listed["tone"]

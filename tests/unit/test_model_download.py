"""The downloader against a real HTTP server on 127.0.0.1, and archive extraction safety."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from swictation_rpc.errors import ModelDownloadError
from swictation_rpc.models.archive import UnsafeArchiveError, safe_extract
from swictation_rpc.models.catalogue import check_url
from swictation_rpc.models.download import Progress, fetch
from swictation_rpc.testing.model_server import ModelServer

PAYLOAD = os.urandom(300_000)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture()
def server():
    with ModelServer() as srv:
        yield srv


# ------------------------------------------------------------------------------------------
# fetch


def test_progress_is_reported_up_to_the_full_size(server, tmp_path):
    url = server.add("blob.bin", PAYLOAD)
    seen: list[Progress] = []
    result = fetch(url, tmp_path / "blob.bin", progress=seen.append)
    assert result.size == len(PAYLOAD) and result.sha256 == PAYLOAD_SHA
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD
    assert seen[0].done == 0 and seen[-1].done == len(PAYLOAD)
    assert all(p.total == len(PAYLOAD) for p in seen)
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert len(seen) > 2  # streamed in chunks, not one final call


def test_interrupted_transfer_keeps_part_and_next_call_resumes_with_range(server, tmp_path):
    url = server.add("blob.bin", PAYLOAD)
    half = len(PAYLOAD) // 2
    server.drop_after("blob.bin", half)
    dest = tmp_path / "blob.bin"
    with pytest.raises(ModelDownloadError, match=r"interrupted after 150000 of 300000 bytes") as info:
        fetch(url, dest, sha256=PAYLOAD_SHA, retries=0)
    assert "run the same command again" in info.value.remedy
    part = tmp_path / "blob.bin.part"
    assert part.stat().st_size == half and not dest.exists()

    result = fetch(url, dest, sha256=PAYLOAD_SHA, retries=0)
    assert result.resumed_from == half
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    ranges = [r.range for r in server.requests_for("blob.bin")]
    assert ranges == [None, f"bytes={half}-"]


def test_a_dropped_connection_is_resumed_within_one_call(server, tmp_path):
    url = server.add("blob.bin", PAYLOAD)
    server.drop_after("blob.bin", 100_000)
    server.drop_after("blob.bin", 200_000)
    result = fetch(url, tmp_path / "blob.bin", size=len(PAYLOAD), sha256=PAYLOAD_SHA, retries=2)
    assert result.sha256 == PAYLOAD_SHA and result.resumed_from == 200_000
    assert [r.range for r in server.requests_for("blob.bin")] == [None, "bytes=100000-", "bytes=200000-"]


def test_checksum_mismatch_names_both_hashes_and_deletes_the_part(server, tmp_path):
    url = server.add("blob.bin", PAYLOAD)
    wrong = "0" * 64
    with pytest.raises(ModelDownloadError) as info:
        fetch(url, tmp_path / "blob.bin", sha256=wrong)
    msg = str(info.value)
    assert wrong in msg and PAYLOAD_SHA in msg and "Checksum mismatch" in msg
    assert info.value.data["expected"] == wrong and info.value.data["actual"] == PAYLOAD_SHA
    assert list(tmp_path.iterdir()) == []


def test_server_size_differing_from_the_catalogue_is_refused_before_download(server, tmp_path):
    url = server.add("blob.bin", PAYLOAD)
    with pytest.raises(ModelDownloadError, match="offers 300000 bytes .* expects 1234"):
        fetch(url, tmp_path / "blob.bin", size=1234)
    assert list(tmp_path.iterdir()) == []


def test_http_error_status_is_reported(server, tmp_path):
    url = server.add("blob.bin", PAYLOAD)
    server.fail_with("blob.bin", 503)
    with pytest.raises(ModelDownloadError, match="HTTP 503") as info:
        fetch(url, tmp_path / "blob.bin")
    assert info.value.data["status"] == 503
    with pytest.raises(ModelDownloadError, match="HTTP 404"):
        fetch(server.url("missing.bin"), tmp_path / "missing.bin")


def test_optional_file_missing_on_the_server_is_skipped(server, tmp_path):
    result = fetch(server.url("config.json"), tmp_path / "config.json", optional=True)
    assert result.skipped and not (tmp_path / "config.json").exists()


def test_network_error_is_a_clear_model_download_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ModelDownloadError, match="Cannot reach 127.0.0.1") as info:
        fetch(f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=0, timeout=5)
    assert "import" in info.value.remedy


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/model.tar.bz2",
        "ftp://example.com/model.tar.bz2",
        "file:///etc/passwd",
        "http://10.0.0.1/model.tar.bz2",
        "https:///no-host",
    ],
)
def test_non_https_urls_are_refused_without_connecting(url, tmp_path):
    with pytest.raises(ModelDownloadError, match="only https:// URLs are allowed"):
        fetch(url, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_https_and_local_http_are_accepted():
    assert check_url("https://github.com/k2-fsa/sherpa-onnx/releases/download/asr-models/x.tar.bz2")
    assert check_url("http://127.0.0.1:8000/x") and check_url("http://localhost/x")


def test_a_redirect_to_plain_http_is_refused(server, tmp_path):
    server.redirect("moved.bin", "http://example.com/model.tar.bz2")
    with pytest.raises(ModelDownloadError, match="only https://"):
        fetch(server.url("moved.bin"), tmp_path / "moved.bin")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_complete_file_is_reverified_not_refetched(server, tmp_path):
    url = server.add("blob.bin", PAYLOAD)
    fetch(url, tmp_path / "blob.bin", sha256=PAYLOAD_SHA)
    again = fetch(url, tmp_path / "blob.bin", sha256=PAYLOAD_SHA)
    assert again.sha256 == PAYLOAD_SHA and len(server.requests_for("blob.bin")) == 1


def test_downloaded_files_are_user_only(server, tmp_path):
    url = server.add("blob.bin", PAYLOAD)
    fetch(url, tmp_path / "blob.bin")
    assert stat.S_IMODE((tmp_path / "blob.bin").stat().st_mode) == 0o600


# ------------------------------------------------------------------------------------------
# safe_extract


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:bz2") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def _file(name: str) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), f"content of {name}\n".encode()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("mode,suffix", [("w:bz2", ".tar.bz2"), ("w:gz", ".tar.gz"), ("w", ".tar")])
def test_tar_archives_unpack_with_private_modes_and_hashes(tmp_path, mode, suffix):
    d = tarfile.TarInfo("model")
    d.type = tarfile.DIRTYPE
    d.mode = 0o777
    enc = _file("model/encoder.onnx")
    enc[0].mode = 0o4777  # setuid bits in the archive must not survive
    archive = _write(tmp_path, "m" + suffix, _tar([(d, None), enc, _file("model/tokens.txt")], mode))
    out = tmp_path / "out"
    records = safe_extract(archive, out)
    assert set(records) == {"model/encoder.onnx", "model/tokens.txt"}
    body = (out / "model" / "encoder.onnx").read_bytes()
    assert records["model/encoder.onnx"].sha256 == hashlib.sha256(body).hexdigest()
    assert stat.S_IMODE((out / "model" / "encoder.onnx").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "model").stat().st_mode) == 0o700


def test_zip_archive_unpacks(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/tokens.txt", "a 0\n<blk> 1\n")
        zf.writestr("model/encoder.onnx", b"x" * 100)
    records = safe_extract(_write(tmp_path, "m.zip", buf.getvalue()), tmp_path / "out")
    assert records["model/encoder.onnx"].size == 100


@pytest.mark.parametrize(
    "name,why",
    [
        ("../evil.txt", "contains '..'"),
        ("model/../../evil.txt", "contains '..'"),
        ("/tmp/evil.txt", "is an absolute path"),
        ("C:/evil.txt", "is an absolute path"),
        ("model\\..\\evil.txt", "backslash"),
    ],
)
def test_tar_member_escaping_the_target_is_refused(tmp_path, name, why):
    archive = _write(tmp_path, "bad.tar.bz2", _tar([_file("model/ok.txt"), _file(name)]))
    with pytest.raises(UnsafeArchiveError, match=why) as info:
        safe_extract(archive, tmp_path / "out")
    assert info.value.data["member"] == name
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


@pytest.mark.parametrize(
    "kind,link,why",
    [
        (tarfile.SYMTYPE, "/etc/passwd", "symbolic link"),
        (tarfile.SYMTYPE, "../../outside", "symbolic link"),
        (tarfile.LNKTYPE, "model/ok.txt", "hard link"),
        (tarfile.FIFOTYPE, "", "device, FIFO"),
        (tarfile.CHRTYPE, "", "device, FIFO"),
        (tarfile.BLKTYPE, "", "device, FIFO"),
    ],
)
def test_links_devices_and_fifos_are_refused(tmp_path, kind, link, why):
    info = tarfile.TarInfo("model/special")
    info.type = kind
    info.linkname = link
    archive = _write(tmp_path, "bad.tar.bz2", _tar([_file("model/ok.txt"), (info, None)]))
    with pytest.raises(UnsafeArchiveError, match=why):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "model" / "special").exists()


def test_a_symlink_then_a_file_through_it_never_writes_outside(tmp_path):
    link = tarfile.TarInfo("model/dir")
    link.type = tarfile.SYMTYPE
    link.linkname = str(tmp_path / "outside")
    (tmp_path / "outside").mkdir()
    archive = _write(tmp_path, "bad.tar", _tar([(link, None), _file("model/dir/evil.txt")], "w"))
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "outside").iterdir()) == []


def test_duplicate_members_are_refused(tmp_path):
    archive = _write(tmp_path, "dup.tar", _tar([_file("model/a.txt"), _file("model/a.txt")], "w"))
    with pytest.raises(UnsafeArchiveError, match="appears twice"):
        safe_extract(archive, tmp_path / "out")


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt"])
def test_zip_member_escaping_the_target_is_refused(tmp_path, name):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/ok.txt", "ok")
        zf.writestr(zipfile.ZipInfo(name), "evil")
    with pytest.raises(UnsafeArchiveError):
        safe_extract(_write(tmp_path, "bad.zip", buf.getvalue()), tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("model/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        safe_extract(_write(tmp_path, "bad.zip", buf.getvalue()), tmp_path / "out")


@pytest.mark.parametrize("mode,suffix", [("w:bz2", ".tar.bz2"), ("w:gz", ".tar.gz"), ("w", ".tar")])
def test_truncated_archive_is_reported_as_truncated_or_corrupt(tmp_path, mode, suffix):
    members = [(tarfile.TarInfo(f"model/f{i}.bin"), os.urandom(50_000)) for i in range(4)]
    data = _tar(members, mode)
    archive = _write(tmp_path, "cut" + suffix, data[: len(data) * 2 // 3])
    with pytest.raises(ModelDownloadError, match="truncated or corrupt|not a readable"):
        safe_extract(archive, tmp_path / "out")


def test_corrupt_zip_member_is_reported(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("model/encoder.onnx", b"A" * 1000)
    data = bytearray(buf.getvalue())
    data[data.index(b"AAAA") + 10] ^= 0xFF  # flip a byte: the CRC check must catch it
    with pytest.raises(ModelDownloadError, match="truncated or corrupt"):
        safe_extract(_write(tmp_path, "bad.zip", bytes(data)), tmp_path / "out")


def test_not_an_archive_is_reported(tmp_path):
    with pytest.raises(ModelDownloadError, match="not a .tar"):
        safe_extract(_write(tmp_path, "x.tar.bz2", b"<html>rate limited</html>"), tmp_path / "out")

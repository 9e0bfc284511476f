"""Security: what the server reads, writes and connects to.

- A whole session — ``models download`` from a (local) catalogue URL, then the server loading
  that model by name, transcribing, saving history and logs — run under umask 0 with the
  platformdirs defaults (a throwaway ``HOME``): every file and folder written must be the user's
  only, the CLI may connect to the catalogue's URL and nowhere else, and the server to nothing
  (Python's audit hooks log every inet socket event; the process's sockets are polled too).
- Audio paths from a client must be readable regular files: devices, FIFOs, directories,
  sockets, the server's own stdin — refused at once, never read or waited on, even when the path
  is swapped for a FIFO while the server looks at it.
- Downloads: what ``tests/unit/test_model_download.py`` does not already cover — special files in
  zip archives, and the checksum checked before a single member is unpacked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import soundfile

from tests.e2e.conftest import REPO, server_command, transcribe_params

from .conftest import HERE, PROBE_TIMEOUT_S, Server, add_figure, record_figure, server_env

TONE_TEXT = "hello world"
MODEL_NAME = "tone-secure"


def _audit_env(home: Path, log: Path, catalogue: Path) -> dict[str, str]:
    """Platformdirs defaults under ``home``, the audit hook on, the test catalogue."""
    env = server_env(home / "unused")
    for key in list(env):
        if key.startswith("XDG_") or key in ("SWICTATION_DATA_DIR", "SWICTATION_MODELS_DIR"):
            env.pop(key)
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(HERE / "audit")
    env["SWICTATION_AUDIT_LOG"] = str(log)
    env["SWICTATION_CATALOGUE"] = str(catalogue)
    return env


def _umask_0() -> None:
    os.umask(0)  # the loosest umask there is: anything not made private explicitly shows


def _events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


class SocketWatch:
    """Polls a process's inet sockets until stopped; native code cannot hide one for long."""

    def __init__(self, server: Server, interval_s: float = 0.01):
        self.server = server
        self.seen: list[str] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval_s,), daemon=True)
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set() and self.server.proc.poll() is None:
            try:
                self.seen += [repr(c) for c in self.server.inet_sockets()]
                self.polls += 1
            except Exception:  # noqa: BLE001 - the process is exiting
                return
            time.sleep(interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Download a model with the CLI, then serve with it: everything under a fresh HOME, umask 0."""
    from swictation_rpc.testing.model_server import ModelServer
    from swictation_rpc.testing.synthetic import tone_audio, write_tone_model

    tmp = tmp_path_factory.mktemp("secure")
    home = tmp / "home"
    home.mkdir(mode=0o700)
    tones = tmp / "tones.wav"
    soundfile.write(str(tones), tone_audio(TONE_TEXT), 16_000, subtype="PCM_16")
    model = write_tone_model(tmp / "src", kind="tdt", name=MODEL_NAME)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tf:
        tf.add(model, arcname=MODEL_NAME)
    archive = buf.getvalue()

    with ModelServer() as http:
        url = http.add(f"{MODEL_NAME}.tar.bz2", archive)
        catalogue = tmp / "catalogue.json"
        catalogue.write_text(
            json.dumps(
                {
                    "models": [
                        {
                            "name": MODEL_NAME,
                            "title": "tone model",
                            "role": "fast",
                            "layout": "sherpa",
                            "kind": "archive",
                            "topFolder": MODEL_NAME,
                            "requiredFiles": ["encoder.onnx", "decoder.onnx", "joiner.onnx", "tokens.txt"],
                            "downloads": [
                                {
                                    "url": url,
                                    "path": f"{MODEL_NAME}.tar.bz2",
                                    "size": len(archive),
                                    "sha256": hashlib.sha256(archive).hexdigest(),
                                }
                            ],
                        }
                    ]
                }
            )
        )
        cli_log = tmp / "cli-audit.jsonl"
        download = subprocess.run(
            [sys.executable, "-m", "swictation_rpc", "models", "download", MODEL_NAME, "--no-progress"],
            env=_audit_env(home, cli_log, catalogue),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_umask_0,
        )
        assert download.returncode == 0, download.stderr
        requests = [r.path for r in http.requests]

    server_log = tmp / "server-audit.jsonl"
    env = _audit_env(home, server_log, catalogue)
    env["SWICTATION_CHECK_CLIP"] = str(tones)
    server = Server(server_command(), env, tmp / "server.stderr", preexec_fn=_umask_0)
    watch = SocketWatch(server)
    try:
        server.initialize({"models": {"fast": MODEL_NAME, "accurate": "bundled"}})
        server.wait_ready()
        sample = REPO / "swictation_rpc" / "data" / "sample.wav"
        fast = server.request("swictation/transcribe", transcribe_params(tones, mode="fast"))
        accurate = server.request("swictation/transcribe", transcribe_params(sample, mode="accurate"))
        refused = server.response(
            server.request_async(
                "swictation/startDictation",
                {"textDocument": {"uri": "file:///a"}, "position": {"line": 0, "character": 0}},
            ),
            PROBE_TIMEOUT_S,
        )
        status = server.request("swictation/status")
        code = server.shutdown_and_exit()
    finally:
        watch.stop()
        server.kill()
    yield {
        "home": home,
        "url": url,
        "requests": requests,
        "cli_events": _events(cli_log),
        "server_events": _events(server_log),
        "watch": watch,
        "fast": fast,
        "accurate": accurate,
        "refused": refused,
        "status": status,
        "exit_code": code,
    }


def test_the_session_worked(session: dict[str, Any]) -> None:
    assert session["fast"]["model"] == MODEL_NAME and session["fast"]["text"].lower() == TONE_TEXT
    assert session["accurate"]["text"] and session["accurate"]["utteranceId"]
    assert session["refused"]["error"]["code"] == -33004  # no microphone here: typed, not fatal
    assert session["exit_code"] == 0


def test_every_file_and_folder_written_is_private_to_the_user_even_under_umask_0(session: dict[str, Any]) -> None:
    home: Path = session["home"]
    written = sorted(home.rglob("*"))
    ours = [p for p in written if "swictation-rpc" in p.relative_to(home).parts]
    kinds = {part for p in ours for part in p.relative_to(home).parts}
    assert {"models", "history", "log"} <= kinds, [str(p) for p in ours]  # models, history and logs all written
    loose = [
        f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p.relative_to(home)}"
        for p in written
        if stat.S_IMODE(p.lstat().st_mode) & 0o077
    ]
    assert loose == [], loose
    assert not [p for p in written if p.is_symlink()]
    record_figure("private_files_checked", len(written))
    others = sorted({str(p.relative_to(home).parents[-2]) for p in written if p not in ours and p.is_file()})
    record_figure("third_party_files_written", others)


def test_the_download_connected_to_the_catalogue_url_only(session: dict[str, Any]) -> None:
    from urllib.parse import urlsplit

    catalogue = urlsplit(session["url"])
    assert session["requests"] == [catalogue.path]
    connects = [e for e in session["cli_events"] if e["event"] == "socket.connect"]
    assert connects, session["cli_events"]  # the audit hook saw the download's connection…
    for event in connects:  # …and nothing else
        assert f"'{catalogue.hostname}', {catalogue.port}" in event["detail"], event


def test_the_server_opened_no_network_socket(session: dict[str, Any]) -> None:
    watch: SocketWatch = session["watch"]
    assert session["server_events"] == []
    assert watch.polls > 20 and watch.seen == [], (watch.polls, watch.seen)
    record_figure("server_socket_polls", watch.polls)


# -- audio paths from a client --------------------------------------------------------------------


@pytest.fixture(scope="module")
def paths_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("paths")
    server = Server(server_command(), server_env(tmp / "data"), tmp / "server.stderr")
    server.initialize({})
    server.wait_ready()
    yield server
    server.kill()


def _special_path(kind: str, tmp_path: Path) -> str:
    if kind.startswith("/"):
        return kind
    if kind == "fifo":
        path = tmp_path / "audio.wav"
        os.mkfifo(path)
        return str(path)
    if kind == "directory":
        (tmp_path / "audio.wav").mkdir()
        return str(tmp_path / "audio.wav")
    if kind == "link-to-device":
        os.symlink("/dev/zero", tmp_path / "audio.wav")
        return str(tmp_path / "audio.wav")
    if kind == "link-to-fifo":
        os.mkfifo(tmp_path / "pipe")
        os.symlink(tmp_path / "pipe", tmp_path / "audio.wav")
        return str(tmp_path / "audio.wav")
    if kind == "socket":
        path = tmp_path / "audio.wav"
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.listen()
        return str(path)
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "/dev/zero",
        "/dev/urandom",
        "/dev/null",
        "/dev/stdin",
        "/proc/self/fd/0",
        "fifo",
        "directory",
        "link-to-device",
        "link-to-fifo",
        "socket",
    ],
)
def test_an_audio_path_that_is_not_a_regular_file_is_refused_at_once(
    paths_server: Server, tmp_path: Path, kind: str
) -> None:
    path = _special_path(kind, tmp_path)
    started = time.monotonic()
    reply = paths_server.response(
        paths_server.request_async("swictation/transcribe", transcribe_params(path)), PROBE_TIMEOUT_S
    )
    assert reply.get("error", {}).get("code") == -33003, reply
    assert "not a regular file" in reply["error"]["message"] and reply["error"]["data"]["path"] == path
    assert time.monotonic() - started < 10
    paths_server.probe()
    add_figure("special_paths_refused")


FLIPPER = """
import os, sys
link, targets, n = sys.argv[1], sys.argv[2:], 0
while True:
    os.symlink(targets[n % 2], link + ".new")
    os.replace(link + ".new", link)  # atomic: the path is always one or the other
    n += 1
"""


def test_a_path_swapped_for_a_fifo_while_the_server_reads_it_never_blocks_a_worker(
    paths_server: Server, tmp_path: Path
) -> None:
    """The path flips between a file and a FIFO nobody writes to, as fast as it can, while
    requests keep coming: every one is answered (a FIFO opened for reading waits for a writer)."""
    regular = tmp_path / "not-audio.txt"
    regular.write_text("not audio\n")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "audio.wav"
    os.symlink(regular, link)
    # Flipped by another process, so the flips never wait for this one's GIL: thousands a second.
    flipper = subprocess.Popen([sys.executable, "-c", FLIPPER, str(link), str(fifo), str(regular)])
    try:
        ids = []
        deadline = time.monotonic() + 1.5
        while len(ids) < 300 or time.monotonic() < deadline:
            ids.append(paths_server.request_async("swictation/transcribe", transcribe_params(link)))
            time.sleep(0.002)
        for msg_id in ids:
            reply = paths_server.response(msg_id, PROBE_TIMEOUT_S)
            assert reply.get("error", {}).get("code") == -33003, reply
        assert flipper.poll() is None, "the flipper stopped early"
    finally:
        flipper.kill()
        flipper.wait(10)
    paths_server.probe()
    add_figure("special_paths_refused", len(ids))


# -- archives -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode", [stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK], ids=["fifo", "chr", "blk", "sock"]
)
def test_a_zip_member_that_is_a_special_file_is_refused(tmp_path: Path, mode: int) -> None:
    from swictation_rpc.models.archive import UnsafeArchiveError, safe_extract

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/tokens.txt", "a 0\n<blk> 1\n")
        info = zipfile.ZipInfo("model/special")
        info.external_attr = (mode | 0o644) << 16
        zf.writestr(info, b"")
    archive = tmp_path / "special.zip"
    archive.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match="special file"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "model" / "special").exists()


def test_the_checksum_is_checked_before_anything_is_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile archive with the wrong checksum fails on the checksum: extraction never starts."""
    from swictation_rpc.errors import ModelDownloadError
    from swictation_rpc.models import install as models_mod
    from swictation_rpc.models.store import ModelStore
    from swictation_rpc.testing.model_server import ModelServer

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tf:
        for name in ("evil/tokens.txt", "../../escaped.txt"):
            info = tarfile.TarInfo(name)
            data = b"x\n"
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    extracted: list[Path] = []
    real_extract = models_mod.safe_extract
    monkeypatch.setattr(models_mod, "safe_extract", lambda a, d: extracted.append(a) or real_extract(a, d))
    with ModelServer() as http:
        url = http.add("evil.tar.bz2", archive)
        catalogue = tmp_path / "catalogue.json"
        catalogue.write_text(
            json.dumps(
                {
                    "models": [
                        {
                            "name": "evil",
                            "title": "evil",
                            "role": "fast",
                            "layout": "sherpa",
                            "kind": "archive",
                            "topFolder": "evil",
                            "downloads": [
                                {"url": url, "path": "evil.tar.bz2", "size": len(archive), "sha256": "0" * 64}
                            ],
                        }
                    ]
                }
            )
        )
        monkeypatch.setenv("SWICTATION_CATALOGUE", str(catalogue))
        store = ModelStore(tmp_path / "models")
        with pytest.raises(ModelDownloadError, match="Checksum mismatch"):
            store.download("evil")
    assert extracted == []
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "models" / "evil").exists()

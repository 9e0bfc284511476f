"""A data folder moved elsewhere with a symlink is followed for where files go, never for what is
deleted, chmodded or appended to (issue 19, item 1).

A common way to put the history on another disk is ``ln -s /mnt/big/audio history/audio``. The
server must write its files there, but it must never chmod the target folder, never delete a file
in it that it did not create (the orphan sweep removes only names the server makes, regular files
by ``lstat``), and never append its log through a symlink.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from swictation_rpc import paths
from swictation_rpc.history import HistoryStore
from swictation_rpc.options import HistoryOptions
from swictation_rpc.protocol import Timings
from tests.e2e.conftest import transcribe_params

from .conftest import add_figure

TIMINGS = Timings(audio_ms=1000.0, decode_ms=40.0, total_ms=50.0)
HOURS_AGO = time.time() - 3 * 3600


def _user_folder(folder: Path) -> dict[str, bytes]:
    """A folder of the user's own (0755, files hours old), as a second disk would hold it."""
    folder.mkdir(parents=True)
    files = {"holiday.jpg": b"\xff\xd8 not ours", "notes.txt": b"keep me", "old-recording.flac": b"fLaC mine"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
        os.utime(folder / name, (HOURS_AGO, HOURS_AGO))
    folder.chmod(0o755)
    return files


def _assert_untouched(folder: Path, files: dict[str, bytes]) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755, oct(folder.stat().st_mode)
    for name, data in files.items():
        assert (folder / name).read_bytes() == data, name


@pytest.mark.parametrize("linked", ["history/audio", "history"])
def test_a_symlinked_history_folder_is_written_to_but_nothing_of_the_user_is_chmodded_or_deleted(
    spawn, sentence_wav: Path, tmp_path: Path, linked: str
) -> None:
    data = tmp_path / "data"
    target = tmp_path / "other-disk" / "swictation"
    (data / linked).parent.mkdir(parents=True)
    audio_target = target if linked == "history/audio" else target / "audio"
    files = _user_folder(audio_target)
    if linked == "history":
        target.chmod(0o755)
    (data / linked).symlink_to(target, target_is_directory=True)

    server = spawn(data_dir=data)
    result = server.request("swictation/transcribe", transcribe_params(sentence_wav))
    assert result["text"] and result["utteranceId"]

    # Followed for the location: the utterance's audio is on the other disk (raw PCM when the
    # edit is sent, FLAC moments later)…
    saved = [audio_target / f"{result['utteranceId']}{suffix}" for suffix in (".wav", ".flac")]
    assert any(path.is_file() for path in saved)
    # …never for chmod or deletion.
    _assert_untouched(audio_target, files)
    if linked == "history":
        assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert (data / linked).is_symlink()
    server.probe()
    add_figure("data_dir_layouts_survived")


def test_the_orphan_sweep_removes_only_regular_files_named_as_the_server_names_them(tmp_path: Path) -> None:
    directory = tmp_path / "history"
    with HistoryStore(directory, HistoryOptions()) as store:
        kept = store.add(
            "hello", np.zeros(1600, np.float32), uri=None, range=None, mode="fast", model="m", timings=TIMINGS
        )
    audio = directory / "audio"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "precious.flac"
    victim.write_bytes(b"the user's")
    ours_partial = audio / f"{'a' * 32}.tmp"
    ours_orphan = audio / f"{'b' * 32}.flac"
    not_ours = [audio / "readme.txt", audio / "recording.flac", audio / f"{'c' * 31}.flac", audio / f"{'D' * 32}.flac"]
    for path in [ours_partial, ours_orphan, *not_ours]:
        path.write_bytes(b"x")
    link = audio / f"{'e' * 32}.flac"  # named like ours, but a symlink: never followed, never removed
    link.symlink_to(victim)
    folder = audio / f"{'f' * 32}.tmp"  # named like ours, but a folder
    folder.mkdir()
    for path in [ours_partial, ours_orphan, *not_ours, victim]:
        os.utime(path, (HOURS_AGO, HOURS_AGO))

    with HistoryStore(directory, HistoryOptions()) as store:
        assert [item.id for item in store.list(5)] == [kept]

    assert not ours_partial.exists() and not ours_orphan.exists()
    assert (audio / f"{kept}.flac").is_file()
    for path in not_ours:
        assert path.exists(), path.name
    assert link.is_symlink() and victim.read_bytes() == b"the user's"
    assert folder.is_dir()


def test_a_symlinked_history_folder_is_not_chmodded_through_the_link(tmp_path: Path) -> None:
    target = tmp_path / "shared-folder"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    directory = tmp_path / "data" / "history"
    directory.parent.mkdir()
    directory.symlink_to(target, target_is_directory=True)
    with HistoryStore(directory, HistoryOptions()) as store:
        store.add("hello", None, uri=None, range=None, mode="fast", model="m", timings=TIMINGS)
        assert store.list(1)[0].text == "hello"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    # What the server created itself is private.
    assert stat.S_IMODE((target / "history.sqlite3").stat().st_mode) == 0o600


def test_the_private_append_open_refuses_a_symlink_and_leaves_its_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "important.txt"
    target.write_text("the user's file\n")
    target.chmod(0o644)
    log = tmp_path / "server.log"
    log.symlink_to(target)
    with pytest.raises(OSError):
        paths.open_private_append(log, encoding="utf-8")
    assert target.read_text() == "the user's file\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_the_private_append_open_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "server.log"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(OSError):
        paths.open_private_append(fifo, encoding="utf-8")
    assert time.monotonic() - started < 5


def test_the_private_append_open_creates_a_private_file_and_appends(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    for line in ("one\n", "two\n"):
        with paths.open_private_append(log, encoding="utf-8") as f:
            f.write(line)
    assert log.read_text() == "one\ntwo\n"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_the_server_never_appends_its_log_through_a_symlink(spawn, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    target = tmp_path / "bashrc"
    target.write_text("# the user's file\n")
    (data / "logs" / "server.log").symlink_to(target)
    server = spawn(data_dir=data, wait_ready=False)
    server.probe()
    assert target.read_text() == "# the user's file\n"

"""A symlinked ``logs/`` folder is followed for the location; a file the server did not create
keeps its mode, and a refused symlinked ``server.log`` is explained in a sentence.

``ln -s ~/mine $DATA/logs`` with the user's ``~/mine/server.log`` (0644): the server appends to
its own file name in its own logs location (see the README's reliability section) but never
chmods it. Only a file the open itself created is made 0600.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from swictation_rpc import paths


def test_an_existing_file_is_appended_to_but_keeps_its_mode(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    log = mine / "server.log"
    log.write_text("the user's line\n")
    log.chmod(0o644)
    (tmp_path / "logs").symlink_to(mine)
    with paths.open_private_append(tmp_path / "logs" / "server.log", encoding="utf-8") as f:
        f.write("server line\n")
    assert stat.S_IMODE(log.stat().st_mode) == 0o644
    assert log.read_text() == "the user's line\nserver line\n"


def test_a_file_the_open_created_is_private(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (tmp_path / "logs").symlink_to(mine)
    with paths.open_private_append(tmp_path / "logs" / "server.log", encoding="utf-8") as f:
        f.write("x\n")
    assert stat.S_IMODE((mine / "server.log").stat().st_mode) == 0o600


def test_the_server_leaves_the_mode_of_a_log_in_a_symlinked_folder(spawn: Any, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    log = mine / "server.log"
    log.write_text("the user's line\n")
    log.chmod(0o644)
    data = tmp_path / "data"
    data.mkdir()
    (data / "logs").symlink_to(mine)
    server = spawn(data_dir=data, wait_ready=False)
    server.probe()
    assert stat.S_IMODE(log.stat().st_mode) == 0o644
    assert log.read_text().startswith("the user's line\n")


def test_a_symlinked_log_file_is_refused_with_a_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from swictation_rpc import logs

    target = tmp_path / "bashrc"
    target.write_text("# the user's file\n")
    log = tmp_path / "server.log"
    log.symlink_to(target)
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        assert logs.configure_logging("info", log) is None
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "Errno" not in err, err
    assert "is a symbolic link" in err and "not used" in err and str(log) in err, err
    assert target.read_text() == "# the user's file\n"

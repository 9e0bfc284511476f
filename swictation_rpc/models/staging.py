"""Assembling a model on disk: private folders, the staging area, copying a folder, archives to import, locks.

Everything is built in ``<root>/.staging`` (same filesystem as the store) and published with one
``rename``; a lock per model name keeps two installs or removals of it (two CLIs, or the server
and a CLI) from running at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from swictation_rpc.errors import ModelDownloadError
from swictation_rpc.models.files import FileRecord, NotRegularFileError, open_regular

ARCHIVE_SUFFIXES = (".tar.bz2", ".tbz2", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar", ".zip")


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return path


def rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_archive(src: Path) -> BinaryIO:
    """An archive to import, opened: a regular, non-empty file (not /dev/zero, a FIFO, /proc)."""
    remedy = "Give the path of a model archive (.tar.bz2, .tar.gz, .tar, .zip) or of a model folder."
    try:
        f = open_regular(src)
    except NotRegularFileError as exc:
        raise ModelDownloadError(
            f"Refusing to import {src}: it is {exc.kind}, not a regular file", remedy=remedy
        ) from None
    except OSError as exc:
        raise ModelDownloadError(f"Cannot read {src}: {exc.strerror or exc}", remedy=remedy) from exc
    if os.fstat(f.fileno()).st_size == 0:
        f.close()
        raise ModelDownloadError(
            f"Refusing to import {src}: it is empty (0 bytes; files under /proc and /sys say so too)", remedy=remedy
        )
    return f


def archive_stem(path: Path) -> str:
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def model_root(unpacked: Path, top_folder: str | None) -> Path:
    """The folder that holds the model files: the archive's top folder, stripped."""
    if top_folder and (unpacked / top_folder).is_dir():
        return unpacked / top_folder
    entries = list(unpacked.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def rekey(records: dict[str, FileRecord], unpacked: Path, root: Path) -> dict[str, FileRecord]:
    if root == unpacked:
        return dict(records)
    prefix = root.relative_to(unpacked).as_posix() + "/"
    return {k[len(prefix) :]: v for k, v in records.items() if k.startswith(prefix)}


def copy_tree(src: Path, dest: Path) -> dict[str, FileRecord]:
    """Copy a local model folder: regular files and folders only, hashed on the way."""
    records: dict[str, FileRecord] = {}
    private_dir(dest)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(src)
        for name in list(dirnames) + filenames:
            p = here / name
            mode = os.lstat(p).st_mode
            rel = (rel_dir / name).as_posix()
            if stat.S_ISLNK(mode):
                raise ModelDownloadError(
                    f"Refusing to import {src}: {rel} is a symbolic link",
                    remedy="Copy the real files into the folder (no links) and import it again.",
                )
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ModelDownloadError(
                    f"Refusing to import {src}: {rel} is a device, FIFO or socket",
                    remedy="A model folder holds only regular files and folders.",
                )
        for name in dirnames:
            private_dir(dest / rel_dir / name)
        for name in filenames:
            s = here / name
            t = dest / rel_dir / name
            try:
                fin = open_regular(s)  # checked again on the descriptor: a file swapped for a FIFO
            except OSError as exc:
                raise ModelDownloadError(
                    f"Refusing to import {src}: {(rel_dir / name).as_posix()} cannot be read ({exc})",
                    remedy="A model folder holds only regular files and folders the user can read.",
                ) from exc
            fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            h = hashlib.sha256()
            size = 0
            with fin, os.fdopen(fd, "wb") as fout:
                while chunk := fin.read(1 << 20):
                    fout.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
            records[(rel_dir / name).as_posix()] = FileRecord(size, h.hexdigest())
    if not records:
        raise ModelDownloadError(f"{src} is empty", remedy="Import a folder that holds a model.")
    return records


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """One install/remove per model at a time (two CLIs, or the server and a CLI)."""
    private_dir(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: best effort, no lock
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ModelDownloadError(
                f"Another swictation-rpc process is installing or removing {lock_path.stem}",
                remedy="Wait for it to finish, then try again.",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""Reading files of the model store: regular files only, never blocking, never unbounded.

A path the store reads (an archive to import, a model's manifest, tokens.txt, a file to hash)
may be a FIFO, a device or a ``/proc`` file: ``open()`` on a FIFO blocks until a writer comes,
``/dev/zero`` never ends, ``/proc/self/mem`` fails with EIO. :func:`open_regular` opens with
``O_NONBLOCK`` (so a FIFO opens at once), checks the descriptor with ``fstat`` (so a path swapped
after a check is still caught) and refuses anything that is not a regular file.

A file's size and SHA-256 (:class:`FileRecord`, :func:`hash_file`) are the manifest's unit of trust.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import IO, BinaryIO

import attrs


class NotRegularFileError(OSError):
    """The path is a FIFO, device, socket or folder; ``kind`` says which."""

    def __init__(self, path: str | os.PathLike[str], kind: str):
        self.kind = kind
        super().__init__(f"{os.fspath(path)} is {kind}, not a regular file")


class FileTooLargeError(OSError):
    """A file larger than its reader accepts (a manifest, a token list)."""

    def __init__(self, path: str | os.PathLike[str], limit: int):
        self.limit = limit
        super().__init__(f"{os.fspath(path)} is larger than {limit} bytes")


def describe_mode(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a special file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for reading, once it is known to be a regular file.

    Raises :class:`NotRegularFileError` for anything else, ``OSError`` when it cannot be opened.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, describe_mode(mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The whole of a regular file of at most ``max_bytes`` (``FileTooLargeError`` beyond)."""
    with open_regular(path) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileTooLargeError(path, max_bytes)
    return data


def read_regular_text(path: str | os.PathLike[str], max_bytes: int) -> str:
    """:func:`read_regular` decoded as UTF-8 (``UnicodeDecodeError`` when it is not)."""
    return read_regular(path, max_bytes).decode("utf-8")


@attrs.frozen
class FileRecord:
    """Size and SHA-256 of one installed file (the manifest's unit of trust)."""

    size: int
    sha256: str


def hash_file(path: Path, hasher: hashlib._Hash | None = None) -> hashlib._Hash:
    """SHA-256 of a regular file (a FIFO or device raises ``NotRegularFileError``, never blocks)."""
    with open_regular(path) as f:
        return hash_stream(f, hasher)


def hash_stream(f: IO[bytes], hasher: hashlib._Hash | None = None) -> hashlib._Hash:
    h = hasher or hashlib.sha256()
    while chunk := f.read(1 << 20):
        h.update(chunk)
    return h

"""Where swictation-rpc keeps its files: platformdirs' user dirs, overridable from the environment.

``SWICTATION_DATA_DIR`` moves everything (tests use a throwaway one); ``SWICTATION_MODELS_DIR``
moves only the models, as does the ``models.modelsDir`` setting.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

import platformdirs

APP_NAME = "swictation-rpc"


def data_dir() -> Path:
    override = os.environ.get("SWICTATION_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def models_dir(configured: str | None = None) -> Path:
    if configured:
        return Path(configured).expanduser()
    override = os.environ.get("SWICTATION_MODELS_DIR")
    return Path(override) if override else data_dir() / "models"


def history_dir() -> Path:
    return data_dir() / "history"


def log_dir() -> Path:
    override = os.environ.get("SWICTATION_DATA_DIR")
    if override:
        return Path(override) / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` readable by the user only: it holds what the user said.

    Missing parents are created 0700 too (as the XDG spec asks), whatever the umask: with
    ``mkdir(parents=True)`` they would get 0777 minus the umask, e.g. a world-writable
    ``~/.local/share/swictation-rpc`` under umask 0. Folders that already exist are left as they are.
    """
    missing = []
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    return path


# -- files and folders the server creates: never through a symlink, never a special file ---------
#
# A data folder moved elsewhere with a symlink (``ln -s /mnt/big/history ...``) is followed for the
# *location*: files are created inside it. It is never followed to *change* something: modes are
# tightened through a descriptor opened with ``O_NOFOLLOW`` (so a link, and the folder or file it
# points to, keeps its mode), appends refuse a symlink or anything but a regular file, and only
# files the server names itself are ever removed (see ``swictation_rpc.history``).

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def open_private_fd(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open`` for a regular file of ours: created 0600, never through a symlink, never blocking.

    Raises :class:`OSError` for a symlink (``ELOOP``), a FIFO without a reader (``ENXIO``), or any
    other non-regular file (``EINVAL``). Only a file this call created (``O_CREAT|O_EXCL`` first) is
    made private through the descriptor; an existing one keeps its mode (it may be the user's, in a
    folder that is a symlink to theirs).
    """
    base = flags | _NOFOLLOW | _CLOEXEC | _NONBLOCK
    created = False
    if flags & os.O_CREAT and not flags & os.O_EXCL:
        for attempt in range(3):  # a file removed between the two opens: create it again
            try:
                fd = os.open(path, base | os.O_EXCL, 0o600)
                created = True
                break
            except FileExistsError:
                try:
                    fd = os.open(path, base & ~os.O_CREAT)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
    else:
        fd = os.open(path, base, 0o600)
        created = bool(flags & os.O_EXCL)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        os.set_blocking(fd, True)
        if created:
            tighten_fd(fd, info)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private_append(
    path: str | os.PathLike[str], *, encoding: str | None = "utf-8", errors: str | None = None
) -> io.TextIOWrapper:
    """A text file opened for appending: the log file. See :func:`open_private_fd`.

    The log handler's ``_open`` is ``return paths.open_private_append(self.baseFilename,
    encoding=self.encoding, errors=self.errors)``: a ``server.log`` that is a symlink (to a
    ``.bashrc``, say) is refused (the server logs to stderr only) instead of appended to.
    """
    fd = open_private_fd(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    return open(fd, "a", encoding=encoding, errors=errors)


def tighten_fd(fd: int, info: os.stat_result | None = None) -> None:
    """Make an open file or folder of ours private (no group or other bits); never raises."""
    try:
        info = info or os.fstat(fd)
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, mode & 0o700)
    except (OSError, AttributeError):  # AttributeError: no geteuid/fchmod (Windows)
        pass


def tighten_dir(path: str | os.PathLike[str]) -> bool:
    """Make the folder ``path`` private if it is a real folder (not a symlink to one) of ours.

    Returns whether ``path`` is a real folder; a symlinked one (followed for the location only)
    keeps its own mode and the mode of what it points to.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC)
    except OSError:
        return False
    try:
        tighten_fd(fd)
    finally:
        os.close(fd)
    return True

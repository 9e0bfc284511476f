"""Where the server's logs go: stderr, a private rotating log file, and ``window/logMessage``.

stdout is the wire, so nothing may log there. :func:`configure_logging` sets up stderr and the log
file for ``serve``; :class:`LspLogHandler` mirrors records to the client once it is connected.
"""

from __future__ import annotations

import errno
import io
import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types

from swictation_rpc import paths

logger = logging.getLogger(__name__)

#: ``logLevel`` setting / ``--log-level`` -> logging level.
LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
#: logging level -> ``window/logMessage`` type.
MESSAGE_TYPES = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
    logging.DEBUG: types.MessageType.Log,
}


class LspLogHandler(logging.Handler):
    """Mirror log records to the client as ``window/logMessage`` once it may receive them.

    ``ready()`` says whether the client may be sent messages yet; ``send`` sends one.
    """

    def __init__(self, send: Callable[[types.LogMessageParams], None], ready: Callable[[], bool]):
        super().__init__()
        self._send = send
        self._ready = ready
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "on", False) or not self._ready():
            return
        self._busy.on = True
        try:
            kind = MESSAGE_TYPES.get(record.levelno, types.MessageType.Log)
            if record.levelno >= logging.ERROR:
                kind = types.MessageType.Error
            self._send(types.LogMessageParams(type=kind, message=self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never break the server
            pass
        finally:
            self._busy.on = False


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The log file (and each one started by a rotation) is the user's only, whatever the umask:
    logs quote what the user dictated. A ``server.log`` that is a symlink or not a regular file is
    refused (the server logs to stderr only) rather than appended to."""

    def _open(self) -> io.TextIOWrapper:
        # Private, never through a symlink or onto a FIFO (issue 19, item 1): see paths.open_private_fd.
        return paths.open_private_append(self.baseFilename, encoding=self.encoding, errors=self.errors)


def configure_logging(level: str | None, log_file: str | Path | None = None) -> Path | None:
    """stderr plus a log file (stdout is the wire, so nothing may log there).

    Returns the log file in use, or ``None`` when it could not be opened.
    """
    numeric = LOG_LEVELS.get((level or "info").lower(), logging.INFO)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):  # e.g. the CLI's basicConfig: the server configures its own
        root.removeHandler(handler)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(numeric)
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    # pygls logs every frame at INFO, audio included: keep it quiet unless debugging.
    logging.getLogger("pygls").setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    path = Path(log_file) if log_file else paths.log_dir() / "server.log"
    try:
        paths.ensure_private_dir(path.parent)
        file_handler = PrivateRotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        file_handler.setLevel(min(numeric, logging.INFO))
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    except OSError as exc:
        logger.warning("%s", _log_file_problem(path, exc))
        return None
    return path


def _log_file_problem(path: Path, exc: OSError) -> str:
    """A sentence for a log file that could not be opened, with what to do about it."""
    if exc.errno == errno.ELOOP:
        return (
            f"The log file {path} is a symbolic link and was not used (the server never writes through "
            "a link): logging to stderr only. Remove the link to get a log file again."
        )
    if exc.errno in (errno.EINVAL, errno.ENXIO):
        return (
            f"The log file {path} is not a regular file and was not used: logging to stderr only. "
            "Remove it (or move it away) to get a log file again."
        )
    reason = exc.strerror or str(exc)
    return f"The log file {path} could not be opened ({reason}) and was not used: logging to stderr only."

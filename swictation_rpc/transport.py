"""LSP framing over byte streams: a bounded frame reader, a locked writer, the stdin reader thread.

Where pygls 2.1.1 falls short and this module steps in:

- pygls reads stdin on its handler thread pool, so busy handlers could starve the reader; we read
  on a dedicated thread (:func:`start_reader`);
- pygls writes frames from whichever thread finished a handler, unlocked; :class:`LockedWriter`
  writes each frame whole;
- pygls reads whatever ``Content-Length`` says into memory; :class:`FrameReader` discards a body
  above ``--max-message-bytes`` unread (reporting it as :class:`Oversized`), caps header lines,
  and finds the next frame after one whose length was wrong.

Nothing here knows JSON-RPC: frames are bytes, and what to do with them is the caller's.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import IO

import attrs

logger = logging.getLogger(__name__)

#: Default for ``serve --max-message-bytes``: far above any real request (64 MiB holds 25 minutes of
#: inline 16 kHz audio), far below what would hurt the machine.
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
#: A header line longer than this is not a header: it is skipped without being kept.
MAX_HEADER_LINE_BYTES = 8192
_DISCARD_CHUNK_BYTES = 1 << 16
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")


class LockedWriter:
    """Frames go out whole: handlers finish on worker threads as well as on the event loop."""

    def __init__(self, stream: IO[bytes]):
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                self._stream.write(data)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                # The client went away; the reader sees EOF and ends the server.
                self.closed = True

    def close(self) -> None:
        with self._lock:
            self.closed = True
            try:
                self._stream.close()
            except OSError:
                pass


@attrs.frozen
class Oversized:
    """A frame whose Content-Length is above the limit: its body was discarded, never kept."""

    length: int
    limit: int


class FrameReader:
    """LSP frames (``Content-Length`` headers, blank line, body) from a byte stream, bounded.

    Nothing a client sends can make it hold more than ``max_message_bytes`` plus one header
    line (:data:`MAX_HEADER_LINE_BYTES`): a longer header line is skipped in pieces, and a body
    above the limit is read and thrown away in chunks (the stream stays in step) and reported
    as :class:`Oversized`. Header names are case-insensitive, a bare ``\\n`` line end is
    tolerated, and a ``Content-Length`` header glued to the junk left by a frame whose length
    was too short is still found, so the frame after a broken one is read. A header block
    without a usable ``Content-Length`` is skipped (there is no body boundary to recover).
    """

    def __init__(self, stream: IO[bytes], max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self._stream = stream
        self.max_message_bytes = max_message_bytes

    def __iter__(self) -> Iterator[bytes | Oversized]:
        while True:
            try:
                length = self._header_block()
            except EOFError:
                return
            if length is None:
                logger.warning("Skipping a frame without a valid Content-Length header")
                continue
            if length > self.max_message_bytes:
                logger.warning(
                    "Discarding a message of %d bytes: the limit is %d (--max-message-bytes)",
                    length,
                    self.max_message_bytes,
                )
                yield Oversized(length, self.max_message_bytes)
                if not self._discard(length):
                    return
                continue
            body = self._stream.read(length) if length else b""
            if len(body) < length:
                logger.info("stdin closed in the middle of a %d-byte frame", length)
                return
            yield body

    def _line(self) -> bytes:
        line = self._stream.readline(MAX_HEADER_LINE_BYTES)
        if not line:
            raise EOFError
        if len(line) >= MAX_HEADER_LINE_BYTES and not line.endswith(b"\n"):
            # Not a header: drop the line piece by piece, keeping only its end, where the next
            # frame's Content-Length may be glued to the junk.
            logger.warning("Ignoring a line longer than %d bytes", MAX_HEADER_LINE_BYTES)
            tail = line[-64:]
            while True:
                more = self._stream.readline(MAX_HEADER_LINE_BYTES)
                if not more:
                    raise EOFError
                if more.endswith(b"\n"):
                    return (tail + more)[-MAX_HEADER_LINE_BYTES:]
                tail = more[-64:]
        return line

    def _header_block(self) -> int | None:
        """The Content-Length of the next header block (``None`` if it has no valid one)."""
        length: int | None = None
        saw_header = False
        while True:
            stripped = self._line().strip()
            if not stripped:
                if saw_header:
                    return length
                continue
            saw_header = True
            at = stripped.lower().rfind(b"content-length:")
            if at > 0:
                # What a frame whose Content-Length was too short left behind, then the next
                # frame's header: resynchronise on the header.
                logger.warning("Ignoring %d bytes of junk before a Content-Length header", at)
                stripped = stripped[at:]
            name, sep, value = stripped.partition(b":")
            if not sep:
                logger.warning("Ignoring a line that is not a header: %r", stripped[:80])
                saw_header = False
                continue
            if name.strip().lower() == b"content-length":
                digits = value.strip()
                # Strictly ASCII digits: int() would also take "+5", "1_0" and other scripts' digits.
                length = int(digits) if _CONTENT_LENGTH.fullmatch(digits) else None

    def _discard(self, length: int) -> bool:
        """Read and drop ``length`` bytes in chunks; False at end of input."""
        remaining = length
        while remaining > 0:
            chunk = self._stream.read(min(remaining, _DISCARD_CHUNK_BYTES))
            if not chunk:
                return False
            remaining -= len(chunk)
        return True


def start_reader(
    stdin: IO[bytes],
    max_message_bytes: int,
    on_frame: Callable[[bytes | Oversized], None],
    on_end: Callable[[], None],
) -> threading.Thread:
    """Read frames on a dedicated thread and hand each to ``on_frame``; ``on_end`` at end of input.

    A dedicated thread, so a busy handler pool never stops the server from reading ``exit``.
    The callbacks run on the reader thread: they move the work to the event loop themselves.
    """

    def read() -> None:
        try:
            for frame in FrameReader(stdin, max_message_bytes):
                on_frame(frame)
        except (OSError, ValueError):
            logger.info("stdin is no longer readable")
        finally:
            on_end()

    reader = threading.Thread(target=read, name="stdin-reader", daemon=True)
    reader.start()
    return reader

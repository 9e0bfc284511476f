"""Give the heap the decoders freed back to the system, a moment after the last decode.

A decode allocates and frees hundreds of MB of buffers (CTranslate2, onnxruntime, numpy) on
whichever thread ran it; glibc keeps freed memory in per-thread arenas instead of returning it, so
a server's RSS climbs ~80 MB over its first requests and stays there (issue 17: 199 -> 277 MB after
5 transcriptions of the bundled model, flat after). ``malloc_trim(0)`` returns it; it walks the
heap (a few ms), so it runs on a timer thread once decoding has been idle for
:data:`TRIM_AFTER_S`, never on a request's path. The server also caps glibc's arenas
(:func:`limit_arenas`): decodes run one at a time per model, and every extra arena keeps its own
freed memory. Measured through the server, 50 transcriptions of the bundled sample: 199 -> 273 MB
before; 198 -> 207 MB (idle) with both. Not glibc (macOS, musl): nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

#: Trim once no decode has started or finished for this long.
TRIM_AFTER_S = 1.0
#: glibc arenas the server allows (its default is 8 per core).
MAX_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_arenas(count: int = MAX_ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads started from now on; false where that is not glibc."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, count))


def _malloc_trim() -> Any:
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """``decoded()`` after each decode; the heap is trimmed once decoding has been idle a while.

    One thread waits for that, started at the first decode: ``decoded()`` only notes the time
    (starting a timer thread per decode cost ~1 ms of a 11 ms transducer decode)."""

    def __init__(self, after_s: float = TRIM_AFTER_S):
        self._after_s = after_s
        self._trim = _malloc_trim()
        self._changed = threading.Condition()
        self._last_decode: float | None = None  # monotonic time of the last decode not yet trimmed after
        self._thread: threading.Thread | None = None
        self._closed = False
        self.trims = 0

    @property
    def available(self) -> bool:
        return self._trim is not None

    def decoded(self) -> None:
        if self._trim is None:
            return
        with self._changed:
            if self._closed:
                return
            self._last_decode = time.monotonic()
            if self._thread is None:
                self._thread = threading.Thread(target=self._wait_and_trim, name="heap-trim", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _wait_and_trim(self) -> None:
        with self._changed:
            while not self._closed:
                if self._last_decode is None:
                    self._changed.wait()
                    continue
                idle = time.monotonic() - self._last_decode
                if idle < self._after_s:
                    self._changed.wait(self._after_s - idle)
                    continue
                self._last_decode = None
                try:
                    self._trim(0)
                    self.trims += 1
                except Exception as exc:  # noqa: BLE001 - memory housekeeping must never cost a request
                    logger.debug("malloc_trim failed: %s", exc)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()

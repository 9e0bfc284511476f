"""A local HTTP server for model-download tests: 127.0.0.1 only, Range requests, scripted faults.

Serves byte strings registered with :meth:`ModelServer.add`. Faults for the next requests of a
path: drop the connection after N bytes (:meth:`drop_after`), answer a status (:meth:`fail_with`),
redirect (:meth:`redirect`), send part of the body and wait until the test lets the rest go
(:meth:`hold_after`: a transfer that is surely still running, to cancel). Every request is recorded (path and Range header) so a test can
prove a resume really sent ``Range: bytes=N-``.
"""

from __future__ import annotations

import re
import socket
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs

_HOST = "127.0.0.1"
#: A held transfer waits at most this long for the test to let it go on.
HOLD_LIMIT_S = 120.0


@attrs.define
class Request:
    path: str
    range: str | None


class ModelServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[Request] = []
        self._drops: dict[str, list[int]] = defaultdict(list)
        self._statuses: dict[str, list[int]] = defaultdict(list)
        self._redirects: dict[str, str] = {}
        self._holds: dict[str, list[tuple[int, threading.Event]]] = defaultdict(list)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer((_HOST, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{_HOST}:{self._httpd.server_port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def add(self, path: str, data: bytes) -> str:
        self.files["/" + path.lstrip("/")] = data
        return self.url(path)

    def drop_after(self, path: str, nbytes: int, times: int = 1) -> None:
        """The next ``times`` GETs of ``path`` send full headers, ``nbytes`` of body, then hang up."""
        self._drops["/" + path.lstrip("/")].extend([nbytes] * times)

    def fail_with(self, path: str, status: int, times: int = 1) -> None:
        self._statuses["/" + path.lstrip("/")].extend([status] * times)

    def hold_after(self, path: str, nbytes: int) -> threading.Event:
        """The next GET of ``path`` sends ``nbytes`` of body, then waits for the returned event to be set.

        The rest is sent once it is set (nothing if the client has hung up meanwhile). Use a
        multiple of the client's read size so that every byte before the hold reaches it.
        """
        release = threading.Event()
        self._holds["/" + path.lstrip("/")].append((nbytes, release))
        return release

    def redirect(self, path: str, location: str) -> None:
        self._redirects["/" + path.lstrip("/")] = location

    def requests_for(self, path: str) -> list[Request]:
        p = "/" + path.lstrip("/")
        return [r for r in self.requests if r.path == p]

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        rng = h.headers.get("Range")
        with self._lock:
            self.requests.append(Request(path, rng))
            status = self._statuses[path].pop(0) if self._statuses[path] else None
            drop = self._drops[path].pop(0) if self._drops[path] else None
            hold = self._holds[path].pop(0) if self._holds[path] else None
        if path in self._redirects:
            h.send_response(302)
            h.send_header("Location", self._redirects[path])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if status is not None:
            h.send_error(status)
            return
        data = self.files.get(path)
        if data is None:
            h.send_error(404)
            return
        start = 0
        if rng:
            m = re.fullmatch(r"bytes=(\d+)-", rng.strip())
            if m:
                start = int(m.group(1))
                if start >= len(data):
                    h.send_response(416)
                    h.send_header("Content-Range", f"bytes */{len(data)}")
                    h.send_header("Content-Length", "0")
                    h.end_headers()
                    return
        body = data[start:]
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Type", "application/octet-stream")
        h.end_headers()
        if drop is not None:
            h.wfile.write(body[: max(0, drop - start)])
            h.wfile.flush()
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            h.close_connection = True
            return
        if hold is not None:
            nbytes, release = hold
            try:
                h.wfile.write(body[: max(0, nbytes - start)])
                h.wfile.flush()
                release.wait(HOLD_LIMIT_S)
                h.wfile.write(body[max(0, nbytes - start) :])
            except OSError:  # the client hung up (a cancelled download)
                h.close_connection = True
            return
        h.wfile.write(body)

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

"""A minimal LSP-framed JSON-RPC client over a subprocess's pipes (standard library only).

Just enough to drive ``swictation-rpc serve --stdio`` the way an editor does: requests with ids,
answers to the server's own requests, notifications ignored. A reader thread parses frames and
stamps each response with ``perf_counter()`` the moment its body is parsed, so a measured
round trip covers the wire, the server and the JSON on both sides, and nothing of the waiting.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any


class ServerError(Exception):
    """The server answered a request with a JSON-RPC error, or went away."""


class LspClient:
    def __init__(self, command: list[str], *, env: dict[str, str], cwd: Path, stderr: IO[bytes]):
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd
        )
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self._responses: dict[Any, tuple[float, dict[str, Any]]] = {}
        self._closed = False
        #: Answers to the server's requests; anything else gets ``null``.
        self.answers: dict[str, Any] = {"workspace/configuration": []}
        self._reader = threading.Thread(target=self._read_loop, name="lsp-reader", daemon=True)
        self._reader.start()

    # -- wire -----------------------------------------------------------------------------------

    @staticmethod
    def frame(message: dict[str, Any]) -> bytes:
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        return b"Content-Length: %d\r\n\r\n" % len(body) + body

    def write(self, frame: bytes) -> None:
        with self._write_lock:
            stdin = self.proc.stdin
            if stdin is None:
                raise ServerError("the server's stdin is closed")
            stdin.write(frame)
            stdin.flush()

    def _read_loop(self) -> None:
        stream = self.proc.stdout
        try:
            while stream is not None:
                length = None
                while True:
                    line = stream.readline()
                    if not line:
                        return
                    if not line.strip():
                        if length is not None:
                            break
                        continue
                    name, _, value = line.decode("ascii", "replace").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = stream.read(length)
                if len(body) < length:
                    return
                message = json.loads(body)
                stamp = time.perf_counter()
                self._dispatch(message, stamp)
        except (OSError, ValueError):
            return
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _dispatch(self, message: dict[str, Any], stamp: float) -> None:
        if "method" in message:
            if "id" in message:  # a request from the server: answer so it never waits on us
                result = self.answers.get(message["method"])
                self.write(self.frame({"jsonrpc": "2.0", "id": message["id"], "result": result}))
            return
        with self._cond:
            self._responses[message.get("id")] = (stamp, message)
            self._cond.notify_all()

    # -- requests -------------------------------------------------------------------------------

    def prepare(self, method: str, params: Any) -> tuple[int, bytes]:
        """A request's id and frame, built ahead so the timed part is the exchange alone."""
        request_id = next(self._ids)
        return request_id, self.frame({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})

    def wait(self, request_id: int, timeout: float) -> tuple[float, Any]:
        """(perf_counter when the response arrived, its result); raises :class:`ServerError`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while request_id not in self._responses:
                if self._closed:
                    raise ServerError(f"the server exited (code {self.proc.poll()}) before answering")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerError(f"no answer to request {request_id} within {timeout:.0f} s")
                self._cond.wait(left)
            stamp, message = self._responses.pop(request_id)
        if "error" in message:
            error = message["error"]
            raise ServerError(f"{error.get('code')}: {error.get('message')}")
        return stamp, message.get("result")

    def request(self, method: str, params: Any, timeout: float = 300.0) -> Any:
        request_id, frame = self.prepare(method, params)
        self.write(frame)
        return self.wait(request_id, timeout)[1]

    def timed(self, request_id: int, frame: bytes, timeout: float = 300.0) -> tuple[float, Any]:
        """Send a prepared request; (seconds from write to parsed response, result)."""
        started = time.perf_counter()
        self.write(frame)
        stamp, result = self.wait(request_id, timeout)
        return stamp - started, result

    def notify(self, method: str, params: Any) -> None:
        self.write(self.frame({"jsonrpc": "2.0", "method": method, "params": params}))

    # -- lifecycle ------------------------------------------------------------------------------

    def initialize(self, options: dict[str, Any], timeout: float = 120.0) -> Any:
        result = self.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": None, "capabilities": {}, "initializationOptions": options},
            timeout,
        )
        self.notify("initialized", {})
        return result

    def engine_ready(self, timeout: float) -> tuple[bool, dict[str, Any]]:
        """Poll ``swictation/status`` until the engine is loaded and idle (true), an error state
        or ``timeout`` seconds (false); with the last status either way."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.request("swictation/status", {}, timeout=timeout)
            if status.get("engine", {}).get("ready") and status.get("state") == "idle":
                return True, status
            if status.get("state") == "error" or time.monotonic() > deadline:
                return False, status
            time.sleep(0.02)

    def close(self, timeout: float = 10.0) -> int | None:
        """``shutdown`` + ``exit``; kills the server if it does not leave in time."""
        if self.proc.poll() is None:
            try:
                self.request("shutdown", None, timeout)
                self.notify("exit", None)
            except (ServerError, OSError):
                pass
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

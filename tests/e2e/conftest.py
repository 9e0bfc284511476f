"""The real server over real pipes, and a small LSP-framed JSON-RPC client to drive it.

Like pygls' own tests: start ``swictation-rpc serve --stdio`` as a subprocess, hand back an
initialized client. The client answers the server's requests (``workspace/configuration``,
``window/workDoneProgress/create``, ``workspace/applyEdit``) with handlers a test can replace,
collects notifications, and records anything on stdout that is not a well-formed frame.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The sentence the session's speech clip says (compared with a WER bound, never exactly).
SENTENCE = "Please rename the variable to user count and open the settings file."
DEFAULT_TIMEOUT_S = 60.0


def server_command() -> list[str]:
    if (REPO / "swictation_rpc" / "cli.py").exists():
        return [sys.executable, "-m", "swictation_rpc", "serve", "--stdio"]
    return [sys.executable, "-m", "swictation_rpc.commands.serve", "--stdio"]


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]):
        self.error = error
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data")
        super().__init__(f"{self.code}: {self.message}")


class RpcClient:
    """JSON-RPC 2.0 with LSP framing over a subprocess's stdin/stdout."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, stderr_path: Path):
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env, cwd=cwd
        )
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self.responses: dict[Any, dict[str, Any]] = {}
        self.notifications: list[tuple[str, Any]] = []
        self.server_requests: list[tuple[str, Any]] = []
        #: Non-frame bytes seen on stdout: must stay empty (stdout carries protocol messages only).
        self.junk: list[bytes] = []
        self.closed = False
        self.handlers: dict[str, Callable[[Any], Any]] = {
            "window/workDoneProgress/create": lambda params: None,
            "workspace/configuration": lambda params: [None for _ in params.get("items", [])],
            "workspace/applyEdit": lambda params: {"applied": True},
            "client/registerCapability": lambda params: None,
        }
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- wire -------------------------------------------------------------------------------------

    def send_raw(self, body: bytes, *, header: bytes | None = None) -> None:
        frame = (header if header is not None else f"Content-Length: {len(body)}\r\n\r\n".encode()) + body
        with self._write_lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(frame)
            self.proc.stdin.flush()

    def send(self, message: Any) -> None:
        self.send_raw(json.dumps(message).encode("utf-8"))

    def _read_loop(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        try:
            while True:
                length = None
                while True:
                    line = stream.readline()
                    if not line:
                        return
                    if line == b"\r\n":
                        break
                    name, _, value = line.decode("ascii", "replace").partition(":")
                    if name.lower() == "content-length":
                        length = int(value.strip())
                    elif name.lower() != "content-type":
                        self.junk.append(line)
                if length is None:
                    self.junk.append(b"<frame without Content-Length>")
                    continue
                body = stream.read(length)
                try:
                    message = json.loads(body)
                except ValueError:
                    self.junk.append(body)
                    continue
                self._dispatch(message)
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            method, params = message["method"], message.get("params")
            with self._cond:
                self.server_requests.append((method, params))
                self._cond.notify_all()
            handler = self.handlers.get(method)
            if handler is None:
                self.send(
                    {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "error": {"code": -32601, "message": f"test client: no handler for {method}"},
                    }
                )
            else:
                try:
                    self.send({"jsonrpc": "2.0", "id": message["id"], "result": handler(params)})
                except Exception as exc:  # noqa: BLE001
                    self.send({"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32603, "message": str(exc)}})
        elif "method" in message:
            with self._cond:
                self.notifications.append((message["method"], message.get("params")))
                self._cond.notify_all()
        else:
            with self._cond:
                self.responses[message.get("id")] = message
                self._cond.notify_all()

    # -- requests and notifications ---------------------------------------------------------------

    def request_async(self, method: str, params: Any = None) -> int:
        msg_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id

    def response(self, msg_id: Any, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
        """The whole response message (``result`` or ``error``) for ``msg_id``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self.responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    raise TimeoutError(f"no response to {msg_id!r}; stderr:\n{self.dump_stacks()}")
                self._cond.wait(remaining)
            return self.responses.pop(msg_id)

    def result(self, msg_id: Any, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        message = self.response(msg_id, timeout)
        if "error" in message:
            raise RpcError(message["error"])
        return message["result"]

    def request(self, method: str, params: Any = None, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        return self.result(self.request_async(method, params), timeout)

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Any], bool] = lambda params: True,
        timeout: float = DEFAULT_TIMEOUT_S,
        *,
        start: int = 0,
        requests: bool = False,
    ) -> Any:
        """The first notification (or server request) ``method`` at index >= ``start`` matching ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                seen = self.server_requests if requests else self.notifications
                for name, params in seen[start:]:
                    if name == method and predicate(params):
                        return params
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.closed:
                    raise TimeoutError(
                        f"no {method} notification; got {[n for n, _ in seen]}; stderr:\n{self.dump_stacks()}"
                    )
                self._cond.wait(remaining)

    def of(self, method: str) -> list[Any]:
        with self._cond:
            return [params for name, params in self.notifications if name == method]

    # -- lifecycle --------------------------------------------------------------------------------

    def initialize(
        self,
        initialization_options: Any = None,
        capabilities: dict[str, Any] | None = None,
        *,
        send_initialized: bool = True,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "processId": os.getpid(),
            "rootUri": None,
            "capabilities": capabilities if capabilities is not None else CLIENT_CAPABILITIES,
            "clientInfo": {"name": "swictation-e2e"},
        }
        if initialization_options is not None:
            params["initializationOptions"] = initialization_options
        result = self.request("initialize", params)
        if send_initialized:
            self.notify("initialized", {})
        return result

    def wait_ready(self, timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
        """Block until the engine is loaded (a status request after a waiting transcribe-free check)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.request("swictation/status", {})
            if status["engine"]["ready"] and status["state"] != "loading":
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"engine not ready: {status}")
            time.sleep(0.05)

    def shutdown_and_exit(self, timeout: float = 30) -> int:
        self.request("shutdown")
        self.notify("exit")
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._stderr.close()

    def dump_stacks(self) -> str:
        """Ask a live server for every thread's stack (``serve`` registers SIGUSR1), then the stderr tail."""
        if self.proc.poll() is None and hasattr(signal, "SIGUSR1"):
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
        return self.stderr_tail(12_000)

    def stderr_tail(self, chars: int = 4000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if not self._stderr.closed:
            self._stderr.close()


#: What a capable editor advertises: progress, pull configuration, server-applied edits.
CLIENT_CAPABILITIES: dict[str, Any] = {
    "window": {"workDoneProgress": True, "showMessage": {}},
    "workspace": {"configuration": True, "applyEdit": True, "didChangeConfiguration": {"dynamicRegistration": False}},
}


@pytest.fixture(scope="session")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    env["SWICTATION_DATA_DIR"] = str(tmp_path_factory.mktemp("server-data"))
    env.pop("SWICTATION_MODELS_DIR", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def start_server(server_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., RpcClient]]:
    """``start_server(env_extra=None, args=()) -> RpcClient`` (not yet initialized); killed at teardown."""
    clients: list[RpcClient] = []

    def _start(env_extra: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> RpcClient:
        env = dict(server_env)
        env.update(env_extra or {})
        command = server_command() + list(args)
        client = RpcClient(command, env, REPO, tmp_path / f"server-{len(clients)}.stderr")
        clients.append(client)
        return client

    yield _start
    for client in clients:
        client.kill()


@pytest.fixture
def client(start_server: Callable[..., RpcClient]) -> RpcClient:
    """A fresh, initialized server with default settings (the bundled Whisper tiny.en engine)."""
    rpc = start_server()
    rpc.initialize()
    return rpc


@pytest.fixture(scope="module")
def shared_client(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpcClient]:
    """One initialized server for a module's tests that leave no state behind (faster)."""
    rpc = RpcClient(server_command(), server_env, REPO, tmp_path_factory.mktemp("shared") / "server.stderr")
    rpc.initialize()
    rpc.wait_ready()
    yield rpc
    rpc.kill()


@pytest.fixture(scope="session")
def sentence_wav(speech_wav: Callable[..., Path]) -> Path:
    """Piper (real speech synthesis) saying :data:`SENTENCE`, 16 kHz mono WAV."""
    return speech_wav(SENTENCE)


def transcribe_params(path: Path | str, line: int = 0, character: int = 0, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "textDocument": {"uri": "file:///tmp/example.py"},
        "position": {"line": line, "character": character},
        "audio": {"path": str(path)},
    }
    params.update(extra)
    return params

"""The real server as a child process, with the knobs fault injection needs.

Every server here runs ``swictation-rpc serve --stdio`` (or ``fault_server.py``, the same command
with a fault-injecting engine factory) over real pipes, with a data folder of its own and no
sound server unless a test gives it one. :class:`Server` extends the e2e client with what the
reliability tests need: raw writes, every incoming message in arrival order, the process's
resources (RSS, threads, descriptors, sockets) and a liveness probe that fails the test if the
server died or stopped answering.

Short forms run in the normal test command; ``SWICTATION_RELIABILITY_LONG=1`` runs the long
ones (more fuzzing examples, a longer soak). Figures for the README (inputs tried, faults
survived, RSS growth) are collected in ``test-artifacts/reliability.json``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.audio.conftest import pipe_mic, second_server, speech, virtual_mic, wav_of  # noqa: F401 (fixtures)
from tests.e2e.conftest import CLIENT_CAPABILITIES, REPO, RpcClient, server_command

HERE = Path(__file__).resolve().parent
ARTIFACTS = REPO / "test-artifacts"
#: Long forms (fuzzing, soak) on demand: ``SWICTATION_RELIABILITY_LONG=1``.
LONG = os.environ.get("SWICTATION_RELIABILITY_LONG", "") not in ("", "0", "false")
#: A probe that takes longer than this means the server hangs.
PROBE_TIMEOUT_S = 30.0
#: No sound server: a test that needs a microphone gives its server a private PulseAudio.
NO_SOUND = {"PULSE_SERVER": "unix:/nonexistent/swictation-no-sound", "PULSE_SOURCE": "", "PULSE_SINK": ""}

_figures: dict[str, Any] = {}
_figures_lock = threading.Lock()


def record_figure(name: str, value: Any) -> None:
    """A number for the README's reliability section (written at the end of the run)."""
    with _figures_lock:
        _figures[name] = value


def add_figure(name: str, amount: int = 1) -> None:
    with _figures_lock:
        _figures[name] = _figures.get(name, 0) + amount


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _figures:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "reliability.json"
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        previous = {}
    previous.update(_figures)
    path.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")


def write_artifact(name: str, data: Any) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def fault_server_command() -> list[str]:
    """The serve command with the fault-injecting engine factory of ``fault_server.py``."""
    return [sys.executable, str(HERE / "fault_server.py"), "--stdio"]


class Server(RpcClient):
    """The e2e client plus: Popen knobs, every message in order, resources, a liveness probe."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        stderr_path: Path,
        *,
        preexec_fn: Callable[[], None] | None = None,
    ):
        # RpcClient.__init__ without its Popen, which takes no preexec_fn.
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=REPO,
            preexec_fn=preexec_fn,
        )
        self.env = env
        self.init_result: dict[str, Any] | None = None
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._cond = threading.Condition()
        self.responses = {}
        self.notifications = []
        self.server_requests = []
        self.junk = []
        self.closed = False
        #: Every message from the server, in arrival order (responses with id null included).
        self.messages: list[dict[str, Any]] = []
        self.handlers = {
            "window/workDoneProgress/create": lambda params: None,
            "workspace/configuration": lambda params: [None for _ in params.get("items", [])],
            "workspace/applyEdit": lambda params: {"applied": True},
            "client/registerCapability": lambda params: None,
        }
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.ps = psutil.Process(self.proc.pid)

    @property
    def data_dir(self) -> Path:
        return Path(self.env["SWICTATION_DATA_DIR"])

    def _read_loop(self) -> None:
        try:
            super()._read_loop()
        except (ValueError, OSError):
            pass  # the test closed the server's stdout itself (a client that died)

    def _dispatch(self, message: dict[str, Any]) -> None:
        with self._cond:
            self.messages.append(message)
        super()._dispatch(message)

    def write(self, data: bytes) -> None:
        """Raw bytes onto the server's stdin."""
        with self._write_lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def since(self, start: int) -> list[dict[str, Any]]:
        with self._cond:
            return list(self.messages[start:])

    def null_id_errors(self, start: int) -> list[dict[str, Any]]:
        return [m for m in self.since(start) if "id" in m and m["id"] is None and "method" not in m]

    def probe(self, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
        """A status request with an id no fuzz input uses; fails the test if it is not answered."""
        probe_id = f"probe-{uuid.uuid4().hex}"
        self.send({"jsonrpc": "2.0", "id": probe_id, "method": "swictation/status", "params": {}})
        try:
            message = self.response(probe_id, timeout)
        except TimeoutError:
            alive = self.proc.poll() is None
            pytest.fail(
                f"the server {'hangs' if alive else f'died (exit {self.proc.returncode})'}: "
                f"no answer to a status probe within {timeout:.0f} s\n{self.dump_stacks()}",
                pytrace=False,
            )
        assert "result" in message, message
        return message["result"]

    def assert_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"the server died (exit {self.proc.returncode}):\n{self.stderr_tail(6000)}", pytrace=False)

    # -- resources of the server process --------------------------------------------------------

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def peak_rss_mb(self) -> float:
        """VmHWM: the highest RSS the process ever had."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/PID/status")

    def threads(self) -> int:
        return self.ps.num_threads()

    def fds(self) -> int:
        return self.ps.num_fds()

    def inet_sockets(self) -> list[Any]:
        """The server's own TCP/UDP sockets (IPv4 and IPv6), open right now."""
        return list(self.ps.net_connections(kind="inet"))


def server_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(NO_SOUND)
    env["SWICTATION_DATA_DIR"] = str(data_dir)
    env.pop("SWICTATION_MODELS_DIR", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return {key: value for key, value in env.items() if value != "" or key not in NO_SOUND}


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``spawn(settings=None, env=None, args=(), fault=False, ...) -> Server``; killed at teardown.

    Initialized (with ``settings`` as initializationOptions) and, unless ``wait_ready=False``,
    with its engine loaded. Each server gets a data folder of its own under the test's tmp_path.
    """
    servers: list[Server] = []

    def _spawn(
        settings: dict[str, Any] | None = None,
        *,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        fault: bool = False,
        initialize: bool = True,
        wait_ready: bool = True,
        preexec_fn: Callable[[], None] | None = None,
        data_dir: Path | None = None,
        capabilities: dict[str, Any] | None = None,
        replace_env: dict[str, str] | None = None,
    ) -> Server:
        data = data_dir or tmp_path / f"data-{len(servers)}"
        full_env = replace_env if replace_env is not None else server_env(data, env)
        command = (fault_server_command() if fault else server_command()) + list(args)
        server = Server(command, full_env, tmp_path / f"server-{len(servers)}.stderr", preexec_fn=preexec_fn)
        servers.append(server)
        if initialize:
            server.initialize(settings if settings is not None else {}, capabilities=capabilities)
            if wait_ready:
                server.wait_ready()
        return server

    yield _spawn
    for server in servers:
        server.kill()


class LiveServer:
    """One server reused across many examples; a dead one is restarted for the next test."""

    def __init__(self, make: Callable[[], Server]):
        self._make = make
        self.server: Server | None = None
        self.deaths = 0

    def get(self) -> Server:
        if self.server is None or self.server.proc.poll() is not None:
            if self.server is not None:
                self.deaths += 1
                self.server.kill()
            self.server = self._make()
        return self.server

    def close(self) -> None:
        if self.server is not None:
            self.server.kill()


def start_module_server(tmp: Path, *, args: tuple[str, ...] = (), settings: dict[str, Any] | None = None) -> Server:
    """An initialized server with its engine loaded, for a module's examples."""
    count = len(list(tmp.glob("server-*.stderr")))
    server = Server(server_command() + list(args), server_env(tmp / f"data-{count}"), tmp / f"server-{count}.stderr")
    server.init_result = server.initialize(settings if settings is not None else {}, capabilities=CLIENT_CAPABILITIES)
    server.wait_ready()
    return server


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="session")
def sentence_wav(speech_wav: Callable[..., Path]) -> Path:
    """Piper (real speech synthesis) saying the e2e suite's sentence, 16 kHz mono WAV."""
    from tests.e2e.conftest import SENTENCE

    return speech_wav(SENTENCE)

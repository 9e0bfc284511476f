"""Stop→edit latency through the real server: ``swictation-rpc serve --stdio`` over pipes.

The client sends ``swictation/transcribe`` (audio as a file path, or inline base64 ``pcm16``) and
the clock stops when the response with the edits is parsed, as an editor would see it. The
server runs the same engine configuration as the in-process contenders (tone model in fast mode,
bundled Whisper in accurate mode, CPU), so round trip / in-process decode is the server's overhead.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from benchmarks.clips import Clip, ClipKind
from benchmarks.contenders import Setup, Unavailable
from benchmarks.lsp_client import LspClient, ServerError

REPO = Path(__file__).resolve().parents[1]
#: Modes the server is asked for, per clip kind (see :func:`server_options`).
MODES: dict[ClipKind, str] = {"tone": "fast", "speech": "accurate"}
#: In-process contender each server row is compared with (same recognizer, same clip).
ENGINE_PEER: dict[ClipKind, str] = {"tone": "swictation-sherpa", "speech": "swictation-whisper"}
DOCUMENT_URI = "file:///tmp/swictation-benchmark/dictation.py"


def server_options(setup: Setup) -> dict[str, Any]:
    """initializationOptions: tones go to fast mode (sherpa-onnx), speech to accurate (Whisper)."""
    return {
        "models": {"fast": setup.tone_sherpa_dir, "accurate": "bundled"},
        "engine": {"device": "cpu", "numThreads": setup.num_threads},
        "logLevel": "warning",
    }


class Server:
    """One server process for the whole run; :meth:`start` returns its start-up timings."""

    def __init__(self, setup: Setup, workdir: Path):
        self.setup = setup
        self.workdir = workdir
        self.client: LspClient | None = None
        self.status: dict[str, Any] = {}
        self._stderr: IO[bytes] | None = None

    def start(self, timeout_s: float = 180.0) -> dict[str, float]:
        if not (REPO / "swictation_rpc" / "commands" / "serve.py").exists():
            raise Unavailable("the server (swictation_rpc/commands/serve.py) is not in this checkout")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        env["SWICTATION_DATA_DIR"] = str(self.workdir / "server-data")  # history goes to the run's folder
        env["SWICTATION_CHECK_CLIP"] = self.setup.check_clip  # the tone model's check clip
        env.pop("SWICTATION_MODELS_DIR", None)
        self._stderr = open(self.workdir / "server.stderr.log", "wb")
        started = time.perf_counter()
        self.client = LspClient(
            [sys.executable, "-m", "swictation_rpc", "serve", "--stdio"], env=env, cwd=REPO, stderr=self._stderr
        )
        try:
            self.client.initialize(server_options(self.setup), timeout=timeout_s)
            initialized = time.perf_counter()
            ready, status = self.client.engine_ready(timeout_s)
            if not ready:
                raise Unavailable(f"the server's engine did not become ready: {status}")
        except ServerError as exc:
            self.close()
            raise Unavailable(f"the server failed: {exc} (see {self.workdir / 'server.stderr.log'})") from exc
        ready = time.perf_counter()
        self.status = status
        return {"initialize_ms": (initialized - started) * 1000, "ready_ms": (ready - started) * 1000}

    def check_models(self) -> list[str]:
        """Problems with the server's models (a fallback would make the comparison meaningless)."""
        expected = {"fast": "sherpa-onnx", "accurate": "faster-whisper"}
        problems = []
        for model in self.status.get("engine", {}).get("models", []):
            want = expected.get(model.get("mode"))
            if want and model.get("backend") != want:
                problems.append(
                    f"server {model.get('mode')} mode runs {model.get('backend')}, expected {want}: "
                    f"{model.get('problem')}"
                )
        return problems

    def contenders(self) -> list[ServerContender]:
        if self.client is None:
            return []
        return [ServerContender(self.client, "path"), ServerContender(self.client, "pcm16")]

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


class ServerContender:
    """``swictation/transcribe`` with the audio as a path or as inline pcm16."""

    clip_kinds: tuple[ClipKind, ...] = ("speech", "tone")
    modules: tuple[str, ...] = ()

    def __init__(self, client: LspClient, audio_input: str):
        self.client = client
        self.audio_input = audio_input
        self.name = f"server-{audio_input}"
        #: Per clip, what the server itself reported for each timed request.
        self.side_samples: dict[str, dict[str, list[float]]] = {}

    def load(self) -> None:
        pass

    def params(self, clip: Clip) -> dict[str, Any]:
        if self.audio_input == "path":
            audio: dict[str, Any] = {"path": str(clip.path)}
        else:
            audio = {"pcm16": clip.pcm16_b64, "sampleRate": 16000, "channels": 1}
        return {
            "textDocument": {"uri": DOCUMENT_URI},
            "position": {"line": 0, "character": 0},
            "audio": audio,
            "mode": MODES[clip.kind],
        }

    def timed_decode(self, clip: Clip) -> tuple[float, str]:
        """(seconds from sending the request to parsing the response with the edits, text)."""
        request_id, frame = self.client.prepare("swictation/transcribe", self.params(clip))
        seconds, result = self.client.timed(request_id, frame)
        text = result.get("text", "")
        if text and not result.get("edits"):
            raise ServerError(f"the server returned text without edits: {result}")
        timings = result.get("timings") or {}
        side = self.side_samples.setdefault(clip.name, {})
        for key, metric in (("decodeMs", "server_decode_ms"), ("totalMs", "server_total_ms")):
            if key in timings:
                side.setdefault(metric, []).append(float(timings[key]))
        return seconds, text

    def decode(self, clip: Clip) -> str:
        return self.timed_decode(clip)[1]

    def describe(self) -> str:
        return f"swictation-rpc serve --stdio, swictation/transcribe with audio.{self.audio_input}"

    def close(self) -> None:
        pass

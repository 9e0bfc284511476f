"""Dictation rows: stop→edit through the real server and its capture path, by trailing pause.

The server (``swictation-rpc serve --stdio``, both modes on the bundled Whisper tiny.en) records
from :class:`~swictation_rpc.audio.capture.ReplaySource` (``SWICTATION_REPLAY_AUDIO``): Piper
speech played in real time, then silence, through the same capture thread, segmenter and stop
path as a microphone. The client sends ``stopDictation`` a set pause after the last word and the
clock stops when the response with the edits is parsed. Beside each pause: the raw
faster-whisper decode of the same tail (the open segment at stop: speech start − 0.2 s to the
stop) in the same run, and stop→edit / raw tail. A second server with the speculative tail decode
on (``SWICTATION_SPECULATIVE_DECODE=1``, contender ``server-dictation+speculation``) dictates the
same clip in the same rounds, interleaved. Also the server's RSS after load and after 50
``transcribe`` requests.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile

from benchmarks.clips import SHORT_SENTENCE, _cached_speech
from benchmarks.contenders import Unavailable
from benchmarks.lsp_client import LspClient
from benchmarks.results import MB, MS, RATIO, WER, Results, p50, p95

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
#: Trailing pauses (s) between the last word and stopDictation.
PAUSES_S = (0.1, 0.4, 0.8)
LEAD_S = 0.3
PAD_S = 0.2
MEMORY_REQUESTS = 50
CONTENDER = "server-dictation"
SPECULATION_CONTENDER = "server-dictation+speculation"
TONE_CONTENDER = "server-dictation-tones"
#: Tone "utterances", with this pause between, about 10 s in all.
TONE_PHRASE_WORDS = ("hello world code", "def return hello", "world code def", "return world hello", "code def world")
TONE_GAP_S = 0.8

DOCUMENT_URI = "file:///tmp/swictation-benchmark/dictation.py"
Log = Callable[[str], None]


def speech_bounds(audio: np.ndarray, threshold: float = 0.02, frame: int = 320) -> tuple[int, int]:
    """First and one-past-last sample of 20 ms frames whose peak passes ``threshold``."""
    frames = len(audio) // frame
    peaks = np.abs(audio[: frames * frame]).reshape(frames, frame).max(axis=1)
    loud = np.flatnonzero(peaks >= threshold)
    if not len(loud):
        return 0, len(audio)
    return int(loud[0]) * frame, int(loud[-1] + 1) * frame


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class DictationServer:
    """A server whose microphone is the replay file at ``replay``, rewritten before each session."""

    def __init__(
        self,
        workdir: Path,
        num_threads: int,
        settings: dict[str, Any] | None = None,
        check_clip: Path | None = None,
        env: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        self.check_clip = check_clip
        self.env = env or {}
        self.replay = workdir / "replay.wav"
        self.num_threads = num_threads
        self.settings = settings or {"models": {"fast": "bundled", "accurate": "bundled"}}
        self.client: LspClient | None = None
        self._stderr: IO[bytes] | None = None

    def start(self, timeout_s: float = 180.0) -> None:
        soundfile.write(str(self.replay), np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        env["SWICTATION_DATA_DIR"] = str(self.workdir / "dictation-data")
        env["SWICTATION_REPLAY_AUDIO"] = str(self.replay)
        env.pop("SWICTATION_MODELS_DIR", None)
        if self.check_clip is not None:
            env["SWICTATION_CHECK_CLIP"] = str(self.check_clip)  # the tone model's, not the speech sample
        env.update(self.env)
        self._stderr = open(self.workdir / "dictation-server.stderr.log", "ab")
        self.client = LspClient(
            [sys.executable, "-m", "swictation_rpc", "serve", "--stdio"], env=env, cwd=REPO, stderr=self._stderr
        )
        self.client.initialize(
            {**self.settings, "engine": {"device": "cpu", "numThreads": self.num_threads}, "logLevel": "warning"},
            timeout=timeout_s,
        )
        ready, status = self.client.engine_ready(timeout_s)
        if not ready:
            raise Unavailable(f"the dictation server's engine did not become ready: {status}")

    @property
    def pid(self) -> int:
        assert self.client is not None
        return int(self.client.proc.pid)

    def dictate(self, audio: np.ndarray, stop_after_s: float) -> tuple[float, dict[str, Any]]:
        """Play ``audio`` (then silence), stop ``stop_after_s`` after the session started."""
        assert self.client is not None
        soundfile.write(str(self.replay), audio, SAMPLE_RATE, subtype="FLOAT")
        started = self.client.request(
            "swictation/startDictation",
            {"textDocument": {"uri": DOCUMENT_URI}, "position": {"line": 0, "character": 0}, "mode": "fast"},
        )
        began = time.perf_counter()  # the source started just before this response
        time.sleep(max(stop_after_s - (time.perf_counter() - began), 0.0))
        request_id, frame = self.client.prepare("swictation/stopDictation", {"sessionId": started["sessionId"]})
        seconds, result = self.client.timed(request_id, frame)
        if result.get("text") and not result.get("edits"):
            raise RuntimeError(f"stopDictation returned text without edits: {result}")
        return seconds, result

    def transcribe(self, path: Path) -> None:
        assert self.client is not None
        self.client.request(
            "swictation/transcribe",
            {
                "textDocument": {"uri": DOCUMENT_URI},
                "position": {"line": 0, "character": 0},
                "audio": {"path": str(path)},
                "mode": "fast",
            },
        )

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def run_dictation(
    results: Results, workdir: Path, *, reps: int, num_threads: int, cache: Path | None, log: Log
) -> None:
    from faster_whisper import WhisperModel

    from benchmarks.runner import _wer
    from swictation_rpc.engine.whisper import bundled_model_path

    speech = _cached_speech(SHORT_SENTENCE, cache)
    first, last = speech_bounds(speech)
    words = speech[first:last]
    raw = WhisperModel(str(bundled_model_path()), device="cpu", compute_type="int8", cpu_threads=num_threads)

    def raw_decode(audio: np.ndarray) -> float:
        began = time.perf_counter()
        segments, _ = raw.transcribe(
            audio,
            language="en",
            beam_size=1,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        " ".join(s.text for s in segments)
        return (time.perf_counter() - began) * 1000

    server = DictationServer(workdir / "plain", num_threads)
    speculating = DictationServer(workdir / "speculation", num_threads, env={"SWICTATION_SPECULATIVE_DECODE": "1"})
    servers = {CONTENDER: server, SPECULATION_CONTENDER: speculating}
    try:
        for each in servers.values():
            each.workdir.mkdir(parents=True, exist_ok=True)
            each.start()
        results.add(CONTENDER, "-", "rss_after_load", rss_mb(server.pid), MB)
        lead = np.zeros(int(LEAD_S * SAMPLE_RATE), dtype=np.float32)
        played = np.concatenate([lead, words, np.zeros(5 * SAMPLE_RATE, dtype=np.float32)])
        for each in servers.values():
            each.dictate(played, LEAD_S + len(words) / SAMPLE_RATE + 0.4)  # warm-up, untimed
        for pause in PAUSES_S:
            clip = f"speech-pause-{pause:.1f}s"
            stop_after = LEAD_S + len(words) / SAMPLE_RATE + pause
            tail = played[max(len(lead) - int(PAD_S * SAMPLE_RATE), 0) : int(stop_after * SAMPLE_RATE)]
            stop_ms: dict[str, list[float]] = {name: [] for name in servers}
            session_ms: dict[str, list[float]] = {name: [] for name in servers}
            wers: dict[str, list[float]] = {name: [] for name in servers}
            raw_ms: list[float] = []
            for _ in range(reps):
                for name, each in servers.items():
                    seconds, result = each.dictate(played, stop_after)
                    stop_ms[name].append(seconds * 1000)
                    session_ms[name].append(float((result.get("timings") or {}).get("totalMs", 0.0)))
                    wers[name].append(_wer(SHORT_SENTENCE, result.get("text", "")))
                raw_ms.append(raw_decode(tail))
            results.add("faster-whisper", clip, "raw_tail_p50", p50(raw_ms), MS)
            for name in servers:
                wer = sum(wers[name]) / len(wers[name])
                results.add(name, clip, "stop_edit_p50", p50(stop_ms[name]), MS)
                results.add(name, clip, "stop_edit_p95", p95(stop_ms[name]), MS)
                results.add(name, clip, "server_total_p50", p50(session_ms[name]), MS)
                results.add(name, clip, "stop_edit_vs_raw_tail", p50(stop_ms[name]) / p50(raw_ms), RATIO)
                results.add(name, clip, "wer", wer, WER)
                log(
                    f"  {name}, {pause:.1f} s pause: stop->edit p50 {p50(stop_ms[name]):.0f} ms "
                    f"(p95 {p95(stop_ms[name]):.0f}), raw tail {p50(raw_ms):.0f} ms, WER {wer:.3f}"
                )
        speculating.close()
        path = workdir / "dictation-memory.wav"
        soundfile.write(str(path), speech, SAMPLE_RATE, subtype="FLOAT")
        for _ in range(MEMORY_REQUESTS):
            server.transcribe(path)
        results.add(CONTENDER, "-", f"rss_after_{MEMORY_REQUESTS}", rss_mb(server.pid), MB)
    finally:
        for each in servers.values():
            each.close()


def run_transducer_dictation(results: Results, workdir: Path, *, reps: int, num_threads: int, log: Log) -> None:
    """stop→edit after ~10 s of tone phrases on the sherpa-onnx path, against the last phrase alone."""
    import sherpa_onnx  # noqa: F401 - Unavailable below if missing

    from benchmarks.clips import Clip
    from benchmarks.contenders import Setup, SherpaRaw
    from swictation_rpc.testing.synthetic import tone_audio, write_tone_model

    model = write_tone_model(workdir / "models", layout="sherpa", name="tone-dictation")
    phrases = [tone_audio(words) for words in TONE_PHRASE_WORDS]
    phrase = phrases[-1]
    gap = np.zeros(int(TONE_GAP_S * SAMPLE_RATE), dtype=np.float32)
    lead = np.zeros(int(LEAD_S * SAMPLE_RATE), dtype=np.float32)
    pieces = [lead]
    for one in phrases:
        pieces += [one, gap]
    spoken = np.concatenate(pieces[:-1])
    played = np.concatenate([spoken, np.zeros(5 * SAMPLE_RATE, dtype=np.float32)])
    stop_after = len(spoken) / SAMPLE_RATE + 0.4
    last_start = len(spoken) - len(phrase)
    tail = played[last_start - int(PAD_S * SAMPLE_RATE) : int(stop_after * SAMPLE_RATE)]
    expected = " ".join(TONE_PHRASE_WORDS)

    setup = Setup(tone_sherpa_dir=str(model), tone_nemo_dir="", check_clip="", num_threads=num_threads)
    raw = SherpaRaw(setup, folder=str(model))
    raw.load()
    tail_clip = Clip(
        name="tone-tail", kind="tone", audio=tail, text=TONE_PHRASE_WORDS[-1], path=workdir / "tone-tail.wav"
    )
    settings = {
        "models": {"fast": str(model), "accurate": str(model)},
        "vad": {"threshold": 0.05, "minSilenceDurationMs": 500},
        "text": {"spokenCommands": False},
    }
    check = workdir / "tone-dictation-check.wav"
    soundfile.write(str(check), phrases[0], SAMPLE_RATE, subtype="PCM_16")
    server = DictationServer(workdir, num_threads, settings, check_clip=check)
    try:
        server.start()
        server.dictate(played, stop_after)  # warm-up, untimed
        stop_ms: list[float] = []
        raw_ms: list[float] = []
        heard = ""
        for _ in range(reps):
            seconds, result = server.dictate(played, stop_after)
            stop_ms.append(seconds * 1000)
            began = time.perf_counter()
            raw.decode(tail_clip)
            raw_ms.append((time.perf_counter() - began) * 1000)
            heard = result.get("text", "")
        clip = f"tones-{len(spoken) / SAMPLE_RATE:.0f}s-pause-0.4s"
        results.add(TONE_CONTENDER, clip, "stop_edit_p50", p50(stop_ms), MS)
        results.add(TONE_CONTENDER, clip, "stop_edit_p95", p95(stop_ms), MS)
        results.add("sherpa-onnx", clip, "raw_tail_p50", p50(raw_ms), MS)
        results.add(TONE_CONTENDER, clip, "stop_edit_vs_raw_tail", p50(stop_ms) / p50(raw_ms), RATIO)
        log(
            f"  transducer dictation ({len(spoken) / SAMPLE_RATE:.1f} s of tones, 0.4 s pause): stop->edit p50 "
            f"{p50(stop_ms):.1f} ms (p95 {p95(stop_ms):.1f}), raw last phrase {p50(raw_ms):.1f} ms, "
            f"heard {heard!r} (played {expected!r})"
        )
    finally:
        server.close()
        raw.close()

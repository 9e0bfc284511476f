"""The hybrid engine: a fast model and an accurate model, loaded once, chosen per request.

This module is long (about 490 lines) on purpose: routing, the load-time checks, runtime fallback and
long-audio splitting all act on the same two model slots and their locks.

Fast mode is Parakeet TDT 110M fp32 on the GPU (onnxruntime's CUDA execution provider); accurate
mode is Parakeet TDT 0.6B-v3 int8 on the CPU (sherpa-onnx). The int8 model is slower on a GPU,
so accurate mode always stays on the CPU. Whatever cannot load is reported in :meth:`status` and
served by the next best recognizer: the other Parakeet model, then the bundled Whisper tiny.en.

    engine = HybridEngine(options)
    engine.load()
    transcript = engine.transcribe(audio, mode="auto")
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import numpy as np
from attrs import define, field

from swictation_rpc import paths
from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.engine import gpu
from swictation_rpc.engine.base import Heard, Hints, Recognized, Recognizer, WordTiming, recognize
from swictation_rpc.engine.heap import HeapTrimmer
from swictation_rpc.engine.metrics import LatencyMetrics
from swictation_rpc.engine.whisper import BundledWhisper
from swictation_rpc.errors import ModelNotInstalledError, SwictationError
from swictation_rpc.options import ConcreteMode, Mode, Options
from swictation_rpc.protocol import EngineStatus, GpuStatus, ModelStatus, ModeMetrics, Timings, Transcript

logger = logging.getLogger(__name__)

#: Called with a message and a completion fraction (``None`` when unknown) while loading.
Progress = Callable[[str, "float | None"], None]

MODES: tuple[ConcreteMode, ...] = ("fast", "accurate")
#: Audio longer than this is split at pauses (Silero VAD) and decoded span by span.
LONG_AUDIO_S = 30.0
#: Names that ask for the bundled model explicitly.
BUNDLED_ALIASES = {"bundled", "whisper-tiny.en", "whisper-tiny.en (bundled)"}
#: Overrides the clip used to check a model after loading (tests use tones for tone models).
CHECK_CLIP_ENV = "SWICTATION_CHECK_CLIP"
#: In ``auto`` mode, interim text leaves a GPU this busy (NVML utilisation, %) to accurate mode.
GPU_BUSY_PERCENT = 90


@define
class _Slot:
    """One mode's model: what was asked for, what loaded, and what went wrong."""

    mode: ConcreteMode
    requested: str
    recognizer: Recognizer | None = None
    problem: str | None = None
    load_ms: float | None = None
    warmup_ms: float | None = None
    lock: threading.Lock = field(factory=threading.Lock)


class HybridEngine:
    """Both modes' models, the fallbacks, and the rules that pick a mode.

    ``check_audio``: the clip every loaded model must transcribe (default: the packaged speech
    sample, or ``$SWICTATION_CHECK_CLIP``). ``gpu_probe``: what the engine asks about the GPU
    (CUDA present, utilisation, memory); default :data:`gpu.DEFAULT_PROBE` (onnxruntime + NVML).
    """

    def __init__(
        self,
        options: Options,
        *,
        check_audio: np.ndarray | None = None,
        gpu_probe: gpu.GpuProbe | None = None,
    ):
        self.options = options
        self._check_audio = check_audio
        self._gpu: gpu.GpuProbe = gpu_probe if gpu_probe is not None else gpu.DEFAULT_PROBE
        self._slots: dict[ConcreteMode, _Slot] = {}
        self._bundled: BundledWhisper | None = None
        self._bundled_lock = threading.Lock()  # guards creating the bundled model
        self._bundled_decode_lock = threading.Lock()  # serialises decodes on it
        self._bundled_problem: str | None = None
        self._load_lock = threading.Lock()
        self._ready = threading.Event()
        self._metrics = LatencyMetrics()
        self._heap = HeapTrimmer()

    # -- loading ---------------------------------------------------------------------------

    def load(self, progress: Progress | None = None) -> None:
        """Load both models and warm fast mode up. Model problems are reported, never raised."""
        report = progress or (lambda message, fraction: None)
        with self._load_lock:
            self._ready.clear()
            for index, mode in enumerate(MODES):
                requested = getattr(self.options.models, mode)
                report(f"Loading {mode} model {requested}", index / (len(MODES) + 1))
                self._replace_slot(self._load_slot(mode, requested))
            report("Warming up", len(MODES) / (len(MODES) + 1))
            self._check_and_warm_up()
            self._ensure_something_serves()
            report("Ready", 1.0)
            self._ready.set()

    def reconfigure(self, options: Options, *, reload: Collection[ConcreteMode] = ()) -> None:
        """Apply new options, reloading only the models whose settings changed, and the modes in
        ``reload`` (their model was just installed or removed)."""
        old, self.options = self.options, options
        engine_changed = old.engine != options.engine or old.models.models_dir != options.models.models_dir
        with self._load_lock:
            changed = [
                mode
                for mode in MODES
                if engine_changed
                or getattr(old.models, mode) != getattr(options.models, mode)
                or mode not in self._slots
                or mode in reload
            ]
            if not changed:
                return
            self._ready.clear()
            try:
                for mode in changed:
                    self._replace_slot(self._load_slot(mode, getattr(options.models, mode)))
                self._check_and_warm_up(only=changed)
                self._ensure_something_serves()
            finally:
                self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        self._heap.close()
        with self._load_lock:
            for slot in self._slots.values():
                if slot.recognizer is not None and slot.recognizer is not self._bundled:
                    slot.recognizer.close()
            self._slots.clear()
            if self._bundled is not None:
                self._bundled.close()
                self._bundled = None
            self._ready.clear()

    def _replace_slot(self, slot: _Slot) -> None:
        old = self._slots.get(slot.mode)
        self._slots[slot.mode] = slot
        if old is not None and old.recognizer is not None and old.recognizer is not self._bundled:
            in_use = any(s.recognizer is old.recognizer for s in self._slots.values())
            if not in_use:
                with old.lock:  # let a decode in flight finish first
                    old.recognizer.close()

    def _load_slot(self, mode: ConcreteMode, requested: str, *, force_cpu: bool = False) -> _Slot:
        slot = _Slot(mode=mode, requested=requested)
        if requested in BUNDLED_ALIASES:
            slot.recognizer = self._bundled_recognizer()
            slot.problem = None if slot.recognizer else self._bundled_problem
            return slot
        started = time.perf_counter()
        try:
            slot.recognizer, slot.problem = self._build(mode, requested, force_cpu=force_cpu)
            slot.load_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.info(
                "%s model %s loaded in %.0f ms (%s, %s)",
                mode,
                slot.recognizer.name,
                slot.load_ms,
                slot.recognizer.backend,
                slot.recognizer.provider,
            )
        except ModelNotInstalledError as exc:
            slot.problem = str(exc)  # the normal state of a fresh install: not worth a warning
            logger.info("%s model %s: %s", mode, requested, exc)
        except SwictationError as exc:
            slot.problem = str(exc)
            logger.warning("%s model %s unusable: %s", mode, requested, exc)
        except Exception as exc:  # a loader bug must not stop the server: report it
            slot.problem = f"{type(exc).__name__}: {exc}"
            logger.exception("%s model %s failed to load", mode, requested)
        return slot

    def _build(self, mode: ConcreteMode, requested: str, *, force_cpu: bool = False) -> tuple[Recognizer, str | None]:
        """A recognizer for ``requested`` on the right runtime, and a note if it is not ideal."""
        path = self._resolve(requested)
        from swictation_rpc.models.layout import inspect_model_dir, is_whisper_dir

        name = Path(requested).name if os.sep in requested else requested
        threads = self.options.engine.num_threads
        if is_whisper_dir(path):
            # A Whisper the user installed (e.g. a multilingual one): faster-whisper, int8 on the CPU.
            return BundledWhisper(path, name=name, num_threads=threads), None
        files = inspect_model_dir(path)
        note = None
        # Fast mode goes to the GPU when asked or able; accurate (int8) is faster on the CPU.
        want_gpu = mode == "fast" and self.options.engine.device != "cpu" and not force_cpu
        if want_gpu and self._gpu.cuda_available():
            from swictation_rpc.engine.onnxruntime_tdt import OnnxruntimeTransducer

            return OnnxruntimeTransducer.from_files(
                files, name=name, providers=[gpu.CUDA, gpu.CPU], num_threads=threads
            ), None
        if want_gpu and self.options.engine.device == "cuda" and not force_cpu:
            note = "CUDA is not available (install onnxruntime-gpu and a CUDA driver); fast mode runs on the CPU"
            logger.warning(note)
        if files.layout == "nemo":
            # sherpa-onnx cannot read the NeMo/onnx-asr layout; onnxruntime runs it unconverted.
            from swictation_rpc.engine.onnxruntime_tdt import OnnxruntimeTransducer

            return OnnxruntimeTransducer.from_files(files, name=name, providers=[gpu.CPU], num_threads=threads), note
        from swictation_rpc.engine.sherpa import SherpaTransducer

        return SherpaTransducer.from_files(
            files, name=name, num_threads=threads, decoding_method=self.options.engine.decoding_method
        ), note

    def _resolve(self, requested: str) -> Path:
        candidate = Path(requested).expanduser()
        if candidate.is_dir():
            return candidate
        root = paths.models_dir(self.options.models.models_dir)
        try:
            from swictation_rpc.models.store import ModelStore
        except ImportError:
            installed = root / requested
            if installed.is_dir():
                return installed
            raise ModelNotInstalledError(
                f"Model {requested} is not installed in {root}",
                remedy=f"Run: swictation-rpc models download {requested}",
                model=requested,
            ) from None
        return ModelStore(root).resolve(requested)

    def _bundled_recognizer(self) -> BundledWhisper | None:
        with self._bundled_lock:
            if self._bundled is None and self._bundled_problem is None:
                try:
                    self._bundled = BundledWhisper.bundled(num_threads=self.options.engine.num_threads)
                except SwictationError as exc:
                    self._bundled_problem = str(exc)
                    logger.error("Bundled model unusable: %s", exc)
            return self._bundled

    def _check_and_warm_up(self, only: list[ConcreteMode] | None = None) -> None:
        """Decode a known clip with each new model: catches `<unk>` exports and models that hear
        nothing (empty text), and warms fast mode up. A model that fails is retired; the other
        model (or the bundled one) serves its mode."""
        clip = self._check_clip()
        for mode in only or MODES:
            slot = self._slots.get(mode)
            if slot is None or slot.recognizer is None or slot.recognizer is self._bundled:
                continue
            started = time.perf_counter()
            try:
                with slot.lock:
                    text = slot.recognizer.transcribe(clip)
            except Exception as exc:  # noqa: BLE001 - any failure on the check clip retires the model
                self._mark_broken(slot, f"Model {slot.recognizer.name} failed on its check clip: {exc}")
                continue
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            if mode == "fast" and self.options.engine.warmup:
                slot.warmup_ms = elapsed
            if _is_unk_output(text):
                self._mark_broken(
                    slot,
                    f"Model {slot.recognizer.name} outputs only <unk> tokens ({text[:40]!r}) on a known clip: "
                    "its export is broken (checksum mismatch? wrong tokens.txt?). "
                    f"Re-download it (swictation-rpc models verify {slot.requested}) or pick another model",
                )
            elif not text.strip():
                self._mark_broken(
                    slot,
                    f"Model {slot.recognizer.name} produced no text on its check clip (a known speech sample): "
                    "it cannot transcribe (not the model its name says? wrong feature settings? a damaged "
                    f"export?). Re-download it (swictation-rpc models download {slot.requested} --force) "
                    "or pick another model",
                )

    def _mark_broken(self, slot: _Slot, problem: str) -> None:
        logger.error(problem)
        broken = slot.recognizer
        slot.recognizer, slot.problem = None, problem
        if broken is not None:
            broken.close()

    def _check_clip(self) -> np.ndarray:
        if self._check_audio is not None:
            return self._check_audio
        from swictation_rpc.audio.io import load_audio, sample_clip_path

        return load_audio(os.environ.get(CHECK_CLIP_ENV) or sample_clip_path())

    def _ensure_something_serves(self) -> None:
        # Without any Parakeet model, the bundled Whisper serves both modes.
        if any(slot.recognizer is None for slot in self._slots.values()):
            self._bundled_recognizer()

    # -- transcription ---------------------------------------------------------------------

    def choose_mode(self, mode: Mode, audio_s: float, *, final: bool = True) -> ConcreteMode:
        """``auto``: fast for interactive audio; accurate for final or long text, or a busy GPU."""
        if mode != "auto":
            return mode
        policy = self.options.auto_mode
        if audio_s >= policy.long_audio_s or (final and policy.final_uses_accurate):
            return "accurate"
        if self._gpu_busy():
            return "accurate"
        return "fast"

    def _gpu_busy(self) -> bool:
        """Fast mode runs on the GPU and it is taken: a decode in flight, or NVML says it is busy."""
        fast = self._slots.get("fast")
        if fast is None or fast.recognizer is None or fast.recognizer.provider != gpu.CUDA:
            return False
        if fast.lock.locked():
            return True
        utilization = self._gpu.utilization_percent()
        return utilization is not None and utilization >= GPU_BUSY_PERCENT

    def transcribe(
        self,
        audio: np.ndarray,
        mode: Mode = "auto",
        *,
        final: bool = True,
        hotwords: list[str] | None = None,
        prompt: str | Mapping[str, str] | None = None,
        commands: list[str] | None = None,
    ) -> Transcript:
        """Text of ``audio`` (16 kHz mono float32) in the chosen mode.

        ``hotwords``, ``prompt`` and ``commands`` hint the recognizer (see :class:`~swictation_rpc.engine.base.Hints`);
        the result is a :class:`~swictation_rpc.engine.base.Heard`: the transcript with word timings
        where the backend gives them, and the language it decoded in.
        """
        hints = Hints(
            hotwords=tuple(hotwords or ()),
            prompt=prompt,
            language=self.options.language,
            commands=tuple(commands or ()),
        )
        started = time.perf_counter()
        self.wait_ready()
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        audio_ms = 1000.0 * len(audio) / SAMPLE_RATE
        concrete = self.choose_mode(mode, audio_ms / 1000.0, final=final)
        recognizer, lock = self._recognizer_for(concrete)
        decode_started = time.perf_counter()
        try:
            with lock:
                heard = self._decode(recognizer, audio, hints)
        except SwictationError:
            raise
        except Exception as exc:  # noqa: BLE001 - a runtime failure (CUDA out of memory, a lost GPU, a bad graph)
            recognizer, lock = self._recover(concrete, recognizer, exc)
            decode_started = time.perf_counter()
            with lock:
                heard = self._decode(recognizer, audio, hints)
        decode_ms = (time.perf_counter() - decode_started) * 1000
        self._metrics.record(concrete, decode_ms, audio_ms)
        self._heap.decoded()
        return Heard(
            text=heard.text,
            language=heard.language,
            words=heard.words,
            mode=concrete,
            model=recognizer.name,
            timings=Timings(
                audio_ms=round(audio_ms, 1),
                decode_ms=round(decode_ms, 2),
                total_ms=round((time.perf_counter() - started) * 1000, 2),
            ),
        )

    def _recover(self, mode: ConcreteMode, failed: Recognizer, exc: Exception) -> tuple[Recognizer, threading.Lock]:
        """After a decode failed: rebuild a GPU model on the CPU, or retire the model; say so once."""
        slot = next((s for s in self._slots.values() if s.recognizer is failed), None)
        if slot is None or failed is self._bundled:
            # The bundled model is the last resort: this request fails, the model stays (retiring
            # it would close it under both modes and fail every request after this one).
            raise SwictationError(f"Decoding failed in {failed.name}: {exc}", remedy="See the server log.") from exc
        with self._load_lock:
            if slot.recognizer is failed:
                if failed.provider == gpu.CUDA:
                    logger.error("%s failed on the GPU (%s); reloading it on the CPU", failed.name, exc)
                    replacement = self._load_slot(slot.mode, slot.requested, force_cpu=True)
                    if replacement.recognizer is not None:
                        replacement.problem = f"The GPU failed at runtime ({exc}); {slot.mode} mode now runs on the CPU"
                    self._replace_slot(replacement)
                else:
                    self._mark_broken(slot, f"Model {failed.name} failed while decoding: {exc}")
                self._ensure_something_serves()
        return self._recognizer_for(mode)

    def _serving(self, mode: ConcreteMode) -> tuple[Recognizer, threading.Lock] | None:
        """Who decodes ``mode``: its own model, else the other mode's, else the bundled Whisper."""
        other: ConcreteMode = "accurate" if mode == "fast" else "fast"
        for candidate in (mode, other):
            slot = self._slots.get(candidate)
            if slot is not None and slot.recognizer is not None:
                return slot.recognizer, slot.lock
        if self._bundled is not None:
            return self._bundled, self._bundled_decode_lock
        return None

    def _recognizer_for(self, mode: ConcreteMode) -> tuple[Recognizer, threading.Lock]:
        serving = self._serving(mode)
        if serving is None and self._bundled_recognizer() is not None:
            serving = self._serving(mode)
        if serving is not None:
            return serving
        problems = "; ".join(s.problem or "" for s in self._slots.values() if s.problem)
        raise ModelNotInstalledError(
            f"No speech model can run: {problems or self._bundled_problem}",
            remedy="Run: swictation-rpc models download parakeet-tdt-110m (or reinstall swictation-rpc)",
        )

    def _decode(self, recognizer: Recognizer, audio: np.ndarray, hints: Hints) -> Recognized:
        if len(audio) <= LONG_AUDIO_S * SAMPLE_RATE:
            heard = recognize(recognizer, audio, hints)
            heard.text = heard.text.strip()
            return heard
        from swictation_rpc.engine.vad import fixed_chunks, speech_chunks

        chunks = speech_chunks(audio, self.options.vad) if self.options.vad.enabled else fixed_chunks(audio)
        parts = [(start, recognize(recognizer, audio[start:end], hints)) for start, end in chunks]
        text = " ".join(part.text.strip() for _, part in parts if part.text.strip())
        timed: list[WordTiming] = []
        for start, part in parts:
            offset = start / SAMPLE_RATE
            timed.extend(WordTiming(w.text, w.start_s + offset, w.end_s + offset) for w in part.words or ())
        words = timed if all(part.words is not None for _, part in parts) else None
        language = next((part.language for _, part in parts if part.language), None)
        return Recognized(text, words, language)

    # -- reporting -------------------------------------------------------------------------

    def status(self) -> EngineStatus:
        models = []
        for mode in MODES:
            slot = self._slots.get(mode)
            if slot is None:
                models.append(
                    ModelStatus(
                        mode=mode,
                        name=getattr(self.options.models, mode),
                        backend="",
                        provider="",
                        ready=False,
                        problem="not loaded yet",
                    )
                )
                continue
            recognizer = slot.recognizer
            serving = self._serving(mode)
            served_by = serving[0] if serving else None
            problem = slot.problem
            if recognizer is None and served_by is not None and problem:
                end = "" if problem.rstrip().endswith((".", "!", "?")) else "."
                problem = (
                    f"{problem.rstrip()}{end} Meanwhile swictation-rpc is serving {mode} mode with {served_by.name}."
                )
            models.append(
                ModelStatus(
                    mode=mode,
                    name=served_by.name if served_by else slot.requested,
                    backend=served_by.backend if served_by else "",
                    provider=served_by.provider if served_by else "",
                    ready=served_by is not None,
                    problem=problem,
                    load_ms=slot.load_ms,
                    warmup_ms=slot.warmup_ms,
                )
            )
        return EngineStatus(
            ready=self.ready, models=models, providers=self._gpu.available_providers(), language=self.options.language
        )

    def metrics(self) -> dict[str, ModeMetrics]:
        return self._metrics.snapshot()

    def gpu(self) -> GpuStatus | None:
        """Name and memory of the GPU (``status``'s ``gpu``); ``None`` without an NVIDIA GPU."""
        return self._gpu.status()


def _is_unk_output(text: str) -> bool:
    """True when the text is made of ``<unk>`` tokens (and separators) only."""
    stripped = text.replace("<unk>", "").strip(" \t\n.,?!'\"-")
    return "<unk>" in text and not stripped

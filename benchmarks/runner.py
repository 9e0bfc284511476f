"""One benchmark run: build the clips and models, measure every contender side by side, derive ratios."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import define

from benchmarks import contenders as contenders_mod
from benchmarks.clips import Clip, speech_clips, tone_clips
from benchmarks.contenders import Contender, Pairing, Setup, Unavailable, installed_models, lineup
from benchmarks.machine import machine_info
from benchmarks.probe import MARKER
from benchmarks.results import MB, MS, RATIO, RTF, WER, Ratio, Results, p50, p95, paired_ratio
from benchmarks.server_roundtrip import ENGINE_PEER, REPO, Server
from swictation_rpc.engine.hybrid import LONG_AUDIO_S

logger = logging.getLogger(__name__)

#: The production reference this project follows: Parakeet TDT 110M, fast mode, H100-class GPU.
GPU_REFERENCE_MS = 13.0
GPU_REFERENCE_WARMUP_MS = 97.0
GPU_REFERENCE_SPEEDUP = 7.86
SERVER_TARGET = 1.05


@define
class RunConfig:
    """How much to measure. ``quick``: short speech only and few repetitions (well under a minute)."""

    quick: bool = False
    reps_speech_short: int = 15
    reps_speech_long: int = 3
    reps_tone_short: int = 60
    reps_tone_long: int = 20
    num_threads: int = 2
    long_speech: bool = True
    server: bool = True
    probes: bool = True
    dictation: bool = True
    """The dictation rows (stop->edit by trailing pause through the server's capture path)."""
    reps_dictation: int = 6
    clips: tuple[str, ...] = ()
    """Run only these clips (names as in the table, e.g. ``tone-2.8s``); empty runs all."""
    only: tuple[str, ...] = ()
    """Run only these contenders (names as in the table); empty runs all."""
    clip_cache: Path | None = REPO / ".cache" / "benchmarks"
    """Where Piper's renderings are kept between runs (``None``: synthesise afresh)."""

    @classmethod
    def make(cls, quick: bool, **overrides: Any) -> RunConfig:
        if quick:
            base = cls(
                quick=True,
                reps_speech_short=3,
                reps_speech_long=1,
                reps_tone_short=10,
                reps_tone_long=3,
                reps_dictation=3,
                long_speech=False,
            )
        else:
            base = cls()
        for key, value in overrides.items():
            if value is not None:
                setattr(base, key, value)
        return base


Log = Callable[[str], None]


def _wer(reference: str, hypothesis: str) -> float:
    from swictation_rpc.testing.speech import word_error_rate

    return float(word_error_rate(reference, hypothesis)) if reference.strip() else 0.0


def _timed(contender: Any, clip: Clip) -> tuple[float, str]:
    if hasattr(contender, "timed_decode"):
        return contender.timed_decode(clip)
    started = time.perf_counter()
    text = contender.decode(clip)
    return time.perf_counter() - started, text


def _reps(config: RunConfig, clip: Clip) -> int:
    long = clip.seconds > 10
    if clip.kind == "speech":
        return config.reps_speech_long if long else config.reps_speech_short
    return config.reps_tone_long if long else config.reps_tone_short


def measure_clip(clip: Clip, active: list[Any], reps: int, results: Results, log: Log) -> dict[str, list[float]]:
    """Warm each contender on the clip once, then ``reps`` interleaved rounds (order alternates)."""
    texts: dict[str, str] = {}
    ready: list[Any] = []
    for contender in active:
        try:
            texts[contender.name] = _timed(contender, clip)[1]
            ready.append(contender)
        except Exception as exc:  # noqa: BLE001 - a contender failing must not cost the others their numbers
            results.notes.append(f"{contender.name} failed on {clip.name}: {type(exc).__name__}: {exc}")
            log(f"  {contender.name} failed on {clip.name}: {exc}")
    samples: dict[str, list[float]] = {c.name: [] for c in ready}
    for rep in range(reps):
        for contender in list(ready if rep % 2 == 0 else reversed(ready)):
            try:
                seconds, texts[contender.name] = _timed(contender, clip)
            except Exception as exc:  # noqa: BLE001 - likewise, per round
                results.notes.append(
                    f"{contender.name} failed on {clip.name} in round {rep + 1}: {type(exc).__name__}: {exc}"
                )
                log(f"  {contender.name} failed on {clip.name}: {exc}")
                ready.remove(contender)
                continue
            samples[contender.name].append(seconds * 1000)
    for contender in ready:
        ms = samples[contender.name]
        if not ms:
            continue
        results.samples.setdefault(contender.name, {})[clip.name] = [round(v, 3) for v in ms]
        results.add(contender.name, clip.name, "decode_p50", p50(ms), MS)
        results.add(contender.name, clip.name, "decode_p95", p95(ms), MS)
        results.add(contender.name, clip.name, "rtf", p50(ms) / 1000 / clip.seconds, RTF)
        results.add(contender.name, clip.name, "wer", _wer(clip.text, texts[contender.name]), WER)
        side = getattr(contender, "side_samples", {}).get(clip.name, {})
        for metric, values in side.items():
            results.add(contender.name, clip.name, f"{metric}_p50", p50(values), MS)
        own = side.get("server_decode_ms", [])[-len(ms) :]
        total = side.get("server_total_ms", [])[-len(ms) :]
        if len(own) == len(ms):
            # Within each request: everything the server added beyond its engine's own decode ...
            results.add(
                contender.name,
                clip.name,
                "overhead_vs_own_decode",
                p50([a - b for a, b in zip(ms, own, strict=False)]),
                MS,
            )
            results.add(contender.name, clip.name, "ratio_vs_own_decode", paired_ratio(ms, own), RATIO)
        if len(own) == len(ms) == len(total):
            # ... split into reading the audio (inside the handler's timings) and the rest (JSON,
            # dispatch, thread hops, text formatting, history, the pipe).
            results.add(
                contender.name,
                clip.name,
                "overhead_audio_read",
                p50([t - d for t, d in zip(total, own, strict=False)]),
                MS,
            )
            results.add(
                contender.name,
                clip.name,
                "overhead_outside_handler",
                p50([a - t for a, t in zip(ms, total, strict=False)]),
                MS,
            )
        log(
            f"  {contender.name:<20} p50 {p50(ms):9.2f} ms  p95 {p95(ms):9.2f} ms  "
            f"WER {_wer(clip.text, texts[contender.name]):.2f}  ({len(ms)} runs)"
        )
    return samples


def run_probe(name: str, setup: Setup, clips: list[Clip], timeout_s: float = 300.0) -> dict[str, Any]:
    """Load ``name`` in a fresh interpreter and return what :mod:`benchmarks.probe` measured."""
    clips_json = json.dumps([{"name": c.name, "kind": c.kind, "path": str(c.path), "text": c.text} for c in clips])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.probe", name, setup.to_json(), clips_json],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"contender": name, "error": f"exit code {proc.returncode}: {' | '.join(tail)}"}


def add_probe_rows(results: Results, probe: dict[str, Any], short_clips: dict[str, str]) -> None:
    name = probe["contender"]
    results.add(name, "-", "import", probe.get("import_ms"), MS)
    results.add(name, "-", "cold_load", probe.get("load_ms"), MS)
    for clip, ms in (probe.get("first_decode_ms") or {}).items():
        if clip in short_clips.values():
            results.add(name, clip, "first_decode", ms, MS)
    for mode, report in (probe.get("engine") or {}).items():
        if report.get("warmup_ms") is not None:
            results.add(name, "-", f"engine_warmup_{mode}", report["warmup_ms"], MS)
    if "rss_mb" in probe:
        results.add(name, "-", "rss", probe["rss_mb"], MB)
        results.add(name, "-", "rss_added", probe["rss_mb"] - probe["rss_start_mb"], MB)
        results.add(name, "-", "peak_rss", probe.get("peak_rss_mb"), MB)
    results.add(name, "-", "gpu_memory", probe.get("gpu_mem_mb"), MB)


def _ratio(
    results: Results,
    name: str,
    contender: str,
    peer: str,
    clip: str,
    *,
    target: float | None = None,
    invert: bool = False,
    note: str = "",
) -> Ratio | None:
    """``contender / peer`` decode latency (``invert``: peer / contender, a speed-up).

    The median of per-round ratios when both ran the same rounds, else the ratio of the medians.
    """
    mine = results.samples.get(contender, {}).get(clip)
    theirs = results.samples.get(peer, {}).get(clip)
    if not mine or not theirs:
        return None
    value = paired_ratio(mine, theirs) if len(mine) == len(theirs) else p50(mine) / p50(theirs)
    if value is None or value <= 0:
        return None
    if invert:
        value = 1 / value
    ratio = Ratio(
        name=name,
        contender=contender,
        peer=peer,
        clip=clip,
        metric="decode",
        value=round(value, 4),
        target=target,
        higher_is_better=invert,
        note=note,
    )
    results.ratios.append(ratio)
    results.add(contender, clip, f"{'speedup' if invert else 'ratio'}_vs_{peer}", value, RATIO)
    return ratio


def derive_ratios(results: Results, clips: list[Clip], pairings: list[Pairing]) -> None:
    for clip in clips:
        for pair in pairings:
            label = (
                f"GPU speed-up over CPU (reference {GPU_REFERENCE_SPEEDUP}x)"
                if pair.speedup
                else "overhead vs raw library"
            )
            note = pair.note
            if clip.kind == "speech" and clip.seconds > LONG_AUDIO_S and pair.contender.startswith("swictation-"):
                note = (
                    f"over {LONG_AUDIO_S:g} s the engine splits the audio at pauses (Silero VAD) and decodes span "
                    f"by span; the raw library decodes it whole{' (30 s windows)' if 'whisper' in pair.peer else ''}"
                )
            _ratio(
                results, label, pair.contender, pair.peer, clip.name, target=pair.target, invert=pair.speedup, note=note
            )
        engine = ENGINE_PEER[clip.kind]
        speech = clip.kind == "speech"
        tone_note = "" if speech else "the tone model decodes in a few ms, so a request's fixed cost dominates"
        for server in ("server-path", "server-pcm16"):
            own = results.value(server, clip.name, "ratio_vs_own_decode")
            if own is not None:
                results.ratios.append(
                    Ratio(
                        name="server round trip vs its engine's decode (same request)",
                        contender=server,
                        peer="engine decode",
                        clip=clip.name,
                        metric="decode",
                        value=round(own, 4),
                        target=SERVER_TARGET if speech else None,
                        note=tone_note
                        or "request written -> response with edits parsed, over the decode time the "
                        "engine reported for that request",
                    )
                )
            ratio = _ratio(
                results,
                "server round trip vs in-process engine",
                server,
                engine,
                clip.name,
                target=SERVER_TARGET if speech else None,
                note=tone_note or "cross-check (other process)",
            )
            if ratio is not None:
                mine, theirs = (
                    results.value(server, clip.name, "decode_p50"),
                    results.value(engine, clip.name, "decode_p50"),
                )
                results.add(server, clip.name, "overhead_vs_engine", (mine or 0) - (theirs or 0), MS)
    # GPU fast mode on 2.8 s against the production reference (Parakeet TDT 110M: 13 ms).
    for row in [
        r
        for r in results.rows
        if r.metric == "decode_p50" and r.contender.endswith("cuda") and r.clip in ("tone-2.8s", "speech-2.8s")
    ]:
        synthetic = row.clip.startswith("tone")
        results.ratios.append(
            Ratio(
                name="GPU fast mode on 2.8 s vs the 13 ms reference",
                contender=row.contender,
                peer=f"{GPU_REFERENCE_MS:g} ms",
                clip=row.clip,
                metric="decode",
                value=round(row.value / GPU_REFERENCE_MS, 4),
                note="synthetic tone model, not Parakeet 110M: the code path is the real one, the model is a few KB"
                if synthetic
                else "reference: Parakeet TDT 110M fp32 after a ~97 ms warmup",
            )
        )
    for row in [r for r in results.rows if r.metric == "engine_warmup_fast" and r.contender.endswith("cuda")]:
        results.ratios.append(
            Ratio(
                name=f"GPU warmup vs the ~{GPU_REFERENCE_WARMUP_MS:g} ms reference",
                contender=row.contender,
                peer=f"{GPU_REFERENCE_WARMUP_MS:g} ms",
                clip="-",
                metric="engine_warmup_fast",
                value=round(row.value / GPU_REFERENCE_WARMUP_MS, 4),
                note="the engine's one-time warm-up decode after load",
            )
        )
    # The headline: the worse of path and pcm16 on the 2.8 s speech clip, within each request.
    own = [results.value(s, "speech-2.8s", "ratio_vs_own_decode") for s in ("server-path", "server-pcm16")]
    cross = [
        results.value(s, "speech-2.8s", f"ratio_vs_{ENGINE_PEER['speech']}") for s in ("server-path", "server-pcm16")
    ]
    chosen = [v for v in own if v is not None] or [v for v in cross if v is not None]
    results.server_overhead_ratio = round(max(chosen), 4) if chosen else None


def run(config: RunConfig, log: Log = lambda message: None, workdir: Path | None = None) -> Results:
    results = Results(machine=machine_info())
    results.settings = {
        "quick": config.quick,
        "num_threads": config.num_threads,
        "reps": {
            "speech_short": config.reps_speech_short,
            "speech_long": config.reps_speech_long,
            "tone_short": config.reps_tone_short,
            "tone_long": config.reps_tone_long,
        },
        "statistic": "decode latency: median (p50) and p95 of warm runs after one untimed decode; "
        "contenders interleaved round by round",
    }
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="swictation-bench-")
        workdir = Path(own_tmp.name)
    try:
        return _run(config, results, log, workdir)
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()


def _wanted(config: RunConfig, name: str) -> bool:
    return not config.only or name in config.only


def _run(config: RunConfig, results: Results, log: Log, workdir: Path) -> Results:
    from swictation_rpc.testing.synthetic import write_tone_model

    log(f"Machine: {results.machine['cpu']}, {results.machine['usable_cores']} cores, GPU: {results.machine['gpu']}")
    started = time.perf_counter()
    clips = speech_clips(workdir, long=config.long_speech, cache=config.clip_cache) + tone_clips(workdir)
    log(
        "Clips: "
        + ", ".join(f"{c.name} ({c.seconds:.1f} s)" for c in clips)
        + f" — made in {time.perf_counter() - started:.1f} s"
    )
    if results.machine["gpu"] == "no GPU" or not results.machine["cuda_provider"]:
        gpu = results.machine["gpu"]
        results.notes.append(
            f"no GPU ({'NVML finds none' if gpu == 'no GPU' else gpu + ' without onnxruntime CUDA'}; onnxruntime "
            f"providers: {', '.join(results.machine['onnxruntime_providers'])}): the GPU rows (fast mode on CUDA, "
            "GPU vs CPU speed-up, VRAM) are skipped"
        )
    results.notes.append(
        "tone clips run the synthetic tone-alphabet transducer (a few KB, built by swictation_rpc.testing.synthetic) "
        "through the real sherpa-onnx / onnxruntime code paths that Parakeet models use; no Parakeet weights here"
    )
    setup = Setup(
        # per_feature, as Parakeet: NeMo's own preprocessor (onnx-asr) can feed these too.
        tone_sherpa_dir=str(
            write_tone_model(workdir / "models", layout="sherpa", name="tone-tdt", normalize_type="per_feature")
        ),
        tone_nemo_dir=str(
            write_tone_model(workdir / "models", layout="nemo", name="tone-tdt-nemo", normalize_type="per_feature")
        ),
        check_clip=str(next(c.path for c in clips if c.name == "tone-2.8s")),
        num_threads=config.num_threads,
        models=installed_models(),
    )
    if setup.models:
        results.notes.append("real models installed here, measured on speech: " + ", ".join(setup.models))
    in_process, probed, pairings = lineup(setup)
    loaded: list[Any] = []
    for name in in_process:
        if not _wanted(config, name):
            continue
        try:
            contender: Contender = contenders_mod.build(name, setup)
            contender.load()
        except Unavailable as exc:
            results.notes.append(f"skipped {name}: {exc}")
            log(f"Skipped {name}: {exc}")
            continue
        loaded.append(contender)
        log(f"Loaded {name}: {contender.describe()}")
    results.settings["contenders"] = {c.name: c.describe() for c in loaded}
    server = Server(setup, workdir)
    try:
        if config.server and (_wanted(config, "server-path") or _wanted(config, "server-pcm16")):
            try:
                startup = server.start()
                for metric, value in startup.items():
                    results.add("server", "-", metric.removesuffix("_ms"), value, MS)
                for problem in server.check_models():
                    results.notes.append(problem)
                for contender in server.contenders():
                    if _wanted(config, contender.name):
                        loaded.append(contender)
                        results.settings["contenders"][contender.name] = contender.describe()
                log(f"Server ready in {startup['ready_ms']:.0f} ms")
            except Unavailable as exc:
                results.notes.append(f"skipped the server round trip: {exc}")
                log(f"Skipped the server: {exc}")
        for clip in clips:
            if config.clips and clip.name not in config.clips:
                continue
            active = [c for c in loaded if clip.kind in c.clip_kinds]
            if not active:
                continue
            log(f"{clip.name} ({clip.seconds:.1f} s), {_reps(config, clip)} rounds:")
            measure_clip(clip, active, _reps(config, clip), results, log)
    finally:
        server.close()
        for contender in loaded:
            contender.close()
    if config.dictation and _wanted(config, "server-dictation"):
        from benchmarks.dictation import run_dictation

        log(f"Dictation through the server's capture path, {config.reps_dictation} rounds per pause:")
        try:
            run_dictation(
                results,
                workdir,
                reps=config.reps_dictation,
                num_threads=config.num_threads,
                cache=config.clip_cache,
                log=log,
            )
        except Unavailable as exc:
            results.notes.append(f"skipped the dictation rows: {exc}")
    # ~15 s of real-time replay per round: not in the quick run.
    if config.dictation and not config.quick and _wanted(config, "server-dictation-tones"):
        from benchmarks.dictation import run_transducer_dictation

        log(f"Dictation on the transducer (sherpa-onnx) path, {config.reps_dictation} rounds:")
        try:
            run_transducer_dictation(
                results, workdir, reps=config.reps_dictation, num_threads=config.num_threads, log=log
            )
        except (Unavailable, ImportError) as exc:
            results.notes.append(f"skipped the transducer dictation row: {exc}")
    if config.probes:
        short = {kind: next(c.name for c in clips if c.kind == kind and c.seconds < 10) for kind in ("speech", "tone")}
        probe_clips = [c for c in clips if c.name in short.values()]
        for name in probed:
            if not _wanted(config, name):
                continue
            probe = run_probe(name, setup, probe_clips)
            if "unavailable" in probe or "error" in probe:
                if not any(note.startswith(f"skipped {name}:") for note in results.notes):
                    results.notes.append(
                        f"no cold-start/memory numbers for {name}: {probe.get('unavailable') or probe.get('error')}"
                    )
                log(f"Probe {name}: {probe.get('unavailable') or probe.get('error')}")
                continue
            add_probe_rows(results, probe, short)
            log(f"Probe {name}: load {probe['load_ms']:.0f} ms, RSS {probe['rss_mb']:.0f} MB")
    derive_ratios(results, clips, pairings)
    if any(r.contender.endswith("cuda") for r in results.rows) and not setup.models:
        results.notes.append(
            "GPU numbers use the synthetic tone model (no Parakeet weights installed): the code path "
            "(onnxruntime CUDA execution provider, swictation's TDT decoder) is the real one, the "
            "model is a few KB, so compare them with the 13 ms / 7.86x references with care"
        )
    results.settings["clips"] = {
        c.name: {"kind": c.kind, "seconds": round(c.seconds, 2), "text": c.text[:80]} for c in clips
    }
    return results

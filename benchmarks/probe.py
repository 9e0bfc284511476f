"""One contender in a fresh process: import, cold load, first decodes, memory.

Run by the benchmark as ``python -m benchmarks.probe NAME SETUP_JSON CLIPS_JSON``; prints one line
``PROBE-RESULT {...}``. A fresh interpreter per contender keeps each number unpolluted by the
other models (RSS), by warm caches inside the libraries (load) and by earlier decodes (warmup).
The operating system's file cache is warm, as it is when an editor restarts the server.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

MARKER = "PROBE-RESULT "


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run(name: str, setup_json: str, clips_json: str) -> dict[str, Any]:
    import soundfile

    from benchmarks.clips import Clip
    from benchmarks.contenders import Setup, Unavailable, build

    setup = Setup.from_json(setup_json)
    clips = []
    for raw in json.loads(clips_json):
        audio, _rate = soundfile.read(raw["path"], dtype="float32")
        clips.append(Clip(name=raw["name"], kind=raw["kind"], audio=audio, text=raw["text"], path=Path(raw["path"])))
    result: dict[str, Any] = {"contender": name, "rss_start_mb": _rss_mb()}
    try:
        contender = build(name, setup)
        started = time.perf_counter()
        for module in contender.modules:
            try:
                importlib.import_module(module)
            except ImportError:
                pass  # optional for this contender (e.g. onnxruntime for a Whisper-only path)
        result["import_ms"] = (time.perf_counter() - started) * 1000
        result["rss_imported_mb"] = _rss_mb()
        started = time.perf_counter()
        contender.load()
        result["load_ms"] = (time.perf_counter() - started) * 1000
        result["rss_loaded_mb"] = _rss_mb()
    except Unavailable as exc:
        return {"contender": name, "unavailable": str(exc)}
    first: dict[str, float] = {}
    second: dict[str, float] = {}
    for clip in clips:
        if clip.kind not in contender.clip_kinds:
            continue
        for record in (first, second):
            started = time.perf_counter()
            contender.decode(clip)
            record[clip.name] = (time.perf_counter() - started) * 1000
    result["first_decode_ms"] = first
    result["second_decode_ms"] = second
    result["rss_mb"] = _rss_mb()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["engine"] = getattr(contender, "load_report", None)
    from swictation_rpc.engine.gpu import gpu_status

    gpu = gpu_status()
    if gpu is not None:
        result["gpu_mem_mb"] = gpu.memory_used_mb
        result["gpu"] = gpu.name
    contender.close()
    return result


def main(argv: list[str]) -> int:
    name, setup_json, clips_json = argv
    result = run(name, setup_json, clips_json)
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

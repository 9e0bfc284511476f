"""Which machine the numbers came from: CPU, memory, Python, library versions, GPU."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

#: Libraries whose versions decide the numbers (distribution names; first found wins per entry).
LIBRARIES = {
    "onnxruntime": ("onnxruntime-gpu", "onnxruntime"),
    "sherpa-onnx": ("sherpa-onnx",),
    "faster-whisper": ("faster-whisper",),
    "ctranslate2": ("ctranslate2",),
    "numpy": ("numpy",),
    "swictation-rpc": ("swictation-rpc",),
}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return f"{version} ({name})" if name.endswith("-gpu") else version
    return None


def machine_info() -> dict[str, Any]:
    """A JSON-ready description; ``gpu`` is ``"no GPU"`` when NVML finds none."""
    import psutil

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {key: _version(names) for key, names in LIBRARIES.items()},
    }
    try:
        import onnxruntime

        info["onnxruntime_providers"] = list(onnxruntime.get_available_providers())
    except ImportError:
        info["onnxruntime_providers"] = []
    from swictation_rpc.engine.gpu import gpu_status

    status = gpu_status()
    if status is None:
        info["gpu"] = "no GPU"
    else:
        info["gpu"] = status.name
        info["gpu_memory_total_mb"] = status.memory_total_mb
    info["cuda_provider"] = "CUDAExecutionProvider" in info["onnxruntime_providers"]
    return info


def describe(info: dict[str, Any]) -> str:
    """One line for the table's heading and the README."""
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items() if v and k != "swictation-rpc")
    cores = info.get("usable_cores") or info.get("logical_cores")
    return (
        f"{info.get('cpu')} ({cores} cores), {info.get('ram_gb')} GiB RAM, {info.get('gpu')}; "
        f"Python {info.get('python')}; {versions}; providers {', '.join(info.get('onnxruntime_providers', []))}"
    )

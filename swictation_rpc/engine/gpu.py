"""What the GPU offers and uses: onnxruntime's providers and NVML's memory figures."""

from __future__ import annotations

import functools
import logging
import os

from swictation_rpc.protocol import GpuStatus

logger = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def available_providers() -> list[str]:
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def cuda_available() -> bool:
    return CUDA in available_providers()


@functools.lru_cache(maxsize=1)
def _nvml_handle():
    try:
        import pynvml

        pynvml.nvmlInit()
        index = int((os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0] or 0)
        return pynvml.nvmlDeviceGetHandleByIndex(index)
    except Exception as exc:  # no driver, no GPU, or NVML missing: all mean "no GPU figures"
        logger.debug("NVML unavailable: %s", exc)
        return None


def gpu_status() -> GpuStatus | None:
    """Name and memory of the GPU fast mode runs on; ``None`` without an NVIDIA GPU."""
    handle = _nvml_handle()
    if handle is None:
        return None
    import pynvml

    try:
        name = pynvml.nvmlDeviceGetName(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        used = memory.used
        # Prefer this process's own use where the driver reports it.
        for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == os.getpid() and proc.usedGpuMemory:
                used = proc.usedGpuMemory
        return GpuStatus(
            name=name.decode() if isinstance(name, bytes) else str(name),
            memory_used_mb=round(used / 2**20, 1),
            memory_total_mb=round(memory.total / 2**20, 1),
        )
    except Exception as exc:
        logger.debug("NVML query failed: %s", exc)
        return None


def gpu_utilization_percent() -> int | None:
    handle = _nvml_handle()
    if handle is None:
        return None
    import pynvml

    try:
        return int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except Exception:
        return None

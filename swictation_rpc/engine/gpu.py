"""What the GPU offers and uses: onnxruntime's providers and NVML's figures, behind one seam.

The engine asks a :class:`GpuProbe` whether CUDA is there (where fast mode goes), how busy the GPU
is (``auto`` mode's "GPU busy" rule) and how much memory it uses (``status``). :class:`NvmlProbe`
is the real one: onnxruntime's execution providers and NVML through ``pynvml``; it takes the NVML
module as an argument, so tests hand it a fake with known numbers. A test of the engine passes its
own probe: ``HybridEngine(options, gpu_probe=FakeProbe())``.

The module-level functions (``gpu_status()``, ``cuda_available()``...) ask the default probe.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Protocol

from swictation_rpc.protocol import GpuStatus

logger = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_MIB = 2**20


class GpuProbe(Protocol):
    """The engine's questions about the GPU (see :class:`NvmlProbe` for the real answers)."""

    def available_providers(self) -> list[str]:
        """onnxruntime's execution providers, in its order of preference."""
        ...

    def cuda_available(self) -> bool:
        """True when onnxruntime can place a session on CUDA."""
        ...

    def utilization_percent(self) -> int | None:
        """GPU busy time over NVML's last sample period (0-100); ``None`` when unknown."""
        ...

    def status(self) -> GpuStatus | None:
        """Name and memory of the GPU fast mode runs on; ``None`` without an NVIDIA GPU."""
        ...


class _Utilization(Protocol):
    @property
    def gpu(self) -> int: ...


class _Memory(Protocol):
    @property
    def used(self) -> int: ...
    @property
    def total(self) -> int: ...


class _Process(Protocol):
    @property
    def pid(self) -> int: ...
    @property
    def usedGpuMemory(self) -> int | None: ...


class Nvml(Protocol):
    """The part of ``pynvml`` the probe calls; a device handle is opaque to us."""

    def nvmlInit(self) -> None: ...
    def nvmlDeviceGetHandleByIndex(self, index: int, /) -> object: ...
    def nvmlDeviceGetHandleByUUID(self, uuid: str, /) -> object: ...
    def nvmlDeviceGetUtilizationRates(self, handle: object, /) -> _Utilization: ...
    def nvmlDeviceGetName(self, handle: object, /) -> str | bytes: ...
    def nvmlDeviceGetMemoryInfo(self, handle: object, /) -> _Memory: ...
    def nvmlDeviceGetComputeRunningProcesses(self, handle: object, /) -> list[_Process]: ...


class NvmlProbe:
    """onnxruntime's providers and NVML's figures for the GPU ``CUDA_VISIBLE_DEVICES`` names first.

    ``nvml``: the ``pynvml`` module (imported on first use when ``None``), or any object with its
    ``nvmlInit``/``nvmlDeviceGet*`` functions. ``pid``: whose memory counts as "ours" (default:
    this process). Every NVML failure (no driver, no GPU, no pynvml) means "no figures": ``None``.
    """

    def __init__(self, nvml: Nvml | None = None, *, pid: int | None = None):
        self._nvml = nvml
        self._pid = os.getpid() if pid is None else pid
        self._handle: object | None = None
        self._tried = False
        self._lock = threading.Lock()

    def available_providers(self) -> list[str]:
        import onnxruntime

        return list(onnxruntime.get_available_providers())

    def cuda_available(self) -> bool:
        return CUDA in self.available_providers()

    def _device(self) -> object | None:
        """The NVML handle, looked up once; ``None`` when there is no NVIDIA GPU to ask."""
        with self._lock:
            if not self._tried:
                self._tried = True
                try:
                    nvml = self._nvml
                    if nvml is None:
                        import pynvml

                        nvml = self._nvml = pynvml
                    nvml.nvmlInit()
                    self._handle = self._lookup(nvml)
                except Exception as exc:  # noqa: BLE001 - no driver, no GPU, no pynvml: all mean "no GPU figures"
                    logger.debug("NVML unavailable: %s", exc)
                    self._handle = None
            return self._handle

    @staticmethod
    def _lookup(nvml: Nvml) -> object:
        first = (os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0].strip() or "0"
        if first.isdigit():
            return nvml.nvmlDeviceGetHandleByIndex(int(first))
        # CUDA_VISIBLE_DEVICES may name a GPU by UUID ("GPU-8f3e...") instead of an index.
        return nvml.nvmlDeviceGetHandleByUUID(first)

    def utilization_percent(self) -> int | None:
        handle = self._device()
        nvml = self._nvml
        if handle is None or nvml is None:  # a handle means NVML was there
            return None
        try:
            return int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception as exc:  # noqa: BLE001 - NVML errors are many classes; all mean "unknown"
            logger.debug("NVML utilisation query failed: %s", exc)
            return None

    def status(self) -> GpuStatus | None:
        handle = self._device()
        nvml = self._nvml
        if handle is None or nvml is None:  # a handle means NVML was there
            return None
        try:
            name = nvml.nvmlDeviceGetName(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            used = memory.used
            # Prefer this process's own use where the driver reports it (it may say None: no rights).
            try:
                processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except Exception:  # noqa: BLE001 - per-process figures are optional (NVML_ERROR_NO_PERMISSION...)
                processes = []
            for proc in processes:
                if proc.pid == self._pid and proc.usedGpuMemory:
                    used = proc.usedGpuMemory
            return GpuStatus(
                name=name.decode() if isinstance(name, bytes) else str(name),
                memory_used_mb=round(used / _MIB, 1),
                memory_total_mb=round(memory.total / _MIB, 1),
            )
        except Exception as exc:  # noqa: BLE001 - status must answer: no figures rather than an error
            logger.debug("NVML query failed: %s", exc)
            return None


#: The probe the engine uses unless it is given another one.
DEFAULT_PROBE = NvmlProbe()


def available_providers() -> list[str]:
    return DEFAULT_PROBE.available_providers()


def cuda_available() -> bool:
    return DEFAULT_PROBE.cuda_available()


def gpu_status() -> GpuStatus | None:
    """Name and memory of the GPU fast mode runs on; ``None`` without an NVIDIA GPU."""
    return DEFAULT_PROBE.status()


def gpu_utilization_percent() -> int | None:
    return DEFAULT_PROBE.utilization_percent()

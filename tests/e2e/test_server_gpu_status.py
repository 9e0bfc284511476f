"""``swictation/status``'s ``gpu`` over the wire, from NVML figures the test controls.

The server process imports a fake ``pynvml`` (first on its ``PYTHONPATH``) that reports a GPU with
known numbers, this process using 512 MiB of it; or, for the no-GPU answer, one whose
``nvmlInit`` fails as it does without a driver. No GPU needed, and the answer cannot pass by
accident: a real GPU's figures would differ from the fake's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

FAKE_NVML = """
import os
from types import SimpleNamespace

FAIL = {fail}
MIB = 2**20

class NVMLError(Exception):
    pass

def nvmlInit():
    if FAIL:
        raise NVMLError("NVML Shared Library Not Found")

def nvmlDeviceGetHandleByIndex(index):
    return index

def nvmlDeviceGetName(handle):
    return "NVIDIA Fake 8GB"

def nvmlDeviceGetMemoryInfo(handle):
    return SimpleNamespace(total=8192 * MIB, used=3072 * MIB, free=5120 * MIB)

def nvmlDeviceGetComputeRunningProcesses(handle):
    return [SimpleNamespace(pid=1, usedGpuMemory=64 * MIB), SimpleNamespace(pid=os.getpid(), usedGpuMemory=512 * MIB)]

def nvmlDeviceGetUtilizationRates(handle):
    return SimpleNamespace(gpu=12, memory=3)
"""


def _fake_nvml(root: Path, *, fail: bool) -> dict[str, str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pynvml.py").write_text(FAKE_NVML.format(fail=fail), encoding="utf-8")
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "CUDA_VISIBLE_DEVICES": "0"}


@pytest.mark.parametrize(
    ("fail", "expected"),
    [
        (False, {"name": "NVIDIA Fake 8GB", "memoryUsedMb": 512.0, "memoryTotalMb": 8192.0}),
        (True, None),
    ],
    ids=["gpu", "no-gpu"],
)
def test_status_reports_this_process_gpu_memory_or_null(start_server, tmp_path, fail, expected):
    rpc = start_server(env_extra=_fake_nvml(tmp_path / "fake-nvml", fail=fail))
    rpc.initialize({})
    # The GPU figures come from the loaded engine: ask once it is ready (it loads in the background).
    deadline = time.monotonic() + 120
    status = rpc.request("swictation/status")
    while not status["engine"]["ready"] and time.monotonic() < deadline:
        time.sleep(0.2)
        status = rpc.request("swictation/status")
    assert status["engine"]["ready"], status["engine"]
    assert status["gpu"] == expected
    assert rpc.shutdown_and_exit() == 0

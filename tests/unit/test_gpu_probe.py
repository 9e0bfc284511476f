"""The GPU seam: NVML's figures read against a fake NVML with known numbers, the no-GPU answer,
and ``auto`` mode's "GPU busy" rule driven by a fake probe injected into the engine.

No GPU is needed: a CPU-placed tone model stands for a model on the GPU by its ``provider`` (as
in test_hybrid_engine.py), and the fake probe says how busy that GPU is.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import attrs
import pytest

from swictation_rpc.converter import converter
from swictation_rpc.engine import gpu
from swictation_rpc.engine.hybrid import GPU_BUSY_PERCENT, HybridEngine
from swictation_rpc.options import Options
from swictation_rpc.protocol import GpuStatus

MIB = 2**20
OUR_PID = 4242


class FakeNvml:
    """pynvml's functions over two made-up GPUs; ``fail_init`` plays a machine without a driver."""

    class NVMLError(Exception):
        pass

    def __init__(self, *, fail_init: bool = False, processes=None, name: str | bytes = "NVIDIA Fake 8GB"):
        self.fail_init = fail_init
        self.init_calls = 0
        self.devices = {
            0: {"name": name, "total": 8192 * MIB, "used": 3072 * MIB, "util": 37, "uuid": "GPU-aaaa"},
            1: {"name": "NVIDIA Fake 24GB", "total": 24576 * MIB, "used": 1000 * MIB, "util": 99, "uuid": "GPU-bbbb"},
        }
        self.processes = (
            processes
            if processes is not None
            else [
                SimpleNamespace(pid=1, usedGpuMemory=100 * MIB),
                SimpleNamespace(pid=OUR_PID, usedGpuMemory=512 * MIB),
            ]
        )

    def nvmlInit(self):
        self.init_calls += 1
        if self.fail_init:
            raise self.NVMLError("NVML Shared Library Not Found")

    def nvmlDeviceGetHandleByIndex(self, index):
        if index not in self.devices:
            raise self.NVMLError("Invalid Argument")
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return next(i for i, d in self.devices.items() if d["uuid"] == uuid)

    def nvmlDeviceGetName(self, handle):
        return self.devices[handle]["name"]

    def nvmlDeviceGetMemoryInfo(self, handle):
        d = self.devices[handle]
        return SimpleNamespace(total=d["total"], used=d["used"], free=d["total"] - d["used"])

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        if isinstance(self.processes, Exception):
            raise self.processes
        return self.processes if handle == 0 else []

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=self.devices[handle]["util"], memory=10)


@pytest.fixture(autouse=True)
def first_gpu(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


# -- NVML figures ---------------------------------------------------------------------------------


def test_status_reports_this_process_memory_and_the_total_in_mib():
    probe = gpu.NvmlProbe(FakeNvml(), pid=OUR_PID)
    assert probe.status() == GpuStatus(name="NVIDIA Fake 8GB", memory_used_mb=512.0, memory_total_mb=8192.0)
    assert probe.utilization_percent() == 37


@pytest.mark.parametrize(
    "processes",
    [
        [SimpleNamespace(pid=1, usedGpuMemory=100 * MIB)],  # we hold no GPU memory
        [SimpleNamespace(pid=OUR_PID, usedGpuMemory=None)],  # the driver does not say (no permission)
        FakeNvml.NVMLError("Not Supported"),  # per-process figures unsupported
    ],
)
def test_without_a_figure_for_this_process_the_device_use_is_reported(processes):
    status = gpu.NvmlProbe(FakeNvml(processes=processes), pid=OUR_PID).status()
    assert status is not None and status.memory_used_mb == 3072.0 and status.memory_total_mb == 8192.0


def test_a_name_in_bytes_is_decoded():
    status = gpu.NvmlProbe(FakeNvml(name=b"NVIDIA Old Driver"), pid=OUR_PID).status()
    assert status is not None and status.name == "NVIDIA Old Driver"


@pytest.mark.parametrize("visible", ["1", "1,0", "GPU-bbbb"])
def test_the_gpu_is_the_first_one_cuda_visible_devices_names(monkeypatch, visible):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    probe = gpu.NvmlProbe(FakeNvml(), pid=OUR_PID)
    assert probe.status() == GpuStatus(name="NVIDIA Fake 24GB", memory_used_mb=1000.0, memory_total_mb=24576.0)
    assert probe.utilization_percent() == 99


def test_no_gpu_answers_none_and_asks_nvml_once():
    nvml = FakeNvml(fail_init=True)
    probe = gpu.NvmlProbe(nvml)
    assert probe.status() is None
    assert probe.utilization_percent() is None
    assert probe.status() is None
    assert nvml.init_calls == 1


def test_engine_status_carries_the_probe_figures_onto_the_wire_and_null_without_a_gpu():
    engine = HybridEngine(Options(), gpu_probe=gpu.NvmlProbe(FakeNvml(), pid=OUR_PID))
    assert converter.unstructure(engine.gpu()) == {
        "name": "NVIDIA Fake 8GB",
        "memoryUsedMb": 512.0,
        "memoryTotalMb": 8192.0,
    }
    no_gpu = HybridEngine(Options(), gpu_probe=gpu.NvmlProbe(FakeNvml(fail_init=True)))
    assert no_gpu.gpu() is None


# -- auto mode's "GPU busy" rule ------------------------------------------------------------------


@attrs.define
class FakeProbe:
    """A GPU whose state the test sets; counts the utilisation queries."""

    cuda: bool = False
    utilization: int | None = None
    utilization_queries: int = 0

    def available_providers(self) -> list[str]:
        return [gpu.CUDA, gpu.CPU] if self.cuda else [gpu.CPU]

    def cuda_available(self) -> bool:
        return self.cuda

    def utilization_percent(self) -> int | None:
        self.utilization_queries += 1
        return self.utilization

    def status(self) -> GpuStatus | None:
        return GpuStatus(name="Fake", memory_used_mb=1.0, memory_total_mb=2.0) if self.cuda else None


def _engine(tone_model, probe: FakeProbe) -> HybridEngine:
    from swictation_rpc.testing.synthetic import tone_audio

    options = Options()
    options.models.fast = str(tone_model(kind="tdt"))
    options.models.accurate = str(tone_model(kind="rnnt"))
    engine = HybridEngine(options, check_audio=tone_audio("hello world"), gpu_probe=probe)
    engine.load()
    return engine


def _on_gpu(engine: HybridEngine):
    """Stand the fast model in for one that was placed on the GPU (this machine may have none)."""
    fast = engine._slots["fast"].recognizer
    fast.provider = gpu.CUDA
    return fast


@pytest.fixture
def busy_engine(tone_model):
    probe = FakeProbe()
    engine = _engine(tone_model, probe)
    _on_gpu(engine)
    yield engine, probe
    engine.close()


@pytest.mark.parametrize(
    ("utilization", "expected"),
    [(None, "fast"), (0, "fast"), (GPU_BUSY_PERCENT - 1, "fast"), (GPU_BUSY_PERCENT, "accurate"), (100, "accurate")],
)
def test_interim_text_leaves_a_busy_gpu_to_accurate_mode(busy_engine, utilization, expected):
    from swictation_rpc.testing.synthetic import expected_text, tone_audio

    engine, probe = busy_engine
    probe.utilization = utilization
    assert engine.choose_mode("auto", 1.0, final=False) == expected
    result = engine.transcribe(tone_audio("hello world"), "auto", final=False)
    assert result.mode == expected and result.text == expected_text("hello world")
    assert probe.utilization_queries >= 2  # the engine asked the injected probe, not NVML


def test_a_decode_in_flight_on_the_gpu_sends_interim_text_to_accurate_mode(busy_engine):
    from swictation_rpc.testing.synthetic import tone_audio

    engine, probe = busy_engine
    probe.utilization = None  # NVML gives no figure: only the model lock tells
    fast = engine._slots["fast"].recognizer
    decoding, release = threading.Event(), threading.Event()
    real = fast.transcribe

    def slow(audio, *, hotwords=None):
        decoding.set()
        release.wait(10)
        return real(audio, hotwords=hotwords)

    fast.transcribe = slow
    worker = threading.Thread(target=engine.transcribe, args=(tone_audio("hello"), "fast"))
    worker.start()
    try:
        assert decoding.wait(10)
        assert engine.choose_mode("auto", 1.0, final=False) == "accurate"
    finally:
        release.set()
        worker.join(10)
    assert engine.choose_mode("auto", 1.0, final=False) == "fast"


def test_a_busy_gpu_does_not_matter_when_fast_mode_runs_on_the_cpu(tone_model):
    probe = FakeProbe(utilization=100)
    engine = _engine(tone_model, probe)
    try:
        assert engine._slots["fast"].recognizer.provider != gpu.CUDA
        assert engine.choose_mode("auto", 1.0, final=False) == "fast"
        # Final and long audio go to accurate mode whatever the GPU does.
        assert engine.choose_mode("auto", 1.0, final=True) == "accurate"
    finally:
        engine.close()


@pytest.mark.parametrize(("cuda", "backend"), [(True, "onnxruntime"), (False, "sherpa-onnx")])
def test_fast_mode_goes_to_the_onnxruntime_cuda_path_when_the_probe_offers_cuda(tone_model, cuda, backend):
    engine = _engine(tone_model, FakeProbe(cuda=cuda))
    try:
        fast, accurate = engine.status().models
        assert fast.backend == backend and fast.ready
        assert accurate.backend == "sherpa-onnx"  # accurate (int8) stays on the CPU runtime
        assert engine.status().providers == FakeProbe(cuda=cuda).available_providers()
    finally:
        engine.close()

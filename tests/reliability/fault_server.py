"""``swictation-rpc serve`` whose engine a test can make fail at runtime, for fault-injection tests.

The engine is the real :class:`~swictation_rpc.engine.hybrid.HybridEngine` with real models; only
the failure is injected, through files in ``$SWICTATION_FAULT_DIR`` that a test creates and
removes while the server runs:

- ``gpu``: the fast model is treated as placed on the GPU (its provider reads
  ``CUDAExecutionProvider``, as on a CUDA machine) — this machine has no GPU to lose;
- ``gpu-fails``: while present, a decode on that "GPU" model raises the error CUDA raises when the
  device is lost, so the engine must rebuild the model on the CPU;
- ``decode-raises``: holds a count; that many decodes raise inside the worker thread, whatever
  model runs them (the bundled Whisper included: there is nothing left to fall back to);
- ``decode-blocks``: while present, a decode that starts waits inside the model's lock, as a
  decode stuck in native code would (the thread cannot be interrupted);
- ``load-blocks``: while present, loading a model waits inside the engine's load lock, as a
  read of a FIFO or a hung network file system would;
- ``decodes``: created by the server, one line per decode that ran (its audio length in samples);
- ``install-raises``: holds a count; that many installs of new options (``initialize``, a settings
  change) raise, as an unforeseen bug there would.

Everything else — the server, the handlers, the transport — is the shipped code.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from swictation_rpc.commands import serve
from swictation_rpc.engine import gpu
from swictation_rpc.engine.base import Recognizer
from swictation_rpc.engine.hybrid import HybridEngine
from swictation_rpc.options import ConcreteMode, Options
from swictation_rpc.server import SwictationServer

FAULTS = Path(os.environ.get("SWICTATION_FAULT_DIR", "/nonexistent-fault-dir"))
_count_lock = threading.Lock()


def _take_one(name: str) -> bool:
    """Consume one injected failure from the counter file ``name``; True if one was left."""
    path = FAULTS / name
    with _count_lock:
        try:
            left = int(path.read_text().strip() or "0")
        except (OSError, ValueError):
            return False
        if left <= 0:
            return False
        path.write_text(str(left - 1))
        return True


class FaultyEngine(HybridEngine):
    def load(self, progress: Any = None) -> None:
        super().load(progress)
        self._arm_gpu()

    def reconfigure(self, options: Options, *, reload: Collection[ConcreteMode] = ()) -> None:
        super().reconfigure(options, reload=reload)
        self._arm_gpu()

    def _load_slot(self, *args: Any, **kwargs: Any) -> Any:
        while (FAULTS / "load-blocks").exists():
            time.sleep(0.02)
        return super()._load_slot(*args, **kwargs)

    def _arm_gpu(self) -> None:
        slot = self._slots.get("fast")
        if not (FAULTS / "gpu").exists() or slot is None or slot.recognizer is None:
            return
        recognizer = slot.recognizer
        if recognizer is self._bundled or getattr(recognizer, "_fault_armed", False):
            return
        recognizer.provider = gpu.CUDA  # type: ignore[misc]
        decode = recognizer.transcribe

        def transcribe(audio: np.ndarray, *, hotwords: list[str] | None = None) -> str:
            if (FAULTS / "gpu-fails").exists():
                raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : CUDA failure 999: unknown error ; GPU=0 (injected)")
            return decode(audio, hotwords=hotwords)

        recognizer.transcribe = transcribe  # type: ignore[method-assign]
        recognizer._fault_armed = True  # type: ignore[attr-defined]

    def _decode(self, recognizer: Recognizer, audio: np.ndarray, hints: Any) -> Any:
        if _take_one("decode-raises"):
            raise RuntimeError(f"injected failure while decoding with {recognizer.name}")
        while (FAULTS / "decode-blocks").exists():
            time.sleep(0.02)
        if FAULTS.is_dir():
            with _count_lock, open(FAULTS / "decodes", "a") as log:
                log.write(f"{len(audio)}\n")
        return super()._decode(recognizer, audio, hints)


_install_options = SwictationServer.install_options


def _faulty_install_options(self: SwictationServer, options: Options) -> None:
    if _take_one("install-raises"):
        raise RuntimeError("injected failure while installing the options")
    _install_options(self, options)


SwictationServer.install_options = _faulty_install_options  # type: ignore[method-assign]


if __name__ == "__main__":
    sys.exit(serve.main(sys.argv[1:], engine_factory=FaultyEngine))

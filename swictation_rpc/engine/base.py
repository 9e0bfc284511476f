"""What every recognizer backend offers the hybrid engine."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Recognizer(Protocol):
    """One loaded model, ready to turn audio into text.

    ``name`` is the model's name as users see it (catalogue name or folder name), ``backend`` the
    library running it (``sherpa-onnx``, ``onnxruntime``, ``faster-whisper``) and ``provider`` the
    execution provider that actually runs it (``CUDAExecutionProvider``, ``CPUExecutionProvider``,
    ``cpu``). Implementations are safe to call from one thread at a time; the hybrid engine
    serialises calls per recognizer.
    """

    name: str
    backend: str
    provider: str

    def transcribe(self, audio: np.ndarray, *, hotwords: list[str] | None = None) -> str:
        """Text of ``audio`` (16 kHz mono float32). ``hotwords`` bias recognition where supported."""
        ...

    def close(self) -> None:
        """Release the model's memory (sessions, GPU buffers)."""
        ...

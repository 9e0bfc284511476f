"""Process-wide settings for the native runtimes, applied before any of them is imported.

onnxruntime (1.2x and later, Linux included) records telemetry on import: a device id and
machine facts under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/``. swictation-rpc writes
nothing outside its data folder, so telemetry is turned off here, once, for every
``InferenceSession`` the process creates (Silero VAD in faster-whisper, the onnxruntime TDT
backend, the segmenter). The package's ``__init__`` imports this module, so it runs before any
engine code can import onnxruntime; child processes inherit the switch through the environment.
"""

from __future__ import annotations

import os
import sys

#: The switch onnxruntime reads when it is loaded; any other value leaves telemetry on.
ORT_TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def disable_onnxruntime_telemetry() -> None:
    """Turn onnxruntime's telemetry off, whether or not it is already imported."""
    os.environ[ORT_TELEMETRY_ENV] = "1"
    ort = sys.modules.get("onnxruntime")
    disable = getattr(ort, "disable_telemetry_events", None)
    if disable is not None:
        disable()  # imported before us (an embedding program): stop its events from now on


disable_onnxruntime_telemetry()

"""Rolling latency per mode: what ``swictation/status`` and the log report."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from swictation_rpc.protocol import ModeMetrics

WINDOW = 200  # recent requests per mode; old ones stop counting so a regression shows quickly


class LatencyMetrics:
    def __init__(self, window: int = WINDOW):
        self._lock = threading.Lock()
        self._decode_ms: dict[str, deque[float]] = {}
        self._rtf: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}
        self._window = window

    def record(self, mode: str, decode_ms: float, audio_ms: float) -> None:
        with self._lock:
            self._decode_ms.setdefault(mode, deque(maxlen=self._window)).append(decode_ms)
            if audio_ms > 0:
                self._rtf.setdefault(mode, deque(maxlen=self._window)).append(decode_ms / audio_ms)
            self._counts[mode] = self._counts.get(mode, 0) + 1

    def snapshot(self) -> dict[str, ModeMetrics]:
        with self._lock:
            result = {}
            for mode, count in self._counts.items():
                decode = np.asarray(self._decode_ms.get(mode, ()), dtype=float)
                rtf = np.asarray(self._rtf.get(mode, ()), dtype=float)
                result[mode] = ModeMetrics(
                    count=count,
                    p50_ms=round(float(np.percentile(decode, 50)), 2) if decode.size else None,
                    p95_ms=round(float(np.percentile(decode, 95)), 2) if decode.size else None,
                    rtf_p50=round(float(np.percentile(rtf, 50)), 4) if rtf.size else None,
                )
            return result

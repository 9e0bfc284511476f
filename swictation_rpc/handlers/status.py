"""``swictation/status``: what the editor's status item and ``:checkhealth`` show."""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING, Any

from swictation_rpc.options import unstructure_options
from swictation_rpc.protocol import STATUS, EngineStatus, InputDevice, StatusParams, StatusResult

if TYPE_CHECKING:
    from swictation_rpc.server import SwictationServer

logger = logging.getLogger(__name__)


def register(server: SwictationServer) -> None:
    server.feature(STATUS)(status)


async def status(ls: SwictationServer, params: StatusParams) -> StatusResult:
    """Never waits for the engine: a loading engine is reported as such."""
    from swictation_rpc.handlers.dictation import run_blocking

    engine = ls.engine
    # Device enumeration and NVML can block for a moment: keep them off the event loop.
    engine_status, metrics, gpu, devices = await run_blocking(ls, _gather, engine)
    return StatusResult(
        state=ls.state,
        engine=engine_status,
        metrics=metrics,
        gpu=gpu,
        rss_mb=_rss_mb(),
        input_devices=devices,
        config=unstructure_options(ls.options),
        session_id=ls.dictation.id if ls.dictation is not None else None,
    )


def _gather(engine: Any) -> tuple[EngineStatus, dict[str, Any], Any, list[InputDevice]]:
    if engine is None:
        engine_status, metrics, gpu = EngineStatus(ready=False), {}, None
    else:
        engine_status, metrics, gpu = engine.status(), engine.metrics(), engine.gpu()
    return engine_status, metrics, gpu, _input_devices()


def _input_devices() -> list[InputDevice]:
    if importlib.util.find_spec("swictation_rpc.audio.capture") is None:
        return []
    from swictation_rpc.audio.capture import list_input_devices

    try:
        return list(list_input_devices())
    except Exception as exc:  # noqa: BLE001 - status must answer even when PortAudio misbehaves
        logger.warning("Cannot list input devices: %s", exc)
        return []


def _rss_mb() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return round(psutil.Process().memory_info().rss / 2**20, 1)

"""``swictation/status``: what the editor's status item and ``:checkhealth`` show."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from swictation_rpc.audio.capture import list_input_devices
from swictation_rpc.engine_host import Engine
from swictation_rpc.handlers.base import Server
from swictation_rpc.options import unstructure_options
from swictation_rpc.protocol import (
    STATUS,
    EngineStatus,
    GpuStatus,
    InputDevice,
    ModeMetrics,
    StatusParams,
    StatusResult,
)

logger = logging.getLogger(__name__)


async def status(ls: Server, params: StatusParams) -> StatusResult:
    """Never waits for the engine: a loading engine is reported as such."""
    # Device enumeration and NVML can block for a moment: keep them off the event loop.
    engine_status, metrics, gpu, devices = await ls.blocking(_gather, ls.engine_host.engine)
    # The setting in effect, also while the engine is still loading or applying a change.
    engine_status.language = ls.options.language
    for model in engine_status.models:
        model.problem = ls.remedy_text(model.problem)
    active = ls.dictation.active
    return StatusResult(
        state=ls.state,
        engine=engine_status,
        metrics=metrics,
        gpu=gpu,
        rss_mb=_rss_mb(),
        input_devices=devices,
        config=unstructure_options(ls.options),
        session_id=active.id if active is not None else None,
    )


FEATURES: dict[str, Callable[..., Any]] = {STATUS: status}


def _gather(
    engine: Engine | None,
) -> tuple[EngineStatus, dict[str, ModeMetrics], GpuStatus | None, list[InputDevice]]:
    if engine is None:
        return EngineStatus(ready=False), {}, None, _input_devices()
    return engine.status(), engine.metrics(), engine.gpu(), _input_devices()


def _input_devices() -> list[InputDevice]:
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

"""Models from the editor: list the store, download a model with progress, remove one.

``swictation/models`` is the catalogue with what is installed and what each mode uses
(:mod:`swictation_rpc.models.overview`, plus which modes the loaded engine serves with each
model). ``swictation/downloadModel`` runs the CLI's own install
(:meth:`~swictation_rpc.models.store.ModelStore.download`: resumable, size- and SHA-256-checked,
published with one rename) on a worker thread and shows it as LSP work-done progress on the
client's ``workDoneToken`` (or a token the server creates when the client supports
``window.workDoneProgress``). ``window/workDoneProgress/cancel`` and ``$/cancelRequest`` stop the
transfer at its next chunk (the progress callback raises) or between files; the request then
answers -32800 once the worker has stopped, with nothing installed. A model configured for a mode
(or any model, when the engine had failed to load) is then loaded through the engine host's
settings path, so it serves without a restart; ``swictation/removeModel`` reloads the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from swictation_rpc.engine.hybrid import BUNDLED_ALIASES, MODES
from swictation_rpc.engine_host import Engine
from swictation_rpc.errors import ModelBrokenError, SwictationError
from swictation_rpc.handlers.base import Server
from swictation_rpc.models.catalogue import check_model_name, get_entry
from swictation_rpc.models.download import DownloadCancelled, Progress
from swictation_rpc.models.manifest import MANIFEST_NAME
from swictation_rpc.models.overview import human_size, mode_model, model_infos
from swictation_rpc.models.store import ModelStore
from swictation_rpc.options import ConcreteMode, Options
from swictation_rpc.protocol import (
    DOWNLOAD_MODEL,
    MODELS,
    REMOVE_MODEL,
    DownloadModelParams,
    DownloadModelResult,
    EngineStatus,
    ModelInfo,
    ModelsParams,
    ModelsResult,
    ModeModel,
    RemoveModelParams,
    RemoveModelResult,
)

logger = logging.getLogger(__name__)

#: A client that does not answer ``window/workDoneProgress/create`` within this long gets no progress.
CLIENT_REPLY_TIMEOUT_S = 10.0
#: How long a cancelled download may take to stop before the request is answered regardless.
STOP_TIMEOUT_S = 60.0
#: Without a known size, progress is reported every this many bytes.
REPORT_EVERY_BYTES = 1 << 20


# -- swictation/models ----------------------------------------------------------------------------


async def models(ls: Server, params: ModelsParams) -> ModelsResult:
    result = await ls.blocking(describe, ls.options, ls.engine_host.engine, ls.engine_host.loading)
    for info in result.models:
        info.problem = ls.remedy_text(info.problem)
    for mode in result.modes:
        mode.problem = ls.remedy_text(mode.problem)
    return result


def describe(options: Options, engine: Engine | None, loading: bool) -> ModelsResult:
    store = ModelStore.from_options(options)
    status = engine.status() if engine is not None and not loading else None
    serving: dict[str, list[ConcreteMode]] = {}
    for model in status.models if status is not None else ():
        if model.ready:
            serving.setdefault(model.name, []).append(model.mode)
    infos: list[ModelInfo] = model_infos(store)
    for info in infos:
        info.serving = serving.get(info.name, [])
    modes = [_mode(store, mode, getattr(options.models, mode), status) for mode in MODES]
    return ModelsResult(models_dir=str(store.root), models=infos, modes=modes)


def _mode(store: ModelStore, mode: ConcreteMode, requested: str, status: EngineStatus | None) -> ModeModel:
    if requested in BUNDLED_ALIASES:
        result = ModeModel(mode=mode, model=requested, installed=True)
    else:
        result = mode_model(store, mode, requested)
    # The files are fine, but the engine could not use them (outputs <unk>, hears nothing): say so.
    loaded = next((m for m in status.models if m.mode == mode), None) if status is not None else None
    if result.problem is None and result.installed and loaded is not None and loaded.problem:
        expected = requested.rstrip("/").rsplit("/", 1)[-1]
        if (not loaded.ready or loaded.name != expected) and requested not in BUNDLED_ALIASES:
            result.problem = loaded.problem
    return result


# -- swictation/downloadModel ---------------------------------------------------------------------


class DownloadProgress:
    """Work-done progress of one download; :meth:`__call__` runs on the worker thread.

    Reports go to the event loop in order; the percentage never goes backwards and a report is
    sent only when it moves (or, without a known size, every :data:`REPORT_EVERY_BYTES`).
    """

    def __init__(
        self,
        ls: Server,
        loop: asyncio.AbstractEventLoop,
        name: str,
        token: types.ProgressToken | None,
        total: int | None,
        cancel: threading.Event,
    ):
        self._ls = ls
        self._loop = loop
        self.name = name
        self.token = token
        self._total = total
        self._cancel = cancel
        self._done: dict[str, int] = {}
        self._totals: dict[str, int | None] = {}
        self._percentage = 0
        self._reported_bytes = 0
        self._ended = False

    def begin(self) -> None:
        if self.token is None:
            return
        progress = self._ls.work_done_progress
        # A token the client used before (and cancelled) must not cancel this download at once.
        progress.tokens.pop(self.token, None)
        size = f"{human_size(self._total)} to download" if self._total else "Starting the download"
        progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=f"Downloading {self.name}", cancellable=True, percentage=0, message=size),
        )
        progress.tokens[self.token].add_done_callback(self._on_token_done)

    def _on_token_done(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():  # window/workDoneProgress/cancel
            self._cancel.set()

    def __call__(self, progress: Progress) -> None:
        """The store's progress callback: raising stops the transfer (its ``.part`` is kept)."""
        if self._cancel.is_set():
            raise DownloadCancelled(self.name)
        self._done[progress.label] = progress.done
        self._totals[progress.label] = progress.total
        done = sum(self._done.values())
        total = self._total
        if total is None and len(self._totals) == 1:
            total = progress.total
        if total:
            percentage = max(self._percentage, min(100, done * 100 // total))
            if percentage == self._percentage:
                return
            self._percentage = percentage
            message = f"{human_size(done)} of {human_size(total)}"
        else:
            if done - self._reported_bytes < REPORT_EVERY_BYTES:
                return
            message = f"{human_size(done)} downloaded"
        self._reported_bytes = done
        self.report(message, self._percentage if total else None)

    def report(self, message: str, percentage: int | None = None) -> None:
        """Thread-safe: sent on the event loop, after every report queued before it."""
        if self.token is None:
            return
        value = types.WorkDoneProgressReport(message=message, percentage=percentage, cancellable=True)
        self._loop.call_soon_threadsafe(self._ls.work_done_progress.report, self.token, value)

    def end(self, message: str) -> None:
        """On the event loop, once: the last word about this token; the token is forgotten."""
        if self.token is None or self._ended:
            return
        self._ended = True
        progress = self._ls.work_done_progress
        progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        progress.tokens.pop(self.token, None)


async def download_model(ls: Server, params: DownloadModelParams) -> DownloadModelResult:
    name = params.name
    store = ModelStore.from_options(ls.options)
    entry = await ls.blocking(get_entry, name, store.catalogue)  # an unknown name: before any progress
    cancel = threading.Event()
    token = params.work_done_token if params.work_done_token is not None else await _server_token(ls)
    progress = DownloadProgress(
        ls, asyncio.get_running_loop(), name, token, entry.download_size or entry.approx_size, cancel
    )
    progress.begin()
    try:
        path = await _download(ls, store, params, progress, cancel)
    except BaseException as exc:
        if cancel.is_set() or isinstance(exc, DownloadCancelled):
            progress.end("Download cancelled")
            raise _cancelled(name) from None
        progress.end(str(exc) if isinstance(exc, SwictationError) else f"The download of {name} failed: {exc}")
        raise
    logger.info("Installed %s at %s", name, path)
    modes = _configured_modes(ls, name)
    reloaded = False
    failure: str | None = None
    if modes or ls.engine_host.failed or ls.engine_host.load_failed:
        progress.report(f"Loading {name}")
        failure = await _reload(ls, modes)
        reloaded = failure is None
    serving, problem = await ls.blocking(_serving, ls.engine_host.engine, name, modes, failure)
    if problem is not None:
        logger.warning("Installed %s, but the engine does not serve it: %s", name, problem)
    progress.end(f"Installed {name}" if problem is None else f"Installed {name}, but it cannot serve yet")
    problem = ls.remedy_text(problem)
    return DownloadModelResult(name=name, path=str(path), reloaded=reloaded, serving=serving, problem=problem)


def _serving(
    engine: Engine | None, name: str, modes: list[ConcreteMode], failure: str | None
) -> tuple[list[ConcreteMode], str | None]:
    """The modes the engine serves with ``name`` now, and why it does not serve a mode configured with it."""
    status = engine.status() if engine is not None else None
    models = status.models if status is not None else []
    serving = [m.mode for m in models if m.ready and m.name == name]
    if serving or not modes:
        return serving, None
    if failure is not None:
        return serving, failure
    for mode in modes:
        loaded = next((m for m in models if m.mode == mode), None)
        if loaded is not None and loaded.problem:
            return serving, loaded.problem
    return serving, f"The engine does not serve {name} in {' or '.join(modes)} mode (swictation/status says why)."


async def _download(
    ls: Server, store: ModelStore, params: DownloadModelParams, progress: DownloadProgress, cancel: threading.Event
) -> Path:
    """The store's download on a worker thread; ``$/cancelRequest`` stops it, and is answered once it stopped."""
    worker = asyncio.ensure_future(
        ls.blocking(store.download, params.name, progress, force=params.force, cancelled=cancel.is_set)
    )
    try:
        return await asyncio.shield(worker)
    except asyncio.CancelledError:  # $/cancelRequest, or the server is exiting
        cancel.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(worker), STOP_TIMEOUT_S)
        if worker.done() and not worker.cancelled() and worker.exception() is None:
            cancel.clear()  # it had finished: the model is installed after all
            return worker.result()
        raise DownloadCancelled(params.name) from None


def _cancelled(name: str) -> JsonRpcRequestCancelled:
    return JsonRpcRequestCancelled(f"Download of {name} cancelled", data={"kind": "request-cancelled", "model": name})


async def _server_token(ls: Server) -> types.ProgressToken | None:
    """A token the server creates (``window/workDoneProgress/create``), if the client supports it."""
    if not ls.supports_progress():
        return None
    token = f"swictation-download-{uuid.uuid4().hex[:12]}"
    try:
        await asyncio.wait_for(ls.work_done_progress.create_async(token), CLIENT_REPLY_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - progress is a nicety, never a failure
        logger.info("No work-done progress for the download: %s", exc)
        return None
    return token


def _configured_modes(ls: Server, name: str) -> list[ConcreteMode]:
    return [mode for mode in MODES if getattr(ls.options.models, mode) == name]


async def _reload(ls: Server, modes: list[ConcreteMode]) -> str | None:
    """Load ``modes`` again (the whole engine if it had failed) through the settings path; ``None`` if it did,
    else why it failed.

    Not cancellable: the model is installed by now, so the answer says so.
    """
    host = ls.engine_host
    change = host.begin_change()
    host.apply(ls.options, change, show_progress=False, reload=modes)
    job = asyncio.ensure_future(asyncio.wrap_future(change.done))
    while not job.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(job)
    error = job.exception()
    if error is not None:
        logger.warning("Reloading the engine failed: %s", error)
        return f"Reloading the engine failed: {error}"
    return None


# -- swictation/removeModel -----------------------------------------------------------------------


async def remove_model(ls: Server, params: RemoveModelParams) -> RemoveModelResult:
    store = ModelStore.from_options(ls.options)
    removed = await ls.blocking(_remove, store, params.name)
    modes = _configured_modes(ls, params.name)
    if removed and modes:
        await _reload(ls, modes)
    return RemoveModelResult(name=params.name, removed=removed)


def _remove(store: ModelStore, name: str) -> bool:
    """Remove what the store installed under ``name``; false when there was nothing."""
    folder = store.path_for(check_model_name(name))
    partial = store.root / ".downloads" / name
    if not (folder.exists() or folder.is_symlink() or partial.exists()):
        return False
    if folder.is_dir() and not folder.is_symlink() and not (folder / MANIFEST_NAME).exists():
        raise ModelBrokenError(
            f"{folder} was not installed by swictation-rpc (it has no {MANIFEST_NAME}), so it is left as it is",
            remedy="Delete the folder yourself if you no longer need it.",
            model=name,
            file=str(folder),
        )
    store.remove(name)
    return True


FEATURES: dict[str, Callable[..., Any]] = {
    MODELS: models,
    DOWNLOAD_MODEL: download_model,
    REMOVE_MODEL: remove_model,
}

"""The engine's life in the server: load, reload on a settings change, wait for it, report progress.

This module is a little over 450 lines on purpose: loading, settings changes, the decode queue and
load progress share the engine's single thread and the job requests wait on.

``initialize`` never waits for the engine: :meth:`EngineHost.start` builds it and loads the models
on the engine thread while the server answers. A settings change is applied on the same single
thread (:meth:`EngineHost.apply`), so changes apply in order and a request sent after a change
sees it; a change whose settings are still being fetched from the client holds engine requests
until it is applied or dropped (:meth:`EngineHost.begin_change`, :meth:`EngineHost.settle`).
Requests that need the engine wait with :meth:`EngineHost.ensure`. The load is reported as
work-done progress once the client is ready for it (:class:`ProgressReporter`). An engine whose
load failed is built again by the next settings change.

Decodes of requests (``transcribe``, the accurate second pass, a transcription again) wait in a
queue of their own (:class:`DecodeQueue`, :data:`DECODE_WORKERS` threads), never on the server's
thread pool: ``status``, ``history`` and ``stopDictation`` are answered while decodes queue
(issue 19, item 10). A queued decode whose request is cancelled leaves the queue and never runs.
The time a decode waited in the queue is part of its ``totalMs``. The microphone session decodes
on its own threads, straight away, never behind the queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

import attrs
import numpy as np
from lsprotocol import types
from pygls.progress import Progress as ClientProgress

from swictation_rpc.engine.base import Transcriber
from swictation_rpc.errors import EngineLoadingError, SwictationError
from swictation_rpc.options import ConcreteMode, Mode, Options
from swictation_rpc.protocol import EngineStatus, GpuStatus, ModeMetrics, Transcript

logger = logging.getLogger(__name__)

#: A client that does not answer ``window/workDoneProgress/create`` within this long is not waited on.
CLIENT_REPLY_TIMEOUT_S = 10.0

#: Threads decoding queued requests: the engine's two models (fast, accurate) can decode at once.
DECODE_WORKERS = 2

#: Called with a message and a completion fraction (``None`` when unknown) while loading.
LoadProgress = Callable[[str, "float | None"], None]


class Engine(Transcriber, Protocol):
    """A speech engine as the server hosts it (:class:`~swictation_rpc.engine.hybrid.HybridEngine`)."""

    def load(self, progress: LoadProgress | None = None) -> None: ...

    def reconfigure(self, options: Options, *, reload: Collection[ConcreteMode] = ()) -> None: ...

    def close(self) -> None: ...

    def metrics(self) -> dict[str, ModeMetrics]: ...

    def gpu(self) -> GpuStatus | None: ...


#: Builds the engine for some options (tests wrap the hybrid engine's factory).
EngineFactory = Callable[[Options], Engine]


class HostClient(Protocol):
    """What the host needs of the server: the event loop, state changes, the user, progress."""

    def call_soon(self, func: Callable[..., object], *args: object) -> None: ...

    def publish_state(self, reason: str | None = None, *, force: bool = False) -> None: ...

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None: ...

    def supports_progress(self) -> bool: ...

    @property
    def work_done_progress(self) -> ClientProgress: ...


def hybrid_engine(options: Options) -> Engine:
    """The default engine: the hybrid engine (fast and accurate models, bundled Whisper fallback)."""
    from swictation_rpc.engine.hybrid import HybridEngine  # heavy: only when a server starts one

    return HybridEngine(options)


class DecodeQueue:
    """Where requests' decodes wait their turn: :data:`DECODE_WORKERS` threads of their own.

    Cancelling a queued decode's future takes it out of the queue: it never runs.
    """

    def __init__(self, workers: int = DECODE_WORKERS):
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="decode")
        self._lock = threading.Lock()
        #: Decodes running now (not those waiting in the queue).
        self.running = 0

    def submit(self, engine: Engine, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Transcript]:
        """Decode with ``engine.transcribe(*args, **kwargs)`` in turn; the wait counts in ``totalMs``."""
        queued = time.perf_counter()

        def decode() -> Transcript:
            waited_ms = (time.perf_counter() - queued) * 1000
            with self._lock:
                self.running += 1
            try:
                transcript = engine.transcribe(*args, **kwargs)
            finally:
                with self._lock:
                    self.running -= 1
            if waited_ms >= 1:
                logger.debug("A decode waited %.0f ms in the queue", waited_ms)
            transcript.timings.total_ms = round(transcript.timings.total_ms + waited_ms, 2)
            return transcript

        return self._executor.submit(decode)

    def close(self) -> None:
        """Queued decodes are cancelled; one running finishes on its own (never waited for)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class QueuedDecode:
    """``transcribe`` of a :class:`QueuedEngine`.

    Handed to the utterance service's :class:`~swictation_rpc.utterances.ports.Blocking` runner, it
    waits in the :class:`DecodeQueue` (:meth:`submit`); called directly (by the microphone
    session, on its own threads) it decodes at once.
    """

    def __init__(self, engine: Engine, queue: DecodeQueue):
        self._engine = engine
        self._queue = queue

    def __call__(
        self,
        audio: np.ndarray,
        mode: Mode = "auto",
        *,
        final: bool = True,
        hotwords: list[str] | None = None,
        prompt: str | Mapping[str, str] | None = None,
        commands: list[str] | None = None,
    ) -> Transcript:
        return self._engine.transcribe(audio, mode, final=final, hotwords=hotwords, prompt=prompt, commands=commands)

    def submit(self, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Transcript]:
        return self._queue.submit(self._engine, *args, **kwargs)


class QueuedEngine:
    """The engine as requests get it from :meth:`EngineHost.ensure`: its decodes queue."""

    def __init__(self, engine: Engine, queue: DecodeQueue):
        self.wrapped = engine
        self.transcribe = QueuedDecode(engine, queue)

    def status(self) -> EngineStatus:
        return self.wrapped.status()

    def metrics(self) -> dict[str, ModeMetrics]:
        return self.wrapped.metrics()

    def gpu(self) -> GpuStatus | None:
        return self.wrapped.gpu()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


@attrs.define(eq=False)
class SettingsChange:
    """A settings change on its way: engine requests wait for :attr:`done`."""

    generation: int
    """Its place among settings changes: a slow one never overrides a newer one."""
    previous: concurrent.futures.Future[None]
    """The engine job it follows: if the change turns out to be empty, it settles as that one did."""
    done: concurrent.futures.Future[None] = attrs.field(factory=concurrent.futures.Future)


class EngineHost:
    """Owns the engine, its single thread, and the job requests wait on."""

    def __init__(self, client: HostClient, factory: EngineFactory | None = None):
        self._client = client
        self._factory = factory or hybrid_engine
        #: The engine itself (``engine`` hands it out with its decodes queued).
        self.raw_engine: Engine | None = None
        self._queued: QueuedEngine | None = None
        self.decodes = DecodeQueue()
        #: The last load failed: the next settings change builds the engine again.
        self.failed = False
        #: Done when the engine has loaded and the last settings change has been applied.
        self._job: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="engine")
        self._generation = 0
        self._load_progress: ProgressReporter | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- state ------------------------------------------------------------------------------------

    @property
    def engine(self) -> QueuedEngine | None:
        """The engine, if built; its decodes through the utterance service's runner queue."""
        raw = self.raw_engine
        if raw is None:
            return None
        if self._queued is None or self._queued.wrapped is not raw:
            self._queued = QueuedEngine(raw, self.decodes)
        return self._queued

    @property
    def loading(self) -> bool:
        return not self._job.done()

    @property
    def load_failed(self) -> bool:
        """The last load or settings change failed (the server's state is ``error``)."""
        return self._job.done() and not self._job.cancelled() and self._job.exception() is not None

    async def ensure(self, wait: bool = True) -> QueuedEngine:
        """The engine, once loaded and with the current settings applied.

        With ``wait=False`` a loading engine is an :class:`EngineLoadingError` instead of a wait.
        """
        while True:
            job = self._job
            if not job.done():
                if not wait:
                    raise EngineLoadingError(
                        remedy="Retry in a moment, or send waitForEngine: true to wait for it "
                        "(swictation/status shows the load).",
                    )
                # Shielded: a cancelled request must not cancel the job every request waits on.
                await asyncio.shield(asyncio.wrap_future(job))
            if job is self._job:
                job.result()  # re-raises a failed load
                engine = self.engine
                if engine is None:  # a successful job always leaves an engine
                    raise RuntimeError("the engine job finished without an engine")
                return engine

    # -- loading ----------------------------------------------------------------------------------

    def start(self, options: Options) -> None:
        """Build the engine and load it on the engine thread; ``initialize`` answers meanwhile."""
        job = self._job
        reporter = ProgressReporter(self._client, "Swictation: loading the speech engine")
        self._load_progress = reporter

        def load() -> None:
            error: BaseException | None = None
            started = time.perf_counter()
            try:
                self.raw_engine = self._factory(options)
                self.raw_engine.load(progress=self._progress_callback(reporter))
                logger.info("Speech engine ready in %.1f s", time.perf_counter() - started)
            except BaseException as exc:  # noqa: BLE001 - reported to the waiting requests and the user
                error = exc
                self.failed = True
                logger.error("The speech engine failed to load: %s", exc)
                message = exc.message if isinstance(exc, SwictationError) else str(exc)
                self._client.call_soon(
                    self._client.show_message,
                    f"Swictation: the speech engine failed to load: {message}",
                    types.MessageType.Error,
                )
            finally:
                self._finish(job, error, reporter)

        self._submit(load, job)

    async def show_load_progress(self) -> None:
        """The client is ready (``initialized``): show the load as work-done progress."""
        if self._load_progress is not None:
            await self._load_progress.activate()

    # -- settings changes -------------------------------------------------------------------------

    def begin_change(self) -> SettingsChange:
        """Hold engine requests until the settings being installed (or fetched) are applied."""
        self._generation += 1
        change = SettingsChange(generation=self._generation, previous=self._job)
        self._job = change.done
        return change

    def is_latest(self, change: SettingsChange) -> bool:
        """No newer change began since ``change`` did."""
        return change.generation == self._generation

    def settle(self, change: SettingsChange) -> None:
        """Nothing to apply for the engine: the change ends as the job before it does."""

        def settle(previous: concurrent.futures.Future[None]) -> None:
            if change.done.done():
                return
            error = None if previous.cancelled() else previous.exception()
            if error is not None:
                change.done.set_exception(error)
            else:
                change.done.set_result(None)
            self._client.call_soon(self._client.publish_state)

        change.previous.add_done_callback(settle)

    def apply(
        self,
        options: Options,
        change: SettingsChange,
        *,
        show_progress: bool,
        reload: Collection[ConcreteMode] = (),
    ) -> None:
        """Re-apply the engine's part of new settings on the engine thread (rebuild it if it failed).

        ``reload``: modes whose model is loaded again even though their setting did not change
        (``swictation/downloadModel`` installed it, ``removeModel`` removed it).
        """
        reporter = ProgressReporter(self._client, "Swictation: applying settings") if show_progress else None
        job = change.done

        def work() -> None:
            error: BaseException | None = None
            started = time.perf_counter()
            try:
                if self.raw_engine is None or self.failed:
                    # The engine never came up: build it again with the new settings.
                    self.raw_engine = self._factory(options)
                    self.raw_engine.load(progress=self._progress_callback(reporter))
                    self.failed = False
                else:
                    self.raw_engine.reconfigure(options, reload=reload)
                logger.info("Settings applied in %.0f ms", (time.perf_counter() - started) * 1000)
            except BaseException as exc:  # noqa: BLE001 - reported to the waiting requests
                error = exc
                logger.error("Applying settings failed: %s", exc)
            finally:
                self._finish(job, error, reporter)

        self._client.call_soon(self._client.publish_state)
        if reporter is not None:
            task = asyncio.ensure_future(reporter.activate())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._submit(work, job)

    # -- the engine thread ------------------------------------------------------------------------

    def _submit(self, work: Callable[[], None], job: concurrent.futures.Future[None]) -> None:
        # The engine thread is single: jobs run in submission order, after the load.
        try:
            self._executor.submit(work)
        except RuntimeError:  # executor shut down: the server is exiting
            if not job.done():
                job.cancel()

    def _finish(
        self, job: concurrent.futures.Future[None], error: BaseException | None, reporter: ProgressReporter | None
    ) -> None:
        if not job.done():
            if error is None:
                job.set_result(None)
            else:
                job.set_exception(error)
        if reporter is not None:
            self._client.call_soon(reporter.finish, None if error is None else str(error))
        self._client.call_soon(self._client.publish_state)

    def _progress_callback(self, reporter: ProgressReporter | None) -> LoadProgress:
        def progress(stage: str, fraction: float | None = None) -> None:
            logger.info("Engine: %s%s", stage, "" if fraction is None else f" ({fraction:.0%})")
            if reporter is not None:
                self._client.call_soon(reporter.report, stage, fraction)

        return progress

    def close(self) -> None:
        """Stop the engine thread and the decode queue, release the engine; the process is ending.

        An engine still loading or decoding is left as it is (native code cannot be interrupted,
        and freeing a model under a decode could crash the process on its way out).
        """
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.decodes.close()
        engine = self.raw_engine
        if engine is not None and self._job.done() and not self.decodes.running:
            try:
                engine.close()
            except Exception:
                logger.exception("Closing the engine failed")


class ProgressReporter:
    """Server-initiated work-done progress for one engine job; everything runs on the event loop.

    Reports that arrive before the client is ready (before ``initialized``, or before it answered
    ``window/workDoneProgress/create``) are kept and the latest is shown on ``begin``.
    """

    def __init__(self, client: HostClient, title: str):
        self._client = client
        self.title = title
        self.token = f"swictation-{uuid.uuid4().hex[:12]}"
        self._message: str | None = None
        self._percentage: int | None = None
        self._active = False
        self._done = False
        self._error: str | None = None

    async def activate(self) -> None:
        if self._active or not self._client.supports_progress():
            return
        progress = self._client.work_done_progress
        try:
            await asyncio.wait_for(progress.create_async(self.token), CLIENT_REPLY_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - progress is a nicety, never a failure
            logger.info("No work-done progress: %s", exc)
            return
        self._active = True
        progress.begin(
            self.token,
            types.WorkDoneProgressBegin(
                title=self.title, cancellable=False, message=self._message, percentage=self._percentage or 0
            ),
        )
        if self._done:
            self._send_end()

    def report(self, stage: str, fraction: float | None) -> None:
        self._message = stage
        if fraction is not None:
            # LSP percentages never go backwards.
            self._percentage = max(self._percentage or 0, min(100, round(fraction * 100)))
        if self._active and not self._done:
            self._client.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=stage, percentage=self._percentage)
            )

    def finish(self, error: str | None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        if self._active:
            self._send_end()

    def _send_end(self) -> None:
        message = "ready" if self._error is None else f"failed: {self._error}"
        self._client.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))

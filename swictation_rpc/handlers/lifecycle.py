"""LSP lifecycle: initialize (settings, background engine load), settings changes, shutdown.

``initialize`` never waits for the engine: it builds the options, starts loading the models on the
engine thread and answers at once. The load is reported as work-done progress once the client
is ready for it (after ``initialized``); requests that need the engine wait for it
(:meth:`SwictationServer.ensure_engine`). A settings change is applied the same way, on the same
thread, so changes apply in order and a request sent after a change sees it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from swictation_rpc.errors import SwictationError
from swictation_rpc.options import Options, structure_options

if TYPE_CHECKING:
    from swictation_rpc.server import SwictationServer

logger = logging.getLogger(__name__)

#: The settings section editors keep our configuration under.
SECTION = "swictation"
#: A client that does not answer a progress/configuration request within this long is not waited on.
CLIENT_REPLY_TIMEOUT_S = 10.0


def register(server: SwictationServer) -> None:
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    server.feature(types.SHUTDOWN)(shutdown)


def initialize(ls: SwictationServer, params: types.InitializeParams) -> None:
    raw = params.initialization_options
    options, problems = structure_options(unwrap_section(raw))
    report_problems(ls, problems, "initializationOptions")
    ls.options = options
    ls.apply_log_level()
    apply_history_options(ls, options)
    ls.pull_config_at_start = raw is None and client_supports_configuration(ls)
    start_engine(ls)


async def initialized(ls: SwictationServer, params: types.InitializedParams) -> None:
    ls.publish_state()  # "loading" (or "idle" if the engine was quicker than the client)
    # Document sync lets undo/refine find utterances after edits (client/registerCapability).
    from swictation_rpc.handlers.documents import request_sync

    asyncio.ensure_future(request_sync(ls))
    reporter = ls.progress_reporter
    if reporter is not None:
        await reporter.activate()
    if ls.pull_config_at_start:
        # No initializationOptions: the settings live in the client's configuration.
        job = begin_settings_change(ls)
        await pull_and_apply(ls, job)


def did_change_configuration(ls: SwictationServer, params: types.DidChangeConfigurationParams) -> None:
    """Pushed settings apply at once (in message order); otherwise they are pulled.

    Deliberately synchronous for pushed settings: a request sent right after this notification
    is dispatched after the new settings are installed, so it waits for them.
    """
    settings = params.settings
    if isinstance(settings, dict) and SECTION in settings:
        apply_settings(ls, settings[SECTION], "workspace/didChangeConfiguration")
    elif client_supports_configuration(ls):
        job = begin_settings_change(ls)
        asyncio.ensure_future(pull_and_apply(ls, job))
    elif isinstance(settings, dict) and settings:
        apply_settings(ls, settings, "workspace/didChangeConfiguration")
    else:
        logger.info("didChangeConfiguration without %r settings and no workspace/configuration: ignored", SECTION)


async def shutdown(ls: SwictationServer, *args: Any) -> None:
    """A session still listening is stopped and saved to the history, never thrown away.

    The editor is closing (the user quit mid-sentence): there is no document left to insert
    into, but the words are kept (``swictation/history`` shows them next time).
    """
    await ls.save_unfinished_dictation()


# -- settings -------------------------------------------------------------------------------------


def unwrap_section(raw: Any) -> Any:
    """Accept both ``{"models": …}`` and ``{"swictation": {"models": …}}``."""
    if isinstance(raw, dict) and SECTION in raw:
        return raw[SECTION]
    return raw


def report_problems(ls: SwictationServer, problems: list[str], source: str) -> None:
    """Tell the user which settings were ignored: by name, with why, and that defaults apply."""
    if not problems:
        return
    described = []
    for problem in problems:
        text, sep, where = problem.rpartition(" @ ")
        if not sep:
            text, where = problem, "$"
        name = where[2:] if where.startswith("$.") else where
        described.append(f"{SECTION}.{name}: {text}" if name != "$" else text)
    message = "Swictation: invalid settings ignored, defaults used instead: " + "; ".join(described)
    logger.warning("%s (from %s)", message, source)
    ls.show_message(message, types.MessageType.Warning)


def client_supports_configuration(ls: SwictationServer) -> bool:
    workspace = getattr(getattr(ls.protocol, "client_capabilities", None), "workspace", None)
    return bool(workspace and workspace.configuration)


def client_supports_progress(ls: SwictationServer) -> bool:
    window = getattr(getattr(ls.protocol, "client_capabilities", None), "window", None)
    return bool(window and window.work_done_progress)


def begin_settings_change(ls: SwictationServer) -> concurrent.futures.Future[None]:
    """Hold engine requests until settings being fetched are applied."""
    job: concurrent.futures.Future[None] = concurrent.futures.Future()
    previous = ls.engine_job
    ls.engine_job = job
    ls.settings_generation += 1
    job.generation = ls.settings_generation  # type: ignore[attr-defined]
    job.previous = previous  # type: ignore[attr-defined]
    return job


async def pull_and_apply(ls: SwictationServer, job: concurrent.futures.Future[None]) -> None:
    raw: Any = None
    fetched = False
    try:
        items = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            ),
            CLIENT_REPLY_TIMEOUT_S,
        )
        raw = items[0] if items else None
        fetched = True
    except Exception as exc:  # noqa: BLE001 - a client that cannot answer keeps the settings as they are
        logger.warning("workspace/configuration failed: %s; settings unchanged", exc)
    if job.generation != ls.settings_generation:  # type: ignore[attr-defined]
        _settle_placeholder(ls, job)
        return  # a newer change superseded this one
    if not fetched or raw is None:
        _settle_placeholder(ls, job)
        return
    apply_settings(ls, raw, "workspace/configuration", job=job)


def _settle_placeholder(ls: SwictationServer, job: concurrent.futures.Future[None]) -> None:
    previous: concurrent.futures.Future[None] = job.previous  # type: ignore[attr-defined]

    def settle(done: concurrent.futures.Future[None]) -> None:
        if job.done():
            return
        if done.exception() is not None:
            job.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            job.set_result(None)
        ls.call_soon(ls.publish_state)

    previous.add_done_callback(settle)


def apply_settings(
    ls: SwictationServer, raw: Any, source: str, *, job: concurrent.futures.Future[None] | None = None
) -> None:
    """Install new settings now and re-apply the engine's part on the engine thread."""
    if job is None:
        job = begin_settings_change(ls)
    options, problems = structure_options(unwrap_section(raw))
    report_problems(ls, problems, source)
    previous_options = ls.options
    ls.options = options
    ls.apply_log_level()
    apply_history_options(ls, options)
    if options == previous_options:
        logger.info("Settings from %s unchanged", source)
        _settle_placeholder(ls, job)
        return
    changed = [name for name in attrs_field_names(Options) if getattr(options, name) != getattr(previous_options, name)]
    logger.info("Settings changed (%s) from %s", ", ".join(changed), source)
    show_progress = any(name in changed for name in ("models", "engine"))
    reporter = ProgressReporter(ls, "Swictation: applying settings") if show_progress else None

    def work() -> None:
        error: BaseException | None = None
        started = time.perf_counter()
        try:
            if ls.engine is None or ls.engine_failed:
                # The engine never came up: build it again with the new settings.
                ls.engine = ls.engine_factory(options)
                ls.engine.load(progress=_progress_callback(ls, reporter))
                ls.engine_failed = False
            else:
                ls.engine.reconfigure(options)
            logger.info("Settings applied in %.0f ms", (time.perf_counter() - started) * 1000)
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting requests
            error = exc
            logger.error("Applying settings failed: %s", exc)
        finally:
            _finish_job(ls, job, error, reporter)

    ls.call_soon(ls.publish_state)
    if reporter is not None:
        asyncio.ensure_future(reporter.activate())
    _submit(ls, work, job)


def apply_history_options(ls: SwictationServer, options: Options) -> None:
    """Open the history (or follow a settings change: ``enabled`` needs a new store)."""
    if importlib.util.find_spec("swictation_rpc.history") is None:
        return
    from swictation_rpc import paths
    from swictation_rpc.history import HistoryStore

    store = ls.history
    if store is not None and store.options.enabled == options.history.enabled:
        store.reconfigure(options.history)
        return
    if store is not None:
        store.close()
    ls.history = HistoryStore(paths.history_dir(), options.history)


def attrs_field_names(cls: type) -> list[str]:
    import attrs

    return [a.name for a in attrs.fields(cls)]


# -- engine ---------------------------------------------------------------------------------------


def start_engine(ls: SwictationServer) -> None:
    """Build the engine and load it on the engine thread; ``initialize`` answers meanwhile."""
    job = ls.engine_job
    reporter = ProgressReporter(ls, "Swictation: loading the speech engine")
    ls.progress_reporter = reporter
    options = ls.options

    def load() -> None:
        error: BaseException | None = None
        started = time.perf_counter()
        try:
            ls.engine = ls.engine_factory(options)
            ls.engine.load(progress=_progress_callback(ls, reporter))
            logger.info("Speech engine ready in %.1f s", time.perf_counter() - started)
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting requests and the user
            error = exc
            ls.engine_failed = True
            logger.error("The speech engine failed to load: %s", exc)
            message = exc.message if isinstance(exc, SwictationError) else str(exc)
            ls.call_soon(
                ls.show_message, f"Swictation: the speech engine failed to load: {message}", types.MessageType.Error
            )
        finally:
            _finish_job(ls, job, error, reporter)

    _submit(ls, load, job)


def _submit(ls: SwictationServer, work: Any, job: concurrent.futures.Future[None]) -> None:
    # The engine thread is single: jobs run in submission order, after the load.
    try:
        ls.engine_executor.submit(work)
    except RuntimeError:  # executor shut down: the server is exiting
        if not job.done():
            job.cancel()


def _finish_job(
    ls: SwictationServer,
    job: concurrent.futures.Future[None],
    error: BaseException | None,
    reporter: ProgressReporter | None,
) -> None:
    if not job.done():
        if error is None:
            job.set_result(None)
        else:
            job.set_exception(error)
    if reporter is not None:
        ls.call_soon(reporter.finish, None if error is None else str(error))
    ls.call_soon(ls.publish_state)


def _progress_callback(ls: SwictationServer, reporter: ProgressReporter | None) -> Any:
    def progress(stage: str, fraction: float | None = None) -> None:
        logger.info("Engine: %s%s", stage, "" if fraction is None else f" ({fraction:.0%})")
        if reporter is not None:
            ls.call_soon(reporter.report, stage, fraction)

    return progress


class ProgressReporter:
    """Server-initiated work-done progress for one engine job; everything runs on the event loop.

    Reports that arrive before the client is ready (before ``initialized``, or before it answered
    ``window/workDoneProgress/create``) are kept and the latest is shown on ``begin``.
    """

    def __init__(self, ls: SwictationServer, title: str):
        self._ls = ls
        self.title = title
        self.token = f"swictation-{uuid.uuid4().hex[:12]}"
        self._message: str | None = None
        self._percentage: int | None = None
        self._active = False
        self._done = False
        self._error: str | None = None

    async def activate(self) -> None:
        if self._active or not client_supports_progress(self._ls):
            return
        try:
            await asyncio.wait_for(self._ls.work_done_progress.create_async(self.token), CLIENT_REPLY_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - progress is a nicety, never a failure
            logger.info("No work-done progress: %s", exc)
            return
        self._active = True
        self._ls.work_done_progress.begin(
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
            self._ls.work_done_progress.report(
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
        self._ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))

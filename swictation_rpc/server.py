"""The stdio JSON-RPC server: the pygls ``LanguageServer`` subclass and its wiring.

Framing lives in :mod:`swictation_rpc.transport`, envelope validation and typed dispatch in
:mod:`swictation_rpc.dispatch`, log routing in :mod:`swictation_rpc.logs`, the engine's life in
:mod:`swictation_rpc.engine_host`, utterances (the pipeline, document tracking, microphone
sessions) in :mod:`swictation_rpc.utterances`, and the thin method handlers in
``swictation_rpc.handlers``. This module builds them, connects them, and runs the event loop;
:meth:`SwictationServer.run_stdio` returns the exit code ``exit`` set (0 after ``shutdown``, 1
without).

A dictation still running when the client goes (stdin closed, ``exit``, ``shutdown``, SIGTERM) is
stopped and saved to the history before the process ends
(:meth:`~swictation_rpc.utterances.dictation.Dictation.save_unfinished`).

``exit`` always ends the process (issue 19, item 7): pending requests are cancelled (queued
decodes leave their queue), the unfinished dictation is saved, the thread pools are shut down
without waiting, and releasing the engine and the history gets :data:`EXIT_GRACE_S`; a thread
still stuck after that (a model load reading a FIFO, a decode in native code) cannot be
interrupted, so the process ends without it (``os._exit`` with the exit code, logs flushed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import IO, TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import default_converter

from swictation_rpc import __version__, paths
from swictation_rpc.converter import converter
from swictation_rpc.dispatch import SwictationProtocol, is_ours
from swictation_rpc.engine_host import EngineFactory, EngineHost
from swictation_rpc.handlers import corrections, dictation, documents, history, lifecycle, models, status
from swictation_rpc.handlers.base import Server
from swictation_rpc.history import HistoryStore
from swictation_rpc.logs import LOG_LEVELS, LspLogHandler
from swictation_rpc.options import LogLevel, Options
from swictation_rpc.protocol import STATE_CHANGED, State, StateChangedParams
from swictation_rpc.remedies import for_editor
from swictation_rpc.transport import DEFAULT_MAX_MESSAGE_BYTES, LockedWriter, start_reader
from swictation_rpc.utterances.dictation import Dictation
from swictation_rpc.utterances.documents import DocumentTracking
from swictation_rpc.utterances.ports import Blocking
from swictation_rpc.utterances.service import UtteranceService

logger = logging.getLogger(__name__)

SERVER_NAME = "swictation-rpc"

#: How long the threads left at exit (releasing the engine and the history, workers) get to end.
EXIT_GRACE_S = 2.0
#: How long the last moved ranges may take to be written when the server stops.
RANGE_SAVE_TIMEOUT_S = 5.0

#: The handler modules; each maps the methods it serves to its handlers in ``FEATURES``.
HANDLERS = (lifecycle, dictation, status, history, corrections, documents, models)


class SwictationServer(LanguageServer):
    """One editor's connection: the options in effect, the history, and the services serving it.

    ``engine_factory(options)`` builds the engine (default: the hybrid engine); fault-injection
    tests wrap it.
    """

    protocol: SwictationProtocol

    def __init__(
        self,
        *,
        engine_factory: EngineFactory | None = None,
        log_level: LogLevel | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        super().__init__(
            SERVER_NAME,
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=SwictationProtocol,
            converter_factory=default_converter,
        )
        self.options = Options()
        #: ``--log-level`` pins the level; otherwise the ``logLevel`` setting decides.
        self.cli_log_level = log_level
        #: A message whose Content-Length is above this is discarded unread and answered -32600.
        self.max_message_bytes = max_message_bytes
        #: The utterance history, opened at initialize (a new store when ``history.enabled`` changes).
        self.history: HistoryStore | None = None
        #: Settings come from ``workspace/configuration`` (no initializationOptions were sent).
        self.pull_config_at_start = False
        #: Whose utterances the history rotates and undoes: the editor and its workspace (initialize).
        self.history_owner: str | None = None
        #: ``initialize`` named the client (``clientInfo``): an editor, whose user may have no
        #: ``swictation-rpc`` on ``$PATH``; model remedies lead with the editor's command.
        self.editor_client = False
        self._history_notices: set[str] = set()
        self.last_state: tuple[State, str | None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

        self.blocking = Blocking(lambda: self.thread_pool)
        self.engine_host = EngineHost(self, engine_factory)
        self.documents = DocumentTracking(lambda: self.history, self.blocking, self.position_encoding)
        self.utterances = UtteranceService(
            engines=self.engine_host,
            client=self,
            blocking=self.blocking,
            options=lambda: self.options,
            history=lambda: self.history,
            documents=self.documents,
        )
        self.dictation = Dictation(
            service=self.utterances,
            engines=self.engine_host,
            client=self,
            blocking=self.blocking,
            options=lambda: self.options,
        )

        self.protocol.on_exit = self.request_stop
        self.log_handler = LspLogHandler(self.window_log_message, lambda: self.protocol.initialize_started)
        self.log_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        for module in HANDLERS:
            for method, handler in module.FEATURES.items():
                self.feature(method)(handler)

    # -- state ------------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        if self.dictation.active is not None:
            return self.dictation.active.state
        if self.utterances.transcribing:
            return "transcribing"
        if self.engine_host.loading:
            return "loading"
        if self.engine_host.load_failed:
            return "error"
        return "idle"

    def publish_state(self, reason: str | None = None, *, force: bool = False) -> None:
        """Send ``swictation/stateChanged`` when the state (or the session) changed, or ``force``."""
        active = self.dictation.active
        session_id = active.id if active is not None else None
        current = (self.state, session_id)
        if current == self.last_state and not force:
            return
        self.last_state = current
        if self.protocol.initialize_started:
            self.notify(STATE_CHANGED, StateChangedParams(state=current[0], session_id=session_id, reason=reason))

    def install_options(self, options: Options) -> None:
        """Options now in effect: the log level and the history follow them (the engine does not)."""
        self.options = options
        self.apply_log_level()
        store = self.history
        if store is not None and store.options.enabled == options.history.enabled:
            store.reconfigure(options.history, owner=self.history_owner)
            return
        if store is not None:
            store.close()
        self.history = HistoryStore(
            paths.history_dir(), options.history, owner=self.history_owner, notify=self._history_notice
        )

    def _history_notice(self, message: str) -> None:
        """The history says something the user must know (a damaged database moved aside): once."""
        if message in self._history_notices:
            return
        self._history_notices.add(message)
        self.call_soon(self.show_message, message)

    def apply_log_level(self) -> None:
        level = LOG_LEVELS[self.cli_log_level or self.options.log_level]
        self.log_handler.setLevel(level)
        logging.getLogger("swictation_rpc").setLevel(min(level, logging.INFO))

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` in the background, kept referenced until it is done."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the client -------------------------------------------------------------------------------

    def notify(self, method: str, params: Any) -> None:
        """Send a notification; our attrs params go through the one converter (camelCase)."""
        self.protocol.notify(method, converter.unstructure(params) if is_ours(params) else params)

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func`` on the event loop, from any thread (capture and engine callbacks)."""
        if self.loop is None or self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(func, *args)
        except RuntimeError:  # loop closing
            pass

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        message = self.remedy_text(message) or message
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def remedy_text(self, text: str | None) -> str | None:
        """``text`` as this client's user can act on it (:func:`swictation_rpc.remedies.for_editor`)."""
        return for_editor(text) if self.editor_client else text

    def _client_capabilities(self) -> types.ClientCapabilities | None:
        return getattr(self.protocol, "client_capabilities", None)  # set by initialize

    def can_apply_edit(self) -> bool:
        """The client announced ``workspace.applyEdit``."""
        capabilities = self._client_capabilities()
        workspace = capabilities.workspace if capabilities is not None else None
        return bool(workspace and workspace.apply_edit)

    def supports_configuration(self) -> bool:
        """The client announced ``workspace.configuration``."""
        capabilities = self._client_capabilities()
        workspace = capabilities.workspace if capabilities is not None else None
        return bool(workspace and workspace.configuration)

    def supports_progress(self) -> bool:
        """The client announced ``window.workDoneProgress``."""
        capabilities = self._client_capabilities()
        window = capabilities.window if capabilities is not None else None
        return bool(window and window.work_done_progress)

    def registers_sync(self) -> bool:
        """The client can register document sync dynamically (``client/registerCapability``)."""
        capabilities = self._client_capabilities()
        text_document = capabilities.text_document if capabilities is not None else None
        synchronization = text_document.synchronization if text_document is not None else None
        return bool(synchronization and synchronization.dynamic_registration)

    def static_sync_is_incremental(self) -> bool:
        """Our initialize answer already asks for incremental sync of every document."""
        capabilities: types.ServerCapabilities | None = getattr(self.protocol, "server_capabilities", None)
        sync = capabilities.text_document_sync if capabilities is not None else None
        if isinstance(sync, types.TextDocumentSyncOptions):
            return bool(sync.open_close) and sync.change == types.TextDocumentSyncKind.Incremental
        return sync == types.TextDocumentSyncKind.Incremental

    def position_encoding(self) -> str:
        """The ``positionEncoding`` agreed at initialize (``utf-16`` unless the client asked otherwise)."""
        capabilities = getattr(self.protocol, "server_capabilities", None)
        encoding = getattr(capabilities, "position_encoding", None)
        value = getattr(encoding, "value", encoding)
        return value if value in ("utf-8", "utf-16", "utf-32") else "utf-16"

    # -- transport --------------------------------------------------------------------------------

    def request_stop(self) -> None:
        if self._stop is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)

    def run_stdio(self, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None) -> int:
        """Serve over stdio until ``exit`` or end of input; returns the process exit code."""
        stdin = stdin or sys.stdin.buffer
        writer = LockedWriter(stdout or sys.stdout.buffer)
        self.protocol.set_writer(writer)
        swictation_logger = logging.getLogger("swictation_rpc")
        swictation_logger.addHandler(self.log_handler)
        self.apply_log_level()
        try:
            asyncio.run(self._serve(stdin))
        except KeyboardInterrupt:
            pass
        finally:
            swictation_logger.removeHandler(self.log_handler)
            self._close_within(EXIT_GRACE_S)
            writer.close()
        code = self.protocol.exit_code
        code = 0 if code is None else code
        self._end_despite_stuck_threads(code, EXIT_GRACE_S)
        return code

    async def _serve(self, stdin: IO[bytes]) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            # A polite kill (service managers, `kill PID`) ends like a closed stdin: nothing lost.
            self.loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
        start_reader(
            stdin,
            self.max_message_bytes,
            lambda frame: self.call_soon(self.protocol.handle_frame, frame),
            self.request_stop,
        )
        await self._stop.wait()
        if self.protocol.exit_code is None:
            logger.info("stdin closed: stopping")
        self._cancel_pending_requests()
        await self.dictation.save_unfinished()
        # Ranges that moved in the last second are saved now, not lost with the save timer: after a
        # restart, undo finds each utterance where it really is.
        try:
            await asyncio.wait_for(self.documents.save(), RANGE_SAVE_TIMEOUT_S)
        except Exception:  # exiting regardless; a stale range is refused later, never misused
            logger.warning("Could not save the utterances' last ranges before stopping", exc_info=True)

    def _cancel_pending_requests(self) -> None:
        """Nobody waits for their answers any more: queued decodes leave their queue unrun."""
        futures: dict[Any, Any] = getattr(self.protocol, "_request_futures", {})
        pending = [future for future in list(futures.values()) if not future.done()]
        for future in pending:
            future.cancel()
        if pending:
            logger.info("Exiting: %d pending request(s) cancelled", len(pending))

    def _on_sigterm(self) -> None:
        logger.info("SIGTERM received: stopping")
        if self._stop is not None:
            self._stop.set()

    def _close_within(self, grace_s: float) -> None:
        """:meth:`close` on a thread of its own: a lock held by a stuck thread must not hold the exit."""
        closing = threading.Thread(target=self.close, name="closing", daemon=True)
        closing.start()
        closing.join(grace_s)
        if closing.is_alive():
            logger.warning("Releasing the engine and the history takes longer than %.0f s: not waiting", grace_s)

    def _end_despite_stuck_threads(self, code: int, grace_s: float) -> None:
        """Threads that would keep the process alive get ``grace_s``; then the process ends anyway."""
        deadline = time.monotonic() + grace_s
        current = threading.current_thread()
        while True:
            stuck = [t for t in threading.enumerate() if t is not current and not t.daemon and t.is_alive()]
            if not stuck or time.monotonic() >= deadline:
                break
            stuck[0].join(max(0.0, min(0.1, deadline - time.monotonic())))
        if not stuck:
            return
        logger.warning(
            "Exiting with code %d while %d thread(s) are stuck (%s): they cannot be interrupted",
            code,
            len(stuck),
            ", ".join(t.name for t in stuck),
        )
        logging.shutdown()  # flush every log handler
        sys.stderr.flush()
        os._exit(code)

    def close(self) -> None:
        """Release the microphone and the engine; the process is about to end."""
        self.dictation.close()
        self.engine_host.close()
        if self.history is not None:
            try:
                self.history.close()
            except Exception:
                logger.exception("Closing the history failed")
        if self._thread_pool is not None:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)


if TYPE_CHECKING:
    # The handlers see the server through this Protocol: the type checker keeps the two in step.
    def _serves_handlers(server: SwictationServer) -> Server:
        return server

"""The stdio JSON-RPC server: the pygls ``LanguageServer`` subclass and its wiring.

Framing lives in :mod:`swictation_rpc.transport`, envelope validation and typed dispatch in
:mod:`swictation_rpc.dispatch`, log routing in :mod:`swictation_rpc.logs`; the method handlers in
``swictation_rpc.handlers``. :meth:`SwictationServer.run_stdio` returns the exit code ``exit`` set
(0 after ``shutdown``, 1 without).

A dictation still running when the client goes (stdin closed, ``exit``, ``shutdown``, SIGTERM) is
stopped and saved to the history before the process ends: :meth:`SwictationServer.save_unfinished_dictation`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import importlib.util
import logging
import logging.handlers
import signal
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import attrs
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from swictation_rpc import __version__
from swictation_rpc.converter import converter
from swictation_rpc.dispatch import SwictationProtocol, is_ours
from swictation_rpc.errors import EngineLoadingError
from swictation_rpc.logs import LOG_LEVELS, LspLogHandler
from swictation_rpc.options import LogLevel, Options
from swictation_rpc.protocol import STATE_CHANGED, State, StateChangedParams
from swictation_rpc.transport import DEFAULT_MAX_MESSAGE_BYTES, LockedWriter, start_reader

if TYPE_CHECKING:
    from swictation_rpc.handlers.dictation import ActiveDictation

logger = logging.getLogger(__name__)

SERVER_NAME = "swictation-rpc"

#: Handler modules registered on every server, in this order; a module that is not installed yet
#: (another part of the project) is skipped, a module that fails to import is an error.
HANDLER_MODULES = (
    "swictation_rpc.handlers.lifecycle",
    "swictation_rpc.handlers.dictation",
    "swictation_rpc.handlers.status",
    "swictation_rpc.handlers.history",
)

#: How long a dictation left running by a vanished client may take to be transcribed and saved.
ORPHAN_SAVE_TIMEOUT_S = 120.0


class SwictationServer(LanguageServer):
    """One editor's connection: options in effect, the engine, the dictation session.

    ``engine_factory(options)`` builds the engine (default: the hybrid engine) and
    ``session_factory(engine, options, mode=..., on_partial=..., on_state=..., on_auto_stop=...)``
    builds a microphone session; both are seams, so the server is testable piece by piece.
    """

    protocol: SwictationProtocol

    def __init__(
        self,
        *,
        engine_factory: Callable[[Options], Any] | None = None,
        session_factory: Callable[..., Any] | None = None,
        log_level: LogLevel | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ):
        from pygls.protocol import default_converter

        super().__init__(
            SERVER_NAME,
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=SwictationProtocol,
            converter_factory=default_converter,
        )
        self.options = Options()
        self.engine_factory = engine_factory or _default_engine_factory
        self.session_factory = session_factory or _default_session_factory
        #: ``--log-level`` pins the level; otherwise the ``logLevel`` setting decides.
        self.cli_log_level = log_level
        #: A message whose Content-Length is above this is discarded unread and answered -32600.
        self.max_message_bytes = max_message_bytes
        self.engine: Any = None
        #: Done when the engine has loaded and the last settings change has been applied.
        self.engine_job: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.engine_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="engine")
        #: The last load failed: the next settings change builds the engine again.
        self.engine_failed = False
        self.progress_reporter: Any = None
        #: Settings come from ``workspace/configuration`` (no initializationOptions were sent).
        self.pull_config_at_start = False
        #: Bumped by every settings change, so a slow pull never overrides a newer change.
        self.settings_generation = 0
        self.dictation: ActiveDictation | None = None
        #: Results of sessions that stopped on their own, until ``stopDictation`` collects them.
        self.finished_sessions: OrderedDict[str, Any] = OrderedDict()
        #: The utterance history (``swictation_rpc.history.HistoryStore``), opened at initialize.
        self.history: Any = None
        #: Text post-processing ``(text, context, options) -> text``; ``None`` is
        #: :func:`swictation_rpc.handlers.dictation.format_for_cursor` (spoken commands, spacing).
        self.format_text: Callable[[str, Any, Options], str] | None = None
        self.transcribing = 0
        self.last_state: tuple[State, str | None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.protocol.on_exit = self.request_stop
        self.log_handler = LspLogHandler(self.window_log_message, lambda: self.protocol.initialize_started)
        self.log_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self._stop: asyncio.Event | None = None
        for name in HANDLER_MODULES:
            if importlib.util.find_spec(name) is None:
                continue
            module = importlib.import_module(name)
            register = getattr(module, "register", None)
            if register is None:
                logger.error("%s has no register(server): its methods are not served", name)
                continue
            register(self)

    # -- state ------------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        if self.dictation is not None:
            return self.dictation.state
        if self.transcribing:
            return "transcribing"
        if not self.engine_job.done():
            return "loading"
        if self.engine_job.exception() is not None:
            return "error"
        return "idle"

    def publish_state(self, reason: str | None = None) -> None:
        """Send ``swictation/stateChanged`` when the state (or the session) changed."""
        session_id = self.dictation.id if self.dictation is not None else None
        current = (self.state, session_id)
        if current == self.last_state:
            return
        self.last_state = current
        if self.protocol.initialize_started:
            self.notify(STATE_CHANGED, StateChangedParams(state=current[0], session_id=session_id, reason=reason))

    # -- engine -----------------------------------------------------------------------------------

    async def ensure_engine(self, wait: bool = True) -> Any:
        """The engine, once loaded and with the current settings applied.

        With ``wait=False`` a loading engine is an :class:`EngineLoadingError` instead of a wait.
        """
        while True:
            job = self.engine_job
            if not job.done():
                if not wait:
                    raise EngineLoadingError(
                        remedy="Retry in a moment, or send waitForEngine: true to wait for it "
                        "(swictation/status shows the load).",
                    )
                await asyncio.wrap_future(job)
            if job is self.engine_job:
                job.result()  # re-raises a failed load
                return self.engine

    # -- messages to the client -------------------------------------------------------------------

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
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def apply_log_level(self) -> None:
        level = LOG_LEVELS[self.cli_log_level or self.options.log_level]
        self.log_handler.setLevel(level)
        logging.getLogger("swictation_rpc").setLevel(min(level, logging.INFO))

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
            self.close()
            writer.close()
        code = self.protocol.exit_code
        return 0 if code is None else code

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
        await self.save_unfinished_dictation()

    def _on_sigterm(self) -> None:
        logger.info("SIGTERM received: stopping")
        if self._stop is not None:
            self._stop.set()

    async def save_unfinished_dictation(self, timeout_s: float = ORPHAN_SAVE_TIMEOUT_S) -> None:
        """A session still listening when the client goes: transcribe it and keep it in the history.

        The user's words must survive the editor crashing mid-sentence: the session is stopped
        as ``stopDictation`` would stop it and its text and audio are saved to the history
        (``swictation/history`` in the next session shows them). Nothing is applied to a
        document: there is no client left to apply it to.
        """
        active = self.dictation
        if active is None:
            return
        from swictation_rpc.handlers.dictation import finish_session

        logger.warning("The client left while dictation session %s was running: saving it to the history", active.id)
        # Nobody is left to answer a workspace/applyEdit: the utterance goes to the history only.
        self.options = attrs.evolve(self.options, apply_edits="client")
        try:
            result = await asyncio.wait_for(asyncio.shield(finish_session(self, active)), timeout_s)
        except Exception:
            logger.exception("Saving dictation session %s failed", active.id)
            return
        logger.info(
            "Dictation session %s saved to the history as utterance %s (%d characters)",
            active.id,
            result.utterance_id,
            len(result.text),
        )

    def close(self) -> None:
        """Release the microphone and the engine; the process is about to end."""
        dictation, self.dictation = self.dictation, None
        if dictation is not None:
            try:
                dictation.session.cancel()
            except Exception:
                logger.exception("Cancelling the dictation session failed")
        self.engine_executor.shutdown(wait=False, cancel_futures=True)
        if self.history is not None:
            try:
                self.history.close()
            except Exception:
                logger.exception("Closing the history failed")
        if self.engine is not None and self.engine_job.done():
            try:
                self.engine.close()
            except Exception:
                logger.exception("Closing the engine failed")
        if self._thread_pool is not None:
            self._thread_pool.shutdown(wait=False, cancel_futures=True)


def _default_engine_factory(options: Options) -> Any:
    from swictation_rpc.engine.hybrid import HybridEngine

    return HybridEngine(options)


def _default_session_factory(engine: Any, options: Options, **kwargs: Any) -> Any:
    """The microphone session; ``swictation_rpc.audio.session`` when installed."""
    if importlib.util.find_spec("swictation_rpc.audio.session") is not None:
        from swictation_rpc.audio.session import DictationSession

        return DictationSession(engine, options, **kwargs)
    from swictation_rpc.handlers.dictation import UnavailableSession

    return UnavailableSession()

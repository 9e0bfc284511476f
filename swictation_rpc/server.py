"""The stdio JSON-RPC server: pygls for LSP plumbing, our own framing and typed dispatch on top.

Layers: :class:`SwictationProtocol` turns wire messages into typed calls (params structured by the
one converter, results unstructured by it, :class:`~swictation_rpc.errors.SwictationError` turned
into JSON-RPC errors); :class:`SwictationServer` holds the session state (options, engine, the
dictation session) and the transport; ``swictation_rpc.handlers`` hold the thin method handlers.

Where pygls 2.1.1 falls short and this module steps in (see :class:`FrameReader` and
``SwictationProtocol.handle_raw``):

- a body that is not JSON is only logged by pygls; we answer ``-32700`` (id ``null``);
- a non-object message, a wrong ``jsonrpc`` version, a bad ``id``/``method``/``params`` or a
  message that is neither request nor response gets no answer from pygls; we answer ``-32600``;
- invalid params of LSP methods get no answer from pygls; we answer ``-32602`` with the path;
- requests after ``shutdown`` are silently dropped by pygls; LSP wants ``-32600``;
- ``exit`` raises ``SystemExit`` inside the event loop and pygls swallows the exit code; we keep it
  (0 after ``shutdown``, 1 without) and return it from :meth:`SwictationServer.run_stdio`;
- pygls reads stdin on its handler thread pool, so busy handlers could starve the reader; we read
  on a dedicated thread;
- pygls writes frames from whichever thread finished a handler, unlocked; our writer is locked;
- pygls reads whatever ``Content-Length`` says into memory; we discard a body above
  ``--max-message-bytes`` unread (answering ``-32600``), cap header lines, and find the next frame
  after one whose length was wrong;
- a request for a notification method (``initialized`` with an id) gets no answer from pygls;
  JSON-RPC wants one: ``-32601``.

A dictation still running when the client goes (stdin closed, ``exit``, ``shutdown``, SIGTERM) is
stopped and saved to the history before the process ends: :meth:`SwictationServer.save_unfinished_dictation`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import importlib
import importlib.util
import json
import logging
import logging.handlers
import os
import re
import signal
import sys
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs
from cattrs.errors import BaseValidationError
from cattrs.v import format_exception
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
    JsonRpcRequestCancelled,
    JsonRpcServerNotInitialized,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCRequestMessage, LanguageServerProtocol, lsp_method

from swictation_rpc import __version__, paths
from swictation_rpc.converter import converter, error_messages, to_camel
from swictation_rpc.errors import EngineLoadingError, SwictationError
from swictation_rpc.options import LogLevel, Options
from swictation_rpc.protocol import METHODS, STATE_CHANGED, State, StateChangedParams

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

#: ``data.kind`` of the JSON-RPC and LSP errors (ours carry their own, see swictation_rpc.errors).
STANDARD_ERROR_KINDS = {
    -32700: "parse-error",
    -32600: "invalid-request",
    -32601: "method-not-found",
    -32602: "invalid-params",
    -32603: "internal",
    -32002: "server-not-initialized",
    -32800: "request-cancelled",
}

#: Default for ``serve --max-message-bytes``: far above any real request (64 MiB holds 25 minutes of
#: inline 16 kHz audio), far below what would hurt the machine.
DEFAULT_MAX_MESSAGE_BYTES = 64 << 20
#: A header line longer than this is not a header: it is skipped without being kept.
MAX_HEADER_LINE_BYTES = 8192
_DISCARD_CHUNK_BYTES = 1 << 16
_CONTENT_LENGTH = re.compile(rb"[0-9]{1,18}")
#: How long a dictation left running by a vanished client may take to be transcribed and saved.
ORPHAN_SAVE_TIMEOUT_S = 120.0

#: Requests a client may send before ``initialize`` has been answered.
_BEFORE_INITIALIZE = {types.INITIALIZE, types.SHUTDOWN}

_LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
_MESSAGE_TYPES = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
    logging.DEBUG: types.MessageType.Log,
}


def _is_ours(obj: Any) -> bool:
    return attrs.has(type(obj)) and type(obj).__module__.startswith("swictation_rpc")


def _format_problem(exc: BaseException, type_: Any) -> str:
    """cattrs' wording plus the validator's own (``Position.line should be in range…``)."""
    base = format_exception(exc, type_)
    detail = str(exc)
    if isinstance(exc, ValueError) and detail and detail not in base:
        return f"{base} ({detail})"
    return base


def _is_notification(method: str) -> bool:
    """LSP's notifications (``initialized``, ``$/cancelRequest``, ``textDocument/didOpen``…) and ours."""
    if method in METHODS:
        return METHODS[method][1] is None
    entry = types.METHOD_TO_TYPES.get(method)
    return entry is not None and entry[1] is None and entry[0].__name__.endswith("Notification")


def _valid_id(value: Any) -> bool:
    """LSP ids are integers or strings (JSON-RPC's ``null`` and fractions are refused)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class LockedWriter:
    """Frames go out whole: handlers finish on worker threads as well as on the event loop."""

    def __init__(self, stream: IO[bytes]):
        self._stream = stream
        self._lock = threading.Lock()
        self.closed = False

    def write(self, data: bytes) -> None:
        with self._lock:
            if self.closed:
                return
            try:
                self._stream.write(data)
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                # The client went away; the reader sees EOF and ends the server.
                self.closed = True

    def close(self) -> None:
        with self._lock:
            self.closed = True
            try:
                self._stream.close()
            except OSError:
                pass


class SwictationProtocol(LanguageServerProtocol):
    """LSP plus our typed ``swictation/…`` methods; see the module docstring for what it fixes."""

    _server: SwictationServer

    def __init__(self, server: SwictationServer, lsp_converter: Any):
        super().__init__(server, lsp_converter)
        self.initialize_started = False
        self.initialized = False
        self.exit_code: int | None = None

    # -- incoming ---------------------------------------------------------------------------------

    def handle_raw(self, data: Any) -> None:
        """Validate the JSON-RPC envelope of one parsed frame and dispatch it."""
        if not isinstance(data, dict):
            what = "batches are not supported" if isinstance(data, list) else f"got {type(data).__name__}"
            self._reply_error(None, JsonRpcInvalidRequest(f"Invalid Request: expected a JSON object ({what})"))
            return
        raw_id = data.get("id")
        msg_id = raw_id if _valid_id(raw_id) else None
        if data.get("jsonrpc") != "2.0":
            self._reply_error(msg_id, JsonRpcInvalidRequest('Invalid Request: "jsonrpc" must be "2.0"'))
            return
        if "method" in data:
            self._handle_call(data, msg_id)
        elif "id" in data and ("result" in data or "error" in data):
            self._handle_client_response(data)
        else:
            self._reply_error(
                msg_id, JsonRpcInvalidRequest("Invalid Request: neither a request (method) nor a response")
            )

    def _handle_call(self, data: dict[str, Any], msg_id: Any) -> None:
        method = data["method"]
        is_request = "id" in data
        if not isinstance(method, str) or not method:
            self._reply_error(msg_id, JsonRpcInvalidRequest('Invalid Request: "method" must be a string'))
            return
        if is_request and msg_id is None:
            self._reply_error(None, JsonRpcInvalidRequest('Invalid Request: "id" must be an integer or a string'))
            return
        params = data.get("params")
        if params is not None and not isinstance(params, (dict, list)):
            self._reply_error(
                msg_id if is_request else None,
                JsonRpcInvalidRequest('Invalid Request: "params" must be an object or an array'),
            )
            return

        if not is_request:
            self._handle_client_notification(method, params, data)
            return

        if self._shutdown:
            self._reply_error(msg_id, JsonRpcInvalidRequest(f"Invalid Request: the server is shutting down ({method})"))
            return
        if not self.initialized and method not in _BEFORE_INITIALIZE and not self.initialize_started:
            self._reply_error(
                msg_id, JsonRpcServerNotInitialized(f"Server not initialized: send initialize before {method}")
            )
            return
        if method == types.INITIALIZE and self.initialize_started:
            self._reply_error(msg_id, JsonRpcInvalidRequest("Invalid Request: initialize was already received"))
            return
        if _is_notification(method):
            # A request must be answered, and a notification method has no answer to give: refuse
            # it rather than run it silently (``exit`` with an id would end the server unanswered).
            self._reply_error(
                msg_id, JsonRpcMethodNotFound(f"Method Not Found: {method} is a notification; send it without an id")
            )
            return

        if method in METHODS and method in self.fm.features:
            params_cls = METHODS[method][0]
            try:
                typed = self._structure_params(params, params_cls)
            except JsonRpcException as exc:
                self._reply_error(msg_id, exc)
                return
            contextvars.copy_context().run(self._handle_request, msg_id, method, typed)
            return

        request_type = self.get_message_type(method)
        if request_type is None:
            # Unknown to LSP and to us: pygls answers -32601 (or runs a user feature untyped).
            message = JsonRPCRequestMessage(id=msg_id, method=method, jsonrpc="2.0", params=params)
        else:
            try:
                message = self._structure_lsp(data, request_type)
            except JsonRpcException as exc:
                self._reply_error(msg_id, exc)
                return
        if method == types.INITIALIZE:
            self.initialize_started = True
        self.handle_message(message)

    def _handle_client_notification(self, method: str, params: Any, data: dict[str, Any]) -> None:
        if method != types.EXIT and not self.initialize_started:
            logger.warning("Ignoring notification %s before initialize", method)
            return
        if self._shutdown and method != types.EXIT:
            logger.warning("Ignoring notification %s after shutdown", method)
            return
        notification_type = self.get_message_type(method)
        if notification_type is None:
            if not method.startswith("$/"):
                logger.warning("Ignoring notification for unknown method %r", method)
            return
        try:
            message = self._structure_lsp(data, notification_type)
        except JsonRpcException as exc:
            # Notifications get no answer, even an error one; tell the user instead.
            logger.error("Invalid %s notification: %s", method, exc.message)
            return
        if method == types.INITIALIZED:
            self.initialized = True
        self.handle_message(message)

    def _handle_client_response(self, data: dict[str, Any]) -> None:
        try:
            message = self.structure_message(data)
        except JsonRpcException:
            logger.warning("Ignoring malformed response %r", data.get("id"))
            return
        self.handle_message(message)

    def _structure_params(self, params: Any, params_cls: type) -> Any:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise JsonRpcInvalidParams("Invalid params: expected an object (by-name params) @ $")
        try:
            return converter.structure(params, params_cls)
        except BaseValidationError as exc:
            problems = error_messages(exc, format_exception=_format_problem)
        except Exception as exc:  # noqa: BLE001 - any structuring failure is the client's params
            problems = [f"{exc} @ $"]
        raise JsonRpcInvalidParams(
            "Invalid params: " + "; ".join(problems), data={"kind": "invalid-params", "problems": problems}
        )

    def _structure_lsp(self, data: dict[str, Any], message_type: type) -> Any:
        try:
            return self._converter.structure(data, message_type)
        except BaseValidationError as exc:
            # The message envelope wraps the params: report paths relative to the params.
            problems = [
                m.replace("@ $.params", "@ $", 1) for m in error_messages(exc, format_exception=_format_problem)
            ]
        except Exception as exc:  # noqa: BLE001
            problems = [f"{exc} @ $"]
        raise JsonRpcInvalidParams(
            "Invalid params: " + "; ".join(problems), data={"kind": "invalid-params", "problems": problems}
        )

    # -- outgoing ---------------------------------------------------------------------------------

    def _reply_error(self, msg_id: Any, exc: JsonRpcException) -> None:
        logger.warning("Answering %s with error %s: %s", msg_id, exc.code, exc.message)
        self._send_response(msg_id, error=exc.to_response_error())

    def _send_response(self, msg_id: Any, result: Any = None, error: types.ResponseError | None = None) -> None:
        if error is None:
            super()._send_response(msg_id, result=result)
            return
        if error.data is None and error.code in STANDARD_ERROR_KINDS:
            # Every error names its kind in data, as ours do, so clients switch on one field.
            error = types.ResponseError(
                code=error.code, message=error.message, data={"kind": STANDARD_ERROR_KINDS[error.code]}
            )
        # lsprotocol drops a None id, but JSON-RPC wants `"id": null` when the id is unknown.
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": self._converter.unstructure(error)})

    def _send_handler_result(self, future: concurrent.futures.Future[Any], *, msg_id: Any) -> None:
        """Typed results out through the one converter; our errors out with their code and remedy."""
        self._request_futures.pop(msg_id, None)
        if future.cancelled():
            error = JsonRpcRequestCancelled(f'Request with id "{msg_id}" is canceled')
            self._send_response(msg_id, error=error.to_response_error())
            return
        exc = future.exception()
        if exc is None:
            result = future.result()
            if _is_ours(result):
                result = converter.unstructure(result)
            self._send_response(msg_id, result=result)
            return
        if isinstance(exc, SwictationError):
            logger.warning("Request %s failed: %s", msg_id, exc)
            # camelCase on the wire, like everything else (``session_id=`` arrives as ``sessionId``).
            data = {to_camel(key): value for key, value in exc.to_data().items()}
            error = types.ResponseError(code=exc.CODE, message=exc.message, data=data)
        elif isinstance(exc, JsonRpcException):
            logger.warning("Request %s failed: %s", msg_id, exc.message)
            error = exc.to_response_error()
        else:
            logger.error(
                "Request %s failed with an unexpected error",
                msg_id,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            error = JsonRpcInternalError(
                message=f"Internal error: {type(exc).__name__}: {exc}",
                data={"kind": "internal", "traceback": traceback.format_tb(exc.__traceback__)},
            ).to_response_error()
        self._send_response(msg_id, error=error)

    # -- LSP lifecycle overrides ------------------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Any:
        self.initialize_started = True
        result = yield from super().lsp_initialize(params)
        # Documents are synced only to follow where dictated utterances move (undo, refine).
        # Clients that can register sync dynamically are asked after `initialized`, for the
        # documents they dictate into (VS Code applies a static capability only to the extension's
        # own document selector); the others (Neovim 0.11) get it statically.
        text_document = getattr(params.capabilities, "text_document", None)
        synchronization = getattr(text_document, "synchronization", None)
        if synchronization is not None and synchronization.dynamic_registration:
            result.capabilities.text_document_sync = types.TextDocumentSyncOptions(
                open_close=False, change=types.TextDocumentSyncKind.None_
            )
        else:
            result.capabilities.text_document_sync = types.TextDocumentSyncOptions(
                open_close=True, change=types.TextDocumentSyncKind.Incremental
            )
        # Our methods are not LSP features: advertise them where clients may look.
        result.capabilities.experimental = {
            "swictation": {
                "version": __version__,
                "methods": sorted(m for m in METHODS if m in self.fm.features),
                "notifications": sorted(m for m, (_, r) in METHODS.items() if r is None),
            }
        }
        return result

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        self.exit_code = 0 if self._shutdown else 1
        logger.info(
            "exit received (%s shutdown): exit code %s", "after" if self._shutdown else "without", self.exit_code
        )
        self._server.request_stop()


class LspLogHandler(logging.Handler):
    """Mirror our log records to the client as ``window/logMessage`` once it may receive them."""

    def __init__(self, server: SwictationServer):
        super().__init__()
        self._server = server
        self._busy = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "on", False) or not self._server.protocol.initialize_started:
            return
        self._busy.on = True
        try:
            kind = _MESSAGE_TYPES.get(record.levelno, types.MessageType.Log)
            if record.levelno >= logging.ERROR:
                kind = types.MessageType.Error
            self._server.window_log_message(types.LogMessageParams(type=kind, message=self.format(record)))
        except Exception:  # noqa: BLE001 - logging must never break the server
            pass
        finally:
            self._busy.on = False


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """The log file (and each one started by a rotation) is the user's only, whatever the umask:
    logs quote what the user dictated."""

    def _open(self) -> IO[str]:  # type: ignore[override]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a file left by an older version keeps no looser mode
        except OSError:
            pass
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def configure_logging(level: str | None, log_file: str | Path | None = None) -> Path | None:
    """stderr plus a log file (stdout is the wire, so nothing may log there).

    Returns the log file in use, or ``None`` when it could not be opened.
    """
    numeric = _LOG_LEVELS.get((level or "info").lower(), logging.INFO)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):  # e.g. the CLI's basicConfig: the server configures its own
        root.removeHandler(handler)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(numeric)
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    path: Path | None = Path(log_file) if log_file else paths.log_dir() / "server.log"
    try:
        paths.ensure_private_dir(path.parent)
        file_handler = PrivateRotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        file_handler.setLevel(min(numeric, logging.INFO))
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    except OSError as exc:
        logger.warning("Cannot write the log file %s: %s", path, exc)
        path = None
    # pygls logs every frame at INFO, audio included: keep it quiet unless debugging.
    logging.getLogger("pygls").setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    return path


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
        self.log_handler = LspLogHandler(self)
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
        self.protocol.notify(method, converter.unstructure(params) if _is_ours(params) else params)

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
        level = _LOG_LEVELS[self.cli_log_level or self.options.log_level]
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
        reader = threading.Thread(target=_read_frames, args=(stdin, self), name="stdin-reader", daemon=True)
        reader.start()
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

    def on_oversized(self, frame: Oversized) -> None:
        """A message above ``max_message_bytes`` was discarded unread: say so (its id is unknown)."""
        self.protocol._reply_error(
            None,
            JsonRpcInvalidRequest(
                f"Invalid Request: a message of {frame.length} bytes is larger than the limit of "
                f"{frame.limit} bytes (serve --max-message-bytes); it was discarded",
                data={"kind": "message-too-large", "contentLength": frame.length, "maxMessageBytes": frame.limit},
            ),
        )

    def on_frame(self, body: bytes) -> None:
        """One frame's body, on the event loop."""
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            self.protocol._reply_error(None, JsonRpcParseError(f"Parse error: {exc}"))
            return
        try:
            self.protocol.handle_raw(data)
        except Exception:
            logger.exception("Failed to handle a message")

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


@attrs.frozen
class Oversized:
    """A frame whose Content-Length is above the limit: its body was discarded, never kept."""

    length: int
    limit: int


class FrameReader:
    """LSP frames (``Content-Length`` headers, blank line, body) from a byte stream, bounded.

    Nothing a client sends can make it hold more than ``max_message_bytes`` plus one header
    line (:data:`MAX_HEADER_LINE_BYTES`): a longer header line is skipped in pieces, and a body
    above the limit is read and thrown away in chunks (the stream stays in step) and reported
    as :class:`Oversized`. Header names are case-insensitive, a bare ``\\n`` line end is
    tolerated, and a ``Content-Length`` header glued to the junk left by a frame whose length
    was too short is still found, so the frame after a broken one is read. A header block
    without a usable ``Content-Length`` is skipped (there is no body boundary to recover).
    """

    def __init__(self, stream: IO[bytes], max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self._stream = stream
        self.max_message_bytes = max_message_bytes

    def __iter__(self) -> Iterator[bytes | Oversized]:
        while True:
            try:
                length = self._header_block()
            except EOFError:
                return
            if length is None:
                logger.warning("Skipping a frame without a valid Content-Length header")
                continue
            if length > self.max_message_bytes:
                logger.warning(
                    "Discarding a message of %d bytes: the limit is %d (--max-message-bytes)",
                    length,
                    self.max_message_bytes,
                )
                yield Oversized(length, self.max_message_bytes)
                if not self._discard(length):
                    return
                continue
            body = self._stream.read(length) if length else b""
            if len(body) < length:
                logger.info("stdin closed in the middle of a %d-byte frame", length)
                return
            yield body

    def _line(self) -> bytes:
        line = self._stream.readline(MAX_HEADER_LINE_BYTES)
        if not line:
            raise EOFError
        if len(line) >= MAX_HEADER_LINE_BYTES and not line.endswith(b"\n"):
            # Not a header: drop the line piece by piece, keeping only its end, where the next
            # frame's Content-Length may be glued to the junk.
            logger.warning("Ignoring a line longer than %d bytes", MAX_HEADER_LINE_BYTES)
            tail = line[-64:]
            while True:
                more = self._stream.readline(MAX_HEADER_LINE_BYTES)
                if not more:
                    raise EOFError
                if more.endswith(b"\n"):
                    return (tail + more)[-MAX_HEADER_LINE_BYTES:]
                tail = more[-64:]
        return line

    def _header_block(self) -> int | None:
        """The Content-Length of the next header block (``None`` if it has no valid one)."""
        length: int | None = None
        saw_header = False
        while True:
            stripped = self._line().strip()
            if not stripped:
                if saw_header:
                    return length
                continue
            saw_header = True
            at = stripped.lower().rfind(b"content-length:")
            if at > 0:
                # What a frame whose Content-Length was too short left behind, then the next
                # frame's header: resynchronise on the header.
                logger.warning("Ignoring %d bytes of junk before a Content-Length header", at)
                stripped = stripped[at:]
            name, sep, value = stripped.partition(b":")
            if not sep:
                logger.warning("Ignoring a line that is not a header: %r", stripped[:80])
                saw_header = False
                continue
            if name.strip().lower() == b"content-length":
                digits = value.strip()
                # Strictly ASCII digits: int() would also take "+5", "1_0" and other scripts' digits.
                length = int(digits) if _CONTENT_LENGTH.fullmatch(digits) else None

    def _discard(self, length: int) -> bool:
        """Read and drop ``length`` bytes in chunks; False at end of input."""
        remaining = length
        while remaining > 0:
            chunk = self._stream.read(min(remaining, _DISCARD_CHUNK_BYTES))
            if not chunk:
                return False
            remaining -= len(chunk)
        return True


def _read_frames(stdin: IO[bytes], server: SwictationServer) -> None:
    """Hand each frame to the event loop; runs on its own thread.

    A dedicated thread, so a busy handler pool never stops the server from reading ``exit``.
    """
    try:
        for frame in FrameReader(stdin, server.max_message_bytes):
            if isinstance(frame, Oversized):
                server.call_soon(server.on_oversized, frame)
            else:
                server.call_soon(server.on_frame, frame)
    except (OSError, ValueError):
        logger.info("stdin is no longer readable")
    finally:
        server.request_stop()


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

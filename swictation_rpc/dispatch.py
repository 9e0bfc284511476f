"""The pygls protocol override: JSON-RPC envelope validation, typed dispatch, error replies.

:class:`SwictationProtocol` turns wire messages into typed calls: params of our ``swictation/…``
methods are structured by the one converter and results unstructured by it;
:class:`~swictation_rpc.errors.SwictationError` becomes a JSON-RPC error with its code, kind and
remedy. Where pygls 2.1.1 falls short and this module steps in:

- a body that is not JSON is only logged by pygls; we answer ``-32700`` (id ``null``)
  (:meth:`SwictationProtocol.handle_frame`);
- a non-object message, a wrong ``jsonrpc`` version, a bad ``id``/``method``/``params`` or a
  message that is neither request nor response gets no answer from pygls; we answer ``-32600``;
- invalid params of LSP methods get no answer from pygls; we answer ``-32602`` with the path;
- requests after ``shutdown`` are silently dropped by pygls; LSP wants ``-32600``;
- ``exit`` raises ``SystemExit`` inside the event loop and pygls swallows the exit code; we keep it
  (0 after ``shutdown``, 1 without) in :attr:`SwictationProtocol.exit_code`;
- a request for a notification method (``initialized`` with an id) gets no answer from pygls;
  JSON-RPC wants one: ``-32601``;
- a message above ``--max-message-bytes`` (discarded unread by the transport) is answered ``-32600``.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import attrs
from cattrs import Converter
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

from swictation_rpc import __version__
from swictation_rpc.converter import converter, error_messages, to_camel
from swictation_rpc.errors import SwictationError
from swictation_rpc.protocol import METHODS
from swictation_rpc.transport import Oversized

logger = logging.getLogger(__name__)

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

#: Requests a client may send before ``initialize`` has been answered.
_BEFORE_INITIALIZE = {types.INITIALIZE, types.SHUTDOWN}


def is_ours(obj: Any) -> bool:
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


class SwictationProtocol(LanguageServerProtocol):
    """LSP plus our typed ``swictation/…`` methods; see the module docstring for what it fixes."""

    def __init__(self, server: LanguageServer, lsp_converter: Converter):
        super().__init__(server, lsp_converter)
        #: Called when ``exit`` arrives: the server stops serving (:attr:`exit_code` says how).
        self.on_exit: Callable[[], None] = lambda: None
        self.initialize_started = False
        self.initialized = False
        self.exit_code: int | None = None

    # -- frames from the transport ----------------------------------------------------------------

    def handle_frame(self, frame: bytes | Oversized) -> None:
        """One frame from the transport, on the event loop: parse it and dispatch it."""
        if isinstance(frame, Oversized):
            # Discarded unread: say so (its id is unknown).
            self._reply_error(
                None,
                JsonRpcInvalidRequest(
                    f"Invalid Request: a message of {frame.length} bytes is larger than the limit of "
                    f"{frame.limit} bytes (serve --max-message-bytes); it was discarded",
                    data={"kind": "message-too-large", "contentLength": frame.length, "maxMessageBytes": frame.limit},
                ),
            )
            return
        try:
            data = json.loads(frame)
        except (ValueError, RecursionError) as exc:
            self._reply_error(None, JsonRpcParseError(f"Parse error: {exc}"))
            return
        try:
            self.handle_raw(data)
        except Exception:
            logger.exception("Failed to handle a message")

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
            cancelled = JsonRpcRequestCancelled(f'Request with id "{msg_id}" is canceled')
            self._send_response(msg_id, error=cancelled.to_response_error())
            return
        exc = future.exception()
        if exc is None:
            result = future.result()
            if is_ours(result):
                result = converter.unstructure(result)
            self._send_response(msg_id, result=result)
            return
        if isinstance(exc, SwictationError):
            logger.warning("Request %s failed: %s", msg_id, exc)
            # camelCase on the wire, like everything else (``session_id=`` arrives as ``sessionId``).
            data = {to_camel(key): value for key, value in exc.to_data().items()}
            message = exc.message
            remedy_text = getattr(self._server, "remedy_text", None)
            if remedy_text is not None:  # an editor: its own command first in model remedies
                message = remedy_text(message) or message
                data["remedy"] = remedy_text(data.get("remedy"))
            error = types.ResponseError(code=exc.CODE, message=message, data=data)
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
                open_close=True,
                change=types.TextDocumentSyncKind.Incremental,
                # Saves tell the server which utterances are on disk: see UtteranceTracker.close.
                save=types.SaveOptions(include_text=False),
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
        self.on_exit()

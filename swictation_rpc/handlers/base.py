"""What the handlers see of the server: a :class:`~typing.Protocol`, so no handler imports it."""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, Protocol

from lsprotocol import types
from pygls.progress import Progress

from swictation_rpc.engine_host import EngineHost
from swictation_rpc.history import HistoryStore
from swictation_rpc.options import Options
from swictation_rpc.protocol import State
from swictation_rpc.utterances.dictation import Dictation
from swictation_rpc.utterances.documents import DocumentTracking
from swictation_rpc.utterances.ports import Blocking
from swictation_rpc.utterances.service import UtteranceService


class Server(Protocol):
    """The connection's state and services (:class:`swictation_rpc.server.SwictationServer`)."""

    options: Options
    history: HistoryStore | None
    pull_config_at_start: bool
    #: Whose utterances the history rotates and undoes (set at initialize).
    history_owner: str | None
    #: The client is an editor (``clientInfo`` at initialize): model remedies lead with its command.
    editor_client: bool
    blocking: Blocking
    engine_host: EngineHost
    documents: DocumentTracking
    utterances: UtteranceService
    dictation: Dictation

    @property
    def state(self) -> State: ...

    def publish_state(self, reason: str | None = None, *, force: bool = False) -> None: ...

    def install_options(self, options: Options) -> None: ...

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None: ...

    def remedy_text(self, text: str | None) -> str | None: ...

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` in the background, kept referenced until it is done."""
        ...

    def supports_configuration(self) -> bool: ...

    def supports_progress(self) -> bool: ...

    @property
    def work_done_progress(self) -> Progress: ...

    def registers_sync(self) -> bool: ...

    def static_sync_is_incremental(self) -> bool: ...

    def workspace_configuration_async(self, params: types.ConfigurationParams) -> Awaitable[Sequence[Any | None]]: ...

    def client_register_capability_async(self, params: types.RegistrationParams) -> Awaitable[None]: ...

"""What the utterance service needs from the rest of the server, stated narrowly.

The service never sees the server: it gets an engine source (:class:`EngineSource`), the client
(:class:`Client`: notify, ``workspace/applyEdit``, messages), a runner for blocking work
(:class:`Blocking`), and getters for the options and the history in effect (both change with
the settings). Each is a :class:`~typing.Protocol` or a small class, so a test can hand in fakes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar, runtime_checkable

from lsprotocol import types

from swictation_rpc.engine.base import Transcriber
from swictation_rpc.history import HistoryStore
from swictation_rpc.options import Options

T = TypeVar("T")


#: What the utterance service and the microphone session need of a loaded engine.
Engine = Transcriber


class EngineSource(Protocol):
    """Hands out the engine once it is loaded with the current settings (the engine host)."""

    async def ensure(self, wait: bool = True) -> Engine: ...

    @property
    def engine(self) -> Engine | None: ...


class Client(Protocol):
    """The editor on the other end, as far as utterances are concerned."""

    def notify(self, method: str, params: Any) -> None:
        """Send a notification (our attrs params go through the one converter)."""
        ...

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None: ...

    def can_apply_edit(self) -> bool:
        """Whether the client announced ``workspace.applyEdit``."""
        ...

    def workspace_apply_edit_async(
        self, params: types.ApplyWorkspaceEditParams
    ) -> Awaitable[types.ApplyWorkspaceEditResult]: ...

    def position_encoding(self) -> str:
        """The ``positionEncoding`` agreed at initialize (``utf-16`` unless the client asked otherwise)."""
        ...

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func`` on the event loop, from any thread (capture callbacks)."""
        ...

    def publish_state(self, reason: str | None = None, *, force: bool = False) -> None:
        """Send ``swictation/stateChanged`` if the server's state changed (or anyway, with ``force``)."""
        ...


@runtime_checkable
class Queued(Protocol):
    """Work that waits in a queue of its own: the engine's ``transcribe`` as the engine host hands
    it out (:class:`~swictation_rpc.engine_host.QueuedDecode`)."""

    def submit(self, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]: ...


class Blocking:
    """Runs blocking work (audio I/O, SQLite, PortAudio) on the server's thread pool; decodes in
    their own queue.

    ``await blocking(engine.transcribe, ...)`` with an engine from :meth:`EngineSource.ensure`
    waits in the decode queue, so decodes never hold the pool that ``status``, ``history`` and
    ``stopDictation`` need. Cancelling the awaiting request takes a queued decode out of the queue.
    """

    def __init__(self, executor: Callable[[], Executor]):
        self._executor = executor

    async def __call__(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if isinstance(func, Queued):
            return await asyncio.wrap_future(func.submit(*args, **kwargs))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), functools.partial(func, *args, **kwargs))


#: The options in effect (replaced on every settings change).
OptionsGetter = Callable[[], Options]
#: The history in effect (``None`` before initialize; replaced when ``history.enabled`` changes).
HistoryGetter = Callable[[], "HistoryStore | None"]

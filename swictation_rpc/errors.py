"""Typed errors with a JSON-RPC code and a remedy the user can act on.

Each class carries its ``CODE`` and a default ``MESSAGE``. Codes are -33000..-33099: outside
JSON-RPC's reserved -32768..-32000 (where LSP already uses -32001 and -32002) and LSP's own
-32899..-32800, so no client mistakes one of ours for a protocol error. Raise them
anywhere; the server turns them into JSON-RPC error responses (``code``, ``message`` and
``data: {"kind", "remedy", ...}``), the CLI prints ``message`` and ``remedy`` and exits non-zero.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SwictationError(Exception):
    """Base class: every error the user can see has a code, a message and a remedy."""

    CODE: ClassVar[int] = -33000
    KIND: ClassVar[str] = "internal"
    MESSAGE: ClassVar[str] = "swictation-rpc failed"

    def __init__(self, message: str | None = None, *, remedy: str = "", **data: Any):
        self.message = message or self.MESSAGE
        self.remedy = remedy
        self.data = data
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.remedy:
            return self.message
        # Two sentences: "The model X is not installed (looked in Y). Run ..."
        end = "" if self.message.rstrip().endswith((".", "!", "?", ":")) else "."
        return f"{self.message.rstrip()}{end} {self.remedy}"

    def to_data(self) -> dict[str, Any]:
        """The ``data`` member of a JSON-RPC error object."""
        return {"kind": self.KIND, "remedy": self.remedy, **self.data}


class ModelNotInstalledError(SwictationError):
    CODE = -33001
    KIND = "model-not-installed"
    MESSAGE = "The model is not installed"


class ModelBrokenError(SwictationError):
    """A model whose files are present but cannot be used (corrupt, wrong layout, outputs <unk>)."""

    CODE = -33002
    KIND = "model-broken"
    MESSAGE = "The model is broken"


class AudioUnreadableError(SwictationError):
    CODE = -33003
    KIND = "audio-unreadable"
    MESSAGE = "The audio cannot be read"


class NoInputDeviceError(SwictationError):
    CODE = -33004
    KIND = "no-input-device"
    MESSAGE = "No audio input device is available"


class AlreadyListeningError(SwictationError):
    CODE = -33005
    KIND = "already-listening"
    MESSAGE = "A dictation session is already listening"


class EngineLoadingError(SwictationError):
    """The engine is still loading and the client asked not to wait for it."""

    CODE = -33006
    KIND = "engine-loading"
    MESSAGE = "The speech engine is still loading"


class NoActiveSessionError(SwictationError):
    CODE = -33007
    KIND = "no-active-session"
    MESSAGE = "No dictation session is active"


class ModelDownloadError(SwictationError):
    CODE = -33008
    KIND = "model-download-failed"
    MESSAGE = "The model download failed"


class UtteranceNotFoundError(SwictationError):
    CODE = -33009
    KIND = "utterance-not-found"
    MESSAGE = "No such utterance in the history"


class AudioDeviceError(SwictationError):
    """The input device failed: permission denied, busy, or lost mid-session."""

    CODE = -33010
    KIND = "audio-device-error"
    MESSAGE = "The audio input device failed"


class HistoryWriteError(SwictationError):
    CODE = -33011
    KIND = "history-write-failed"
    MESSAGE = "The transcript could not be saved to the history"


class ServerBusyError(SwictationError):
    """Too much audio is being decoded for other requests right now; retry shortly."""

    CODE = -33012
    KIND = "server-busy"
    MESSAGE = "The server is busy decoding other audio"


ALL_ERRORS: tuple[type[SwictationError], ...] = (
    SwictationError,
    ModelNotInstalledError,
    ModelBrokenError,
    AudioUnreadableError,
    NoInputDeviceError,
    AlreadyListeningError,
    EngineLoadingError,
    NoActiveSessionError,
    ModelDownloadError,
    UtteranceNotFoundError,
    AudioDeviceError,
    HistoryWriteError,
    ServerBusyError,
)

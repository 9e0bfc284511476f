"""The swictation protocol, declared once: method names and their params/result classes.

Field names are snake_case here and camelCase on the wire (:mod:`swictation_rpc.converter`).
LSP's own types (``Position``, ``Range``, ``TextEdit``, ``TextDocumentIdentifier``) come from
lsprotocol. ``schemas/`` and the editor clients are generated from or checked against this module.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
from attrs import define, field
from lsprotocol.types import Position, Range, TextDocumentIdentifier, TextEdit

from swictation_rpc.options import CommitMode, ConcreteMode, Mode

# Requests (client -> server)
TRANSCRIBE = "swictation/transcribe"
START_DICTATION = "swictation/startDictation"
STOP_DICTATION = "swictation/stopDictation"
CANCEL_DICTATION = "swictation/cancelDictation"
STATUS = "swictation/status"
HISTORY = "swictation/history"
UNDO_UTTERANCE = "swictation/undoUtterance"
RETRANSCRIBE = "swictation/retranscribe"
INSERT_UTTERANCE = "swictation/insertUtterance"
UTTERANCE_EDIT_APPLIED = "swictation/utteranceEditApplied"
MODELS = "swictation/models"
DOWNLOAD_MODEL = "swictation/downloadModel"
REMOVE_MODEL = "swictation/removeModel"
ALTERNATIVES = "swictation/alternatives"
CORRECT_UTTERANCE = "swictation/correctUtterance"

# Notifications (server -> client)
STATE_CHANGED = "swictation/stateChanged"
PARTIAL = "swictation/partial"
REFINED = "swictation/refined"
PHRASE_COMMITTED = "swictation/phraseCommitted"

#: Highest line or character a request may place text at. LSP allows 2^31 - 1, but the end of
#: the inserted text (position + its length) must fit too, and no editor holds 2^30 lines.
MAX_POSITION = 2**30


def _position_in_range(instance: Any, attribute: attrs.Attribute, value: Position) -> None:
    """Checked when the params are read, so a request that cannot succeed decodes nothing."""
    for name in ("line", "character"):
        number = getattr(value, name)
        if number > MAX_POSITION:
            raise ValueError(
                f"{attribute.name}.{name} must be at most {MAX_POSITION} (no document is that long), got {number}"
            )


#: What the server is doing, as shown in the editor's status item.
State = Literal["loading", "idle", "listening", "transcribing", "error"]


@define
class Timings:
    audio_ms: float
    """Length of the audio that was transcribed."""
    decode_ms: float
    """Time spent in the recognizer."""
    total_ms: float
    """Time from receiving the audio to having the text (reading, resampling, decoding)."""


@define
class Transcript:
    """What the engine made of some audio: the CLI's ``--json`` output and the core of every result."""

    text: str
    mode: ConcreteMode
    """The mode that actually ran (``auto`` resolved)."""
    model: str
    """The model that produced the text, e.g. ``parakeet-tdt-110m`` or ``whisper-tiny.en (bundled)``."""
    timings: Timings
    language: str | None = None
    """The language the text was recognised in (``en``, ``de``; detected when the ``language``
    setting is ``auto`` and the model can tell), ``None`` when the model does not say."""


@define
class AudioInput:
    """Audio to transcribe: a file the server can read, or inline PCM.

    Exactly one of ``path`` and ``pcm16`` is given.
    """

    path: str | None = None
    """A WAV/FLAC/OGG file readable by the server; any sample rate and channel count."""
    pcm16: str | None = None
    """Base64 of little-endian signed 16-bit samples, channels interleaved."""
    sample_rate: int | None = None
    """Sample rate of ``pcm16`` in Hz (required with ``pcm16``)."""
    channels: int = 1
    """Channel count of ``pcm16``."""


@define
class TextContext:
    """What surrounds the cursor, so the text fits in (spacing, casing, identifiers)."""

    before: str = ""
    """Text just before the cursor (the client bounds it, e.g. 200 characters)."""
    after: str = ""
    """Text just after the cursor."""
    language_id: str | None = None
    """LSP languageId of the document, e.g. ``python``."""
    identifiers: list[str] = field(factory=list)
    """Identifiers from the document and workspace, used to bias recognition and spelling."""


@define
class TranscribeParams:
    text_document: TextDocumentIdentifier
    position: Position = field(validator=_position_in_range)
    """Where the text goes: the edit inserts at this position."""
    audio: AudioInput
    mode: Mode | None = None
    """``None`` uses the ``defaultMode`` setting."""
    context: TextContext | None = None
    wait_for_engine: bool = True
    """If false and the engine is still loading, fail at once with ``engine-loading``."""


@define
class TranscribeResult(Transcript):
    edits: list[TextEdit] = field(factory=list)
    """Edits that put ``text`` in the document: an insertion at the position (zero-width range)."""
    utterance_id: str | None = None
    """Id of the utterance in the history (``swictation/history``, ``undoUtterance``)."""
    applied_by_server: bool = False
    """True when the server already applied the edit with ``workspace/applyEdit`` (``applyEdits:
    "server"``); ``edits`` is then empty so no client inserts the text twice."""
    scratched_utterance_id: str | None = None
    """The earlier utterance that "scratch that" removes: ``edits`` then also delete (or replace) its
    text, at ``version``. Clients that apply the edits confirm with ``utteranceEditApplied`` (kind
    ``undo``); until then the utterance stays as it was."""
    version: int | None = None
    """With ``scratched_utterance_id``: the version of ``uri`` at which that deletion was checked, in
    whose coordinates its range is. The deletion holds only at that version: a client whose document
    has moved on inserts the text at the cursor alone and confirms the undo as not applied. ``None``
    when the document is not synced (the range is where the utterance was saved)."""
    correct_utterance_id: str | None = None
    """The user said "correct that" (the whole utterance): nothing is inserted, and the client opens
    the alternatives of this utterance (``swictation/alternatives``), the previous one of the
    document. ``None`` otherwise, also when there was none to correct (a message says so)."""


@define
class StartDictationParams:
    text_document: TextDocumentIdentifier
    position: Position = field(validator=_position_in_range)
    mode: Mode | None = None
    context: TextContext | None = None


@define
class StartDictationResult:
    session_id: str
    commit: CommitMode = "onStop"
    """``perPhrase``: each phrase is inserted while listening (``swictation/phraseCommitted``) and
    ``stopDictation`` returns only the phrase still open; ``onStop``: all of it at stop."""


@define
class StopDictationParams:
    session_id: str | None = None
    """``None`` stops the active session."""


@define
class CancelDictationParams:
    session_id: str | None = None


@define
class CancelDictationResult:
    cancelled: bool
    """False when no session was active."""
    session_id: str | None = None


@define
class StatusParams:
    pass


@define
class ModelStatus:
    mode: ConcreteMode
    name: str
    backend: str
    """``sherpa-onnx``, ``onnxruntime`` or ``faster-whisper``."""
    provider: str
    """The execution provider that actually runs it, e.g. ``CUDAExecutionProvider``, ``cpu``."""
    ready: bool
    problem: str | None = None
    """Why the model is not usable (not installed, broken, fell back to CPU), if so."""
    load_ms: float | None = None
    warmup_ms: float | None = None


@define
class EngineStatus:
    ready: bool
    models: list[ModelStatus] = field(factory=list)
    providers: list[str] = field(factory=list)
    """Execution providers onnxruntime offers on this machine."""
    language: str = "auto"
    """The ``language`` setting in effect (``auto`` or a code); each result names the language used."""


@define
class ModeMetrics:
    count: int
    p50_ms: float | None = None
    p95_ms: float | None = None
    rtf_p50: float | None = None
    """Median real-time factor (decode time / audio time)."""


@define
class GpuStatus:
    name: str
    memory_used_mb: float
    memory_total_mb: float


@define
class InputDevice:
    index: int
    name: str
    default: bool = False
    sample_rate: float | None = None


@define
class StatusResult:
    state: State
    engine: EngineStatus
    metrics: dict[str, ModeMetrics] = field(factory=dict)
    """Rolling latency per mode (``fast``, ``accurate``)."""
    gpu: GpuStatus | None = None
    rss_mb: float | None = None
    input_devices: list[InputDevice] = field(factory=list)
    config: dict[str, Any] = field(factory=dict)
    """The configuration in effect, camelCase, as the client would send it."""
    session_id: str | None = None


@define
class StateChangedParams:
    state: State
    session_id: str | None = None
    reason: str | None = None
    """Why: the error's message for ``error``; ``auto-stop`` or ``cancelled`` for ``idle``."""


@define
class PartialParams:
    session_id: str
    text: str
    """Interim text of the whole session so far; replaces the previous partial."""


@define
class HistoryParams:
    limit: int = 20
    include_undone: bool = False
    """Also list utterances that were undone (or scratched), marked ``undone``."""


@define
class HistoryItem:
    id: str
    text: str
    uri: str | None
    range: Range | None
    mode: ConcreteMode
    model: str
    timings: Timings
    created_at: str
    """ISO 8601, UTC."""
    undone: bool = False
    """The utterance was undone (or scratched): its text is no longer in the document."""


@define
class HistoryResult:
    items: list[HistoryItem] = field(factory=list)


#: Why the server proposes no edit of an earlier utterance:
#:
#: - ``changed``: the text at the utterance's place is not what the server inserted (the user edited
#:   inside it, or the file changed on disk or was reopened with other text);
#: - ``not-synced``: the server does not have the document's text now (not opened since the server
#:   started, closed, or too large to keep): re-send it with ``didOpen`` and ask again;
#: - ``gone``: the utterance's text is no longer in the document (deleted, or its range is past the end);
#: - ``already-undone``: the utterance was already undone (for "undo last": the newest utterance was).
EditRefusal = Literal["changed", "not-synced", "gone", "already-undone"]

#: The kinds of edit of an earlier utterance a client may confirm (``utteranceEditApplied``).
UtteranceEditKind = Literal["undo", "retranscribe", "refine", "correct"]


@define
class UndoUtteranceParams:
    id: str | None = None
    """``None`` is the last utterance (of this editor): if it was already undone, the answer is
    ``already-undone``; an older utterance is only undone by its id."""


@define
class UndoUtteranceResult:
    edits: list[TextEdit] = field(factory=list)
    """The deletion of the utterance's text, to apply to ``uri`` at ``version``; empty when
    ``reason`` says why nothing is proposed, or when the server applied it (``appliedByServer``)."""
    id: str | None = None
    """The utterance the answer is about (``None``: there is no utterance to undo)."""
    uri: str | None = None
    """The document the edits are for (the utterance's document). Apply them to this document
    only, never to the active editor by default."""
    version: int | None = None
    """The version of ``uri`` the edits were computed against (LSP
    ``OptionalVersionedTextDocumentIdentifier``): apply them only if the document is still at this
    version. ``None`` when the document is not synced."""
    reason: EditRefusal | None = None
    """Why no edit is proposed; ``None`` when edits are proposed (or applied by the server)."""
    message: str | None = None
    """One sentence for the user, with ``reason``."""
    applied_by_server: bool = False
    """True when the server applied the deletion itself with ``workspace/applyEdit`` and the
    client answered ``applied: true``; the utterance is then undone."""


@define
class RetranscribeParams:
    id: str
    mode: Mode = "accurate"


@define
class RetranscribeResult(TranscribeResult):
    """The utterance decoded again; ``edits`` replace its text where it is now, if it is unchanged.

    When the user edited the utterance (or it is gone, undone, or its document is not synced),
    ``edits`` is empty, ``reason`` says why, and ``text`` is the new text to offer instead.
    """

    uri: str | None = None
    """The document the edits are for (the utterance's document)."""
    version: int | None = None
    """The version of ``uri`` the edits were computed against; ``None`` when not synced."""
    reason: EditRefusal | None = None
    """Why no edit is proposed; ``None`` when edits are proposed (or applied by the server)."""
    message: str | None = None
    """One sentence for the user, with ``reason``."""


#: Where an alternative comes from: the text the utterance has now, or a decode of its saved audio
#: with the other mode (fast vs accurate).
AlternativeSource = Literal["current", "other-mode"]


@define
class AlternativesParams:
    utterance_id: str | None = None
    """``None`` is the last utterance of this editor that is still in its document."""


@define
class Alternative:
    text: str
    """Laid out for the utterance's place, as it would replace it."""
    source: AlternativeSource
    mode: ConcreteMode
    model: str


@define
class AlternativesResult:
    """What the utterance could read instead ("correct that"): choose one with ``correctUtterance``."""

    utterance_id: str | None = None
    """``None`` when there is no utterance to correct (``message`` says why)."""
    text: str = ""
    """The text the utterance has now (the history's)."""
    alternatives: list[Alternative] = field(factory=list)
    """``current`` first, then the other mode's text when it differs; no two with the same text."""
    uri: str | None = None
    """The utterance's document."""
    message: str | None = None
    """One sentence when something could not be offered (no audio kept, no utterance)."""


@define
class CorrectUtteranceParams:
    utterance_id: str
    text: str
    """The chosen text (an alternative's, or the user's own), put in place as it is."""


@define
class InsertUtteranceParams:
    """Insert an utterance from the history again (undone or not) at a cursor."""

    utterance_id: str
    text_document: TextDocumentIdentifier
    position: Position = field(validator=_position_in_range)
    """Where the text goes: the edit inserts at this position."""
    context: TextContext | None = None
    """The text around the new cursor: the text is formatted for it like a fresh utterance."""


@define
class UtteranceEditAppliedParams:
    """The client applied (or could not apply) an edit the server proposed for an earlier utterance.

    Clients that apply the edits of ``undoUtterance``, ``retranscribe`` and ``swictation/refined``
    themselves send this after trying, so the server marks the utterance undone (or its new text)
    only once the edit is really in the document; ``applied: false`` leaves it exactly as it was.
    In a document the editor syncs, the server also sees the edit arrive (``didChange``) and
    counts that as applied; confirming as well is harmless.
    """

    utterance_id: str
    kind: UtteranceEditKind
    """The answer the edit came from: ``undo``, ``retranscribe``, ``refine`` or ``correct``."""
    applied: bool
    """False when the client refused the edit (version mismatch, document gone) or failed."""
    failure_reason: str | None = None
    """Why it was not applied (logged)."""


@define
class UtteranceEditAppliedResult:
    item: HistoryItem | None = None
    """The utterance as the history now has it (``undone``, its text and range); ``None`` when
    the history is off."""


@define
class RefinedParams:
    """Sent after two-pass refine found better text for an utterance already inserted.

    ``edit`` replaces the fast text where it is now, in ``uri`` at ``version``; when the user
    edited the utterance (or its document is not synced) ``edit`` is ``None``, ``reason`` says why
    and ``text`` is offered instead.
    """

    utterance_id: str
    uri: str
    edit: TextEdit | None
    text: str
    """The refined text."""
    version: int | None = None
    """The version of ``uri`` the edit was computed against; ``None`` when not synced."""
    reason: EditRefusal | None = None
    """Why no edit is proposed; ``None`` when ``edit`` is given."""
    message: str | None = None
    """One sentence for the user, with ``reason``."""


@define
class PhraseCommittedParams:
    """A phrase of a ``perPhrase`` dictation, closed by a pause while listening goes on.

    ``result`` is what ``stopDictation`` returns for an utterance: saved to the history before this
    was sent, its ``edits`` insert the phrase after the session's previous phrase. Apply it as a
    ``stopDictation`` result, in arrival order; every phrase of a session arrives before the
    ``stopDictation`` response.
    """

    session_id: str
    uri: str
    result: TranscribeResult


@define
class ModelsParams:
    pass


@define
class ModelInfo:
    """One model of the store: a catalogue entry, or a model installed under another name."""

    name: str
    title: str
    roles: list[ConcreteMode] = field(factory=list)
    """The modes the catalogue meant it for; empty for an imported or unknown model."""
    installed: bool = False
    path: str | None = None
    """Its folder, when installed."""
    size: int | None = None
    """Exact bytes to download, when published."""
    approx_size: str | None = None
    """An estimate such as ``~456 MB``, when only that is known."""
    problem: str | None = None
    """A sentence when it is installed but broken or incomplete, else ``None``."""
    in_catalogue: bool = False
    serving: list[ConcreteMode] = field(factory=list)
    """The modes the loaded engine serves with it now."""


@define
class ModeModel:
    """The model a mode is configured to use, and whether it can."""

    mode: ConcreteMode
    model: str
    """The configured name or folder (``models.fast`` / ``models.accurate``)."""
    installed: bool
    problem: str | None = None
    """Why it cannot serve (not installed, broken), as a sentence; ``None`` when fine."""


@define
class ModelsResult:
    models_dir: str
    """The store folder in effect."""
    models: list[ModelInfo] = field(factory=list)
    """Catalogue entries and installed non-catalogue models, sorted by name."""
    modes: list[ModeModel] = field(factory=list)
    """One per mode: ``fast`` and ``accurate``."""


def _progress_token(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise ValueError(f"workDoneToken must be a string or an integer, got {type(value).__name__}")


@define
class DownloadModelParams:
    name: str
    """A catalogue name (``swictation/models``)."""
    force: bool = False
    """Download again and replace an installed copy."""
    work_done_token: int | str | None = field(default=None, validator=_progress_token)
    """LSP work-done progress token; without one, the server creates a token when the client
    supports ``window.workDoneProgress``."""


@define
class DownloadModelResult:
    name: str
    path: str
    """The installed model's folder."""
    reloaded: bool
    """The engine was reloaded to serve it (it is configured for a mode, or the engine had failed)."""
    serving: list[ConcreteMode] = field(factory=list)
    """The modes the engine serves with it after the reload (empty when it serves none)."""
    problem: str | None = None
    """Why the engine does not serve it after the reload (it failed the engine's check, the reload
    failed), as the engine's sentence; ``None`` when it serves, or when no mode is configured with it."""


@define
class RemoveModelParams:
    name: str


@define
class RemoveModelResult:
    name: str
    removed: bool
    """False when nothing of that name was in the store."""


#: Method -> (params class, result class); ``None`` result for notifications.
METHODS: dict[str, tuple[type, type | None]] = {
    TRANSCRIBE: (TranscribeParams, TranscribeResult),
    START_DICTATION: (StartDictationParams, StartDictationResult),
    STOP_DICTATION: (StopDictationParams, TranscribeResult),
    CANCEL_DICTATION: (CancelDictationParams, CancelDictationResult),
    STATUS: (StatusParams, StatusResult),
    HISTORY: (HistoryParams, HistoryResult),
    UNDO_UTTERANCE: (UndoUtteranceParams, UndoUtteranceResult),
    RETRANSCRIBE: (RetranscribeParams, RetranscribeResult),
    INSERT_UTTERANCE: (InsertUtteranceParams, TranscribeResult),
    UTTERANCE_EDIT_APPLIED: (UtteranceEditAppliedParams, UtteranceEditAppliedResult),
    MODELS: (ModelsParams, ModelsResult),
    DOWNLOAD_MODEL: (DownloadModelParams, DownloadModelResult),
    REMOVE_MODEL: (RemoveModelParams, RemoveModelResult),
    ALTERNATIVES: (AlternativesParams, AlternativesResult),
    CORRECT_UTTERANCE: (CorrectUtteranceParams, RetranscribeResult),
    STATE_CHANGED: (StateChangedParams, None),
    PARTIAL: (PartialParams, None),
    REFINED: (RefinedParams, None),
    PHRASE_COMMITTED: (PhraseCommittedParams, None),
}

__all__ = [name for name in dir() if not name.startswith("_")] + ["Position", "Range", "TextEdit"]

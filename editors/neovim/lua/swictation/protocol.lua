-- Generated from swictation_rpc/protocol.py by editors/neovim/scripts/gen_protocol.py.
-- Do not edit: run `python editors/neovim/scripts/gen_protocol.py` after changing the protocol.

local M = {}

-- Requests (client -> server) and notifications (server -> client).
M.TRANSCRIBE = "swictation/transcribe"
M.START_DICTATION = "swictation/startDictation"
M.STOP_DICTATION = "swictation/stopDictation"
M.CANCEL_DICTATION = "swictation/cancelDictation"
M.STATUS = "swictation/status"
M.HISTORY = "swictation/history"
M.UNDO_UTTERANCE = "swictation/undoUtterance"
M.RETRANSCRIBE = "swictation/retranscribe"
M.INSERT_UTTERANCE = "swictation/insertUtterance"
M.UTTERANCE_EDIT_APPLIED = "swictation/utteranceEditApplied"
M.MODELS = "swictation/models"
M.DOWNLOAD_MODEL = "swictation/downloadModel"
M.REMOVE_MODEL = "swictation/removeModel"
M.ALTERNATIVES = "swictation/alternatives"
M.CORRECT_UTTERANCE = "swictation/correctUtterance"
M.STATE_CHANGED = "swictation/stateChanged"
M.PARTIAL = "swictation/partial"
M.REFINED = "swictation/refined"
M.PHRASE_COMMITTED = "swictation/phraseCommitted"

--- Notifications the server sends (the plugin handles each).
M.notifications = {
  "swictation/stateChanged",
  "swictation/partial",
  "swictation/refined",
  "swictation/phraseCommitted",
}

---@class swictation.TranscribeParams
---@field textDocument lsp.TextDocumentIdentifier
---@field position lsp.Position Where the text goes: the edit inserts at this position.
---@field audio swictation.AudioInput
---@field mode? "fast"|"accurate"|"auto" ``None`` uses the ``defaultMode`` setting.
---@field context? swictation.TextContext
---@field waitForEngine? boolean If false and the engine is still loading, fail at once with ``engine-loading``.

--- Audio to transcribe: a file the server can read, or inline PCM.
---@class swictation.AudioInput
---@field path? string A WAV/FLAC/OGG file readable by the server; any sample rate and channel count.
---@field pcm16? string Base64 of little-endian signed 16-bit samples, channels interleaved.
---@field sampleRate? integer Sample rate of ``pcm16`` in Hz (required with ``pcm16``).
---@field channels? integer Channel count of ``pcm16``.

--- What surrounds the cursor, so the text fits in (spacing, casing, identifiers).
---@class swictation.TextContext
---@field before? string Text just before the cursor (the client bounds it, e.g. 200 characters).
---@field after? string Text just after the cursor.
---@field languageId? string LSP languageId of the document, e.g. ``python``.
---@field identifiers? string[] Identifiers from the document and workspace, used to bias recognition and spelling.

---@class swictation.TranscribeResult
---@field text string
---@field mode "fast"|"accurate"
---@field model string
---@field timings swictation.Timings
---@field language? string
---@field edits? lsp.TextEdit[] Edits that put ``text`` in the document: an insertion at the position (zero-width range).
---@field utteranceId? string Id of the utterance in the history (``swictation/history``, ``undoUtterance``).
---@field appliedByServer? boolean True when the server already applied the edit with ``workspace/applyEdit`` (``applyEdits: "server"``); ``edits`` is then empty so no client inserts the text twice.
---@field scratchedUtteranceId? string The earlier utterance that "scratch that" removes: ``edits`` then also delete (or replace) its text, at ``version``. Clients that apply the edits confirm with ``utteranceEditApplied`` (kind ``undo``); until then the utterance stays as it was.
---@field version? integer With ``scratched_utterance_id``: the version of ``uri`` at which that deletion was checked, in whose coordinates its range is. The deletion holds only at that version: a client whose document has moved on inserts the text at the cursor alone and confirms the undo as not applied. ``None`` when the document is not synced (the range is where the utterance was saved).
---@field correctUtteranceId? string The user said "correct that" (the whole utterance): nothing is inserted, and the client opens the alternatives of this utterance (``swictation/alternatives``), the previous one of the document. ``None`` otherwise, also when there was none to correct (a message says so).

---@class swictation.Timings
---@field audioMs number Length of the audio that was transcribed.
---@field decodeMs number Time spent in the recognizer.
---@field totalMs number Time from receiving the audio to having the text (reading, resampling, decoding).

---@class swictation.StartDictationParams
---@field textDocument lsp.TextDocumentIdentifier
---@field position lsp.Position
---@field mode? "fast"|"accurate"|"auto"
---@field context? swictation.TextContext

---@class swictation.StartDictationResult
---@field sessionId string
---@field commit? "onStop"|"perPhrase" ``perPhrase``: each phrase is inserted while listening (``swictation/phraseCommitted``) and ``stopDictation`` returns only the phrase still open; ``onStop``: all of it at stop.

---@class swictation.StopDictationParams
---@field sessionId? string ``None`` stops the active session.

---@class swictation.CancelDictationParams
---@field sessionId? string

---@class swictation.CancelDictationResult
---@field cancelled boolean False when no session was active.
---@field sessionId? string

---@class swictation.StatusParams

---@class swictation.StatusResult
---@field state "loading"|"idle"|"listening"|"transcribing"|"error"
---@field engine swictation.EngineStatus
---@field metrics? table<string, swictation.ModeMetrics> Rolling latency per mode (``fast``, ``accurate``).
---@field gpu? swictation.GpuStatus
---@field rssMb? number
---@field inputDevices? swictation.InputDevice[]
---@field config? table<string, any> The configuration in effect, camelCase, as the client would send it.
---@field sessionId? string

---@class swictation.EngineStatus
---@field ready boolean
---@field models? swictation.ModelStatus[]
---@field providers? string[] Execution providers onnxruntime offers on this machine.
---@field language? string The ``language`` setting in effect (``auto`` or a code); each result names the language used.

---@class swictation.ModelStatus
---@field mode "fast"|"accurate"
---@field name string
---@field backend string ``sherpa-onnx``, ``onnxruntime`` or ``faster-whisper``.
---@field provider string The execution provider that actually runs it, e.g. ``CUDAExecutionProvider``, ``cpu``.
---@field ready boolean
---@field problem? string Why the model is not usable (not installed, broken, fell back to CPU), if so.
---@field loadMs? number
---@field warmupMs? number

---@class swictation.ModeMetrics
---@field count integer
---@field p50Ms? number
---@field p95Ms? number
---@field rtfP50? number Median real-time factor (decode time / audio time).

---@class swictation.GpuStatus
---@field name string
---@field memoryUsedMb number
---@field memoryTotalMb number

---@class swictation.InputDevice
---@field index integer
---@field name string
---@field default? boolean
---@field sampleRate? number

---@class swictation.HistoryParams
---@field limit? integer
---@field includeUndone? boolean Also list utterances that were undone (or scratched), marked ``undone``.

---@class swictation.HistoryResult
---@field items? swictation.HistoryItem[]

---@class swictation.HistoryItem
---@field id string
---@field text string
---@field uri? string
---@field range? lsp.Range
---@field mode "fast"|"accurate"
---@field model string
---@field timings swictation.Timings
---@field createdAt string ISO 8601, UTC.
---@field undone? boolean The utterance was undone (or scratched): its text is no longer in the document.

---@class swictation.UndoUtteranceParams
---@field id? string ``None`` is the last utterance (of this editor): if it was already undone, the answer is ``already-undone``; an older utterance is only undone by its id.

---@class swictation.UndoUtteranceResult
---@field edits? lsp.TextEdit[] The deletion of the utterance's text, to apply to ``uri`` at ``version``; empty when ``reason`` says why nothing is proposed, or when the server applied it (``appliedByServer``).
---@field id? string The utterance the answer is about (``None``: there is no utterance to undo).
---@field uri? string The document the edits are for (the utterance's document). Apply them to this document only, never to the active editor by default.
---@field version? integer The version of ``uri`` the edits were computed against (LSP ``OptionalVersionedTextDocumentIdentifier``): apply them only if the document is still at this version. ``None`` when the document is not synced.
---@field reason? "changed"|"not-synced"|"gone"|"already-undone" Why no edit is proposed; ``None`` when edits are proposed (or applied by the server).
---@field message? string One sentence for the user, with ``reason``.
---@field appliedByServer? boolean True when the server applied the deletion itself with ``workspace/applyEdit`` and the client answered ``applied: true``; the utterance is then undone.

---@class swictation.RetranscribeParams
---@field id string
---@field mode? "fast"|"accurate"|"auto"

--- The utterance decoded again; ``edits`` replace its text where it is now, if it is unchanged.
---@class swictation.RetranscribeResult
---@field text string
---@field mode "fast"|"accurate"
---@field model string
---@field timings swictation.Timings
---@field language? string
---@field edits? lsp.TextEdit[]
---@field utteranceId? string
---@field appliedByServer? boolean
---@field scratchedUtteranceId? string
---@field correctUtteranceId? string
---@field uri? string The document the edits are for (the utterance's document).
---@field version? integer The version of ``uri`` the edits were computed against; ``None`` when not synced.
---@field reason? "changed"|"not-synced"|"gone"|"already-undone" Why no edit is proposed; ``None`` when edits are proposed (or applied by the server).
---@field message? string One sentence for the user, with ``reason``.

--- Insert an utterance from the history again (undone or not) at a cursor.
---@class swictation.InsertUtteranceParams
---@field utteranceId string
---@field textDocument lsp.TextDocumentIdentifier
---@field position lsp.Position Where the text goes: the edit inserts at this position.
---@field context? swictation.TextContext The text around the new cursor: the text is formatted for it like a fresh utterance.

--- The client applied (or could not apply) an edit the server proposed for an earlier utterance.
---@class swictation.UtteranceEditAppliedParams
---@field utteranceId string
---@field kind "undo"|"retranscribe"|"refine"|"correct" The answer the edit came from: ``undo``, ``retranscribe``, ``refine`` or ``correct``.
---@field applied boolean False when the client refused the edit (version mismatch, document gone) or failed.
---@field failureReason? string Why it was not applied (logged).

---@class swictation.UtteranceEditAppliedResult
---@field item? swictation.HistoryItem The utterance as the history now has it (``undone``, its text and range); ``None`` when the history is off.

---@class swictation.ModelsParams

---@class swictation.ModelsResult
---@field modelsDir string The store folder in effect.
---@field models? swictation.ModelInfo[] Catalogue entries and installed non-catalogue models, sorted by name.
---@field modes? swictation.ModeModel[] One per mode: ``fast`` and ``accurate``.

--- One model of the store: a catalogue entry, or a model installed under another name.
---@class swictation.ModelInfo
---@field name string
---@field title string
---@field roles? ("fast"|"accurate")[] The modes the catalogue meant it for; empty for an imported or unknown model.
---@field installed? boolean
---@field path? string Its folder, when installed.
---@field size? integer Exact bytes to download, when published.
---@field approxSize? string An estimate such as ``~456 MB``, when only that is known.
---@field problem? string A sentence when it is installed but broken or incomplete, else ``None``.
---@field inCatalogue? boolean
---@field serving? ("fast"|"accurate")[] The modes the loaded engine serves with it now.

--- The model a mode is configured to use, and whether it can.
---@class swictation.ModeModel
---@field mode "fast"|"accurate"
---@field model string The configured name or folder (``models.fast`` / ``models.accurate``).
---@field installed boolean
---@field problem? string Why it cannot serve (not installed, broken), as a sentence; ``None`` when fine.

---@class swictation.DownloadModelParams
---@field name string A catalogue name (``swictation/models``).
---@field force? boolean Download again and replace an installed copy.
---@field workDoneToken? integer|string LSP work-done progress token; without one, the server creates a token when the client supports ``window.workDoneProgress``.

---@class swictation.DownloadModelResult
---@field name string
---@field path string The installed model's folder.
---@field reloaded boolean The engine was reloaded to serve it (it is configured for a mode, or the engine had failed).
---@field serving? ("fast"|"accurate")[] The modes the engine serves with it after the reload (empty when it serves none).
---@field problem? string Why the engine does not serve it after the reload (it failed the engine's check, the reload failed), as the engine's sentence; ``None`` when it serves, or when no mode is configured with it.

---@class swictation.RemoveModelParams
---@field name string

---@class swictation.RemoveModelResult
---@field name string
---@field removed boolean False when nothing of that name was in the store.

---@class swictation.AlternativesParams
---@field utteranceId? string ``None`` is the last utterance of this editor that is still in its document.

--- What the utterance could read instead ("correct that"): choose one with ``correctUtterance``.
---@class swictation.AlternativesResult
---@field utteranceId? string ``None`` when there is no utterance to correct (``message`` says why).
---@field text? string The text the utterance has now (the history's).
---@field alternatives? swictation.Alternative[] ``current`` first, then the other mode's text when it differs; no two with the same text.
---@field uri? string The utterance's document.
---@field message? string One sentence when something could not be offered (no audio kept, no utterance).

---@class swictation.Alternative
---@field text string Laid out for the utterance's place, as it would replace it.
---@field source "current"|"other-mode"
---@field mode "fast"|"accurate"
---@field model string

---@class swictation.CorrectUtteranceParams
---@field utteranceId string
---@field text string The chosen text (an alternative's, or the user's own), put in place as it is.

---@class swictation.StateChangedParams
---@field state "loading"|"idle"|"listening"|"transcribing"|"error"
---@field sessionId? string
---@field reason? string Why: the error's message for ``error``; ``auto-stop`` or ``cancelled`` for ``idle``.

---@class swictation.PartialParams
---@field sessionId string
---@field text string Interim text of the whole session so far; replaces the previous partial.

--- Sent after two-pass refine found better text for an utterance already inserted.
---@class swictation.RefinedParams
---@field utteranceId string
---@field uri string
---@field edit? lsp.TextEdit
---@field text string The refined text.
---@field version? integer The version of ``uri`` the edit was computed against; ``None`` when not synced.
---@field reason? "changed"|"not-synced"|"gone"|"already-undone" Why no edit is proposed; ``None`` when ``edit`` is given.
---@field message? string One sentence for the user, with ``reason``.

--- A phrase of a ``perPhrase`` dictation, closed by a pause while listening goes on.
---@class swictation.PhraseCommittedParams
---@field sessionId string
---@field uri string
---@field result swictation.TranscribeResult

return M

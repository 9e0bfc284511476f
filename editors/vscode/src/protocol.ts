/**
 * The swictation wire contract, as TypeScript types.
 *
 * Mirrors swictation_rpc/protocol.py (the one declaration; camelCase on the wire). The unit test
 * `protocol.test.ts` checks these names against schemas/ when the generated schemas are present.
 * Pure: no VS Code import, so unit tests load it in plain Node.
 */

export const TRANSCRIBE = 'swictation/transcribe';
export const START_DICTATION = 'swictation/startDictation';
export const STOP_DICTATION = 'swictation/stopDictation';
export const CANCEL_DICTATION = 'swictation/cancelDictation';
export const STATUS = 'swictation/status';
export const HISTORY = 'swictation/history';
export const UNDO_UTTERANCE = 'swictation/undoUtterance';
export const RETRANSCRIBE = 'swictation/retranscribe';
export const INSERT_UTTERANCE = 'swictation/insertUtterance';
export const UTTERANCE_EDIT_APPLIED = 'swictation/utteranceEditApplied';
export const MODELS = 'swictation/models';
export const DOWNLOAD_MODEL = 'swictation/downloadModel';
export const REMOVE_MODEL = 'swictation/removeModel';
export const ALTERNATIVES = 'swictation/alternatives';
export const CORRECT_UTTERANCE = 'swictation/correctUtterance';

export const STATE_CHANGED = 'swictation/stateChanged';
export const PARTIAL = 'swictation/partial';
export const REFINED = 'swictation/refined';
export const PHRASE_COMMITTED = 'swictation/phraseCommitted';

export const REQUESTS = [
  TRANSCRIBE,
  START_DICTATION,
  STOP_DICTATION,
  CANCEL_DICTATION,
  STATUS,
  HISTORY,
  UNDO_UTTERANCE,
  RETRANSCRIBE,
  INSERT_UTTERANCE,
  UTTERANCE_EDIT_APPLIED,
  MODELS,
  DOWNLOAD_MODEL,
  REMOVE_MODEL,
  ALTERNATIVES,
  CORRECT_UTTERANCE,
] as const;
export const NOTIFICATIONS = [STATE_CHANGED, PARTIAL, REFINED, PHRASE_COMMITTED] as const;

export type Mode = 'fast' | 'accurate' | 'auto';
export type ConcreteMode = 'fast' | 'accurate';
/** `perPhrase`: each phrase goes in while listening (`swictation/phraseCommitted`); `onStop`: all at stop. */
export type CommitMode = 'onStop' | 'perPhrase';
/** What the server is doing, as the status item shows it. */
export type State = 'loading' | 'idle' | 'listening' | 'transcribing' | 'error';

export interface Position {
  line: number;
  /** UTF-16 code units, as in LSP and VS Code. */
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface TextEdit {
  range: Range;
  newText: string;
}

export interface TextDocumentIdentifier {
  uri: string;
}

export interface Timings {
  audioMs: number;
  decodeMs: number;
  totalMs: number;
}

export interface Transcript {
  text: string;
  mode: ConcreteMode;
  model: string;
  timings: Timings;
  /** The language the text was recognised in (`en`, `de`), when the model says. */
  language?: string | null;
}

export interface AudioInput {
  path?: string | null;
  pcm16?: string | null;
  sampleRate?: number | null;
  channels?: number;
}

export interface TextContext {
  before?: string;
  after?: string;
  languageId?: string | null;
  identifiers?: string[];
}

export interface TranscribeParams {
  textDocument: TextDocumentIdentifier;
  position: Position;
  audio: AudioInput;
  mode?: Mode | null;
  context?: TextContext | null;
  waitForEngine?: boolean;
}

export interface TranscribeResult extends Transcript {
  edits: TextEdit[];
  utteranceId?: string | null;
  /** The server applied the edit itself (`applyEdits: "server"`); `edits` is then empty. */
  appliedByServer?: boolean;
  /** The earlier utterance "scratch that" removes with `edits` (confirm with utteranceEditApplied, kind undo). */
  scratchedUtteranceId?: string | null;
  /** The document version that deletion was checked at; it holds only there. */
  version?: number | null;
  /** "correct that" said alone: nothing was inserted; open the alternatives of this utterance. */
  correctUtteranceId?: string | null;
}

export interface StartDictationParams {
  textDocument: TextDocumentIdentifier;
  position: Position;
  mode?: Mode | null;
  context?: TextContext | null;
}

export interface StartDictationResult {
  sessionId: string;
  /** What this session does (absent from servers before issue 18: `onStop`). */
  commit?: CommitMode;
}

export interface StopDictationParams {
  sessionId?: string | null;
}

export interface CancelDictationParams {
  sessionId?: string | null;
}

export interface CancelDictationResult {
  cancelled: boolean;
  sessionId?: string | null;
}

// An interface (not a type alias), so protocol.test.ts finds it beside the others.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the request has no parameters yet
export interface StatusParams {}

export interface ModelStatus {
  mode: ConcreteMode;
  name: string;
  backend: string;
  provider: string;
  ready: boolean;
  problem?: string | null;
  loadMs?: number | null;
  warmupMs?: number | null;
}

export interface EngineStatus {
  ready: boolean;
  models: ModelStatus[];
  providers: string[];
  /** The `language` setting in effect (`auto` or a code). */
  language?: string;
}

export interface ModeMetrics {
  count: number;
  p50Ms?: number | null;
  p95Ms?: number | null;
  rtfP50?: number | null;
}

export interface GpuStatus {
  name: string;
  memoryUsedMb: number;
  memoryTotalMb: number;
}

export interface InputDevice {
  index: number;
  name: string;
  default?: boolean;
  sampleRate?: number | null;
}

export interface StatusResult {
  state: State;
  engine: EngineStatus;
  metrics: Record<string, ModeMetrics>;
  gpu?: GpuStatus | null;
  rssMb?: number | null;
  inputDevices: InputDevice[];
  config: Record<string, unknown>;
  sessionId?: string | null;
}

export interface StateChangedParams {
  state: State;
  sessionId?: string | null;
  reason?: string | null;
}

export interface PartialParams {
  sessionId: string;
  /** With per-phrase commit: only the phrase still open. */
  text: string;
}

/**
 * A phrase of a per-phrase session, committed while listening goes on: saved to the history, then
 * sent. `result` is applied as a stopDictation result is, in arrival order; all of a session's
 * phrases arrive before its stopDictation answer.
 */
export interface PhraseCommittedParams {
  sessionId: string;
  uri: string;
  result: TranscribeResult;
}

export interface HistoryParams {
  limit?: number;
  /** Also list utterances that were undone (or scratched), marked `undone`. */
  includeUndone?: boolean;
}

export interface HistoryItem {
  id: string;
  text: string;
  uri: string | null;
  range: Range | null;
  mode: ConcreteMode;
  model: string;
  timings: Timings;
  createdAt: string;
  /** The utterance was undone (or scratched): its text is no longer in the document. */
  undone?: boolean;
}

export interface HistoryResult {
  items: HistoryItem[];
}

/**
 * Why the server proposes no edit of an earlier utterance (see README, "Edits of earlier utterances"):
 * `changed` (the text at its place is not what was dictated: edited, or the file changed),
 * `not-synced` (the server does not have the document now: re-send it with didOpen and ask again),
 * `gone` (its text is no longer in the document), `already-undone`.
 */
export type EditRefusal = 'changed' | 'not-synced' | 'gone' | 'already-undone';
export type UtteranceEditKind = 'undo' | 'retranscribe' | 'refine' | 'correct';

/** Fields of every answer that edits (or declines to edit) an earlier utterance. */
export interface UtteranceEditTarget {
  /** The document the edits are for: apply them to this document only. */
  uri?: string | null;
  /** The document version the edits were computed against (null: not synced); apply only at this version. */
  version?: number | null;
  /** Why nothing is proposed; null when edits are proposed (or applied by the server). */
  reason?: EditRefusal | null;
  /** One sentence for the user, with `reason`. */
  message?: string | null;
}

export interface UndoUtteranceParams {
  /** null: the last utterance of this editor (`already-undone` if it was undone; older ones only by id). */
  id?: string | null;
}

export interface UndoUtteranceResult extends UtteranceEditTarget {
  edits: TextEdit[];
  id?: string | null;
  /** The server applied the deletion itself (`applyEdits: "server"`); `edits` is then empty. */
  appliedByServer?: boolean;
}

export interface RetranscribeParams {
  id: string;
  mode?: Mode;
}

/** With a `reason`, `edits` is empty and `text` is the new text to offer instead. */
export interface RetranscribeResult extends TranscribeResult, UtteranceEditTarget {}

// -- "correct that" (issue 18) --------------------------------------------------------------------

/** Where an alternative comes from: the utterance's text now, or its audio decoded with the other mode. */
export type AlternativeSource = 'current' | 'other-mode';

export interface AlternativesParams {
  /** null: the last utterance of this editor still in its document. */
  utteranceId?: string | null;
}

export interface Alternative {
  /** Laid out for the utterance's place, as it would replace it. */
  text: string;
  source: AlternativeSource;
  mode: ConcreteMode;
  model: string;
}

export interface AlternativesResult {
  /** null when there is no utterance to correct (`message` says why). */
  utteranceId?: string | null;
  /** The text the utterance has now. */
  text?: string;
  /** `current` first, then the other mode's text when it differs. */
  alternatives?: Alternative[];
  uri?: string | null;
  /** One sentence when something could not be offered (no audio kept, no utterance). */
  message?: string | null;
}

export interface CorrectUtteranceParams {
  utteranceId: string;
  /** The chosen text, put in place as it is. */
  text: string;
}

export interface InsertUtteranceParams {
  utteranceId: string;
  textDocument: TextDocumentIdentifier;
  position: Position;
  context?: TextContext | null;
}

/** Sent by a client that applied (or could not apply) an edit of an earlier utterance itself. */
export interface UtteranceEditAppliedParams {
  utteranceId: string;
  kind: UtteranceEditKind;
  applied: boolean;
  failureReason?: string | null;
}

export interface UtteranceEditAppliedResult {
  item?: HistoryItem | null;
}

/** With a `reason`, `edit` is null and `text` is offered instead. */
export interface RefinedParams {
  utteranceId: string;
  uri: string;
  edit: TextEdit | null;
  text: string;
  version?: number | null;
  reason?: EditRefusal | null;
  message?: string | null;
}

// -- models from the editor (issue 14) -------------------------------------------------------------

// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- the request has no parameters
export interface ModelsParams {}

/** A catalogue entry or an installed model, as `swictation/models` lists it. */
export interface ModelInfo {
  name: string;
  title: string;
  /** The modes the catalogue meant it for; empty for an imported or unknown model. */
  roles: ConcreteMode[];
  installed: boolean;
  /** Its folder when installed. */
  path: string | null;
  /** Exact download size in bytes when published, else null (see `approxSize`). */
  size: number | null;
  /** An estimate such as "~460 MB" when no exact size is published. */
  approxSize: string | null;
  /** A sentence when it is installed but broken or incomplete. */
  problem: string | null;
  inCatalogue: boolean;
  /** The modes the loaded engine serves with it now. */
  serving: ConcreteMode[];
}

/** The model a mode is configured to use, and whether it can. */
export interface ModeModel {
  mode: ConcreteMode;
  /** The configured name or folder. */
  model: string;
  installed: boolean;
  /** "not installed" or why it is broken; null when it is fine. */
  problem: string | null;
}

export interface ModelsResult {
  modelsDir: string;
  models: ModelInfo[];
  modes: ModeModel[];
}

export interface DownloadModelParams {
  name: string;
  force?: boolean;
  /** LSP work-done progress: the server reports `$/progress` on it; cancel with window/workDoneProgress/cancel. */
  workDoneToken?: string | number;
}

export interface DownloadModelResult {
  name: string;
  path: string;
  /** The engine was reloaded to serve it. */
  reloaded: boolean;
  /** The modes the engine serves with it after the reload (absent from servers before issue 14's fix). */
  serving?: ConcreteMode[];
  /** Why the engine does not serve it (failed its check clip, the reload failed); null when it serves. */
  problem?: string | null;
}

export interface RemoveModelParams {
  name: string;
}

export interface RemoveModelResult {
  name: string;
  removed: boolean;
}

/** Request method -> [params, result] types, for the typed `request` helper. */
export interface RequestMap {
  [TRANSCRIBE]: [TranscribeParams, TranscribeResult];
  [START_DICTATION]: [StartDictationParams, StartDictationResult];
  [STOP_DICTATION]: [StopDictationParams, TranscribeResult];
  [CANCEL_DICTATION]: [CancelDictationParams, CancelDictationResult];
  [STATUS]: [StatusParams, StatusResult];
  [HISTORY]: [HistoryParams, HistoryResult];
  [UNDO_UTTERANCE]: [UndoUtteranceParams, UndoUtteranceResult];
  [RETRANSCRIBE]: [RetranscribeParams, RetranscribeResult];
  [INSERT_UTTERANCE]: [InsertUtteranceParams, TranscribeResult];
  [UTTERANCE_EDIT_APPLIED]: [UtteranceEditAppliedParams, UtteranceEditAppliedResult];
  [MODELS]: [ModelsParams, ModelsResult];
  [DOWNLOAD_MODEL]: [DownloadModelParams, DownloadModelResult];
  [REMOVE_MODEL]: [RemoveModelParams, RemoveModelResult];
  [ALTERNATIVES]: [AlternativesParams, AlternativesResult];
  [CORRECT_UTTERANCE]: [CorrectUtteranceParams, RetranscribeResult];
}

export type RequestMethod = keyof RequestMap;

/** The `data` member of a swictation JSON-RPC error (swictation_rpc/errors.py `to_data`). */
export interface ErrorData {
  kind?: string;
  remedy?: string;
  [key: string]: unknown;
}

/**
 * The severity policy, in one place: what each server error means to the user, how severe it
 * is, which actions its notification offers, and whether the user's `swictation.notifications`
 * level shows it. Pure.
 *
 * Server errors are JSON-RPC errors whose `data` is `{kind, remedy, ...}`
 * (swictation_rpc/errors.py); the kinds below are the ones it declares.
 */
import type { EditRefusal, ErrorData } from './protocol';
import type { NotificationLevel } from './settings';

export type Severity = 'error' | 'warning' | 'info';

export type ActionId =
  | 'downloadModels'
  | 'openSettings'
  | 'showLogs'
  | 'stopDictation'
  | 'restartServer'
  /** Install swictation-rpc into the extension's private environment (installer.ts). */
  | 'installServer'
  /** Insert `data.text` at the cursor (new text offered instead of overwriting an edited utterance). */
  | 'insertText'
  /** Copy `data.text` to the clipboard. */
  | 'copyText'
  /** Show the document `data.uri` (an utterance edit landed in a document not on screen). */
  | 'showDocument';

export interface Action {
  id: ActionId;
  label: string;
  /** For `openSettings`: the settings query to open (e.g. `swictation.audio.inputDevice`). */
  setting?: string;
}

export interface Problem {
  kind: string;
  severity: Severity;
  /** The message and, when the server gave one, its remedy. */
  message: string;
  actions: Action[];
  /** Extra data from the server (e.g. the model name), for the actions. */
  data: ErrorData;
}

const DOWNLOAD: Action = { id: 'downloadModels', label: 'Download models' };
const SHOW_LOGS: Action = { id: 'showLogs', label: 'Show logs' };
const RESTART: Action = { id: 'restartServer', label: 'Restart server' };
const STOP: Action = { id: 'stopDictation', label: 'Stop dictation' };
const INSERT: Action = { id: 'insertText', label: 'Insert at cursor' };
const COPY: Action = { id: 'copyText', label: 'Copy' };
const SHOW_DOCUMENT: Action = { id: 'showDocument', label: 'Show the document' };
const settings = (setting = 'swictation'): Action => ({ id: 'openSettings', label: 'Open settings', setting });

interface Policy {
  severity: Severity;
  actions: Action[];
  /** Said when the server gave no remedy of its own. */
  remedy?: string;
}

/** Error kind (errors.py `KIND`) -> severity and actions. */
export const POLICY: Readonly<Record<string, Policy>> = {
  'model-not-installed': { severity: 'error', actions: [DOWNLOAD, settings('swictation.models')] },
  'model-broken': { severity: 'error', actions: [DOWNLOAD, settings('swictation.models'), SHOW_LOGS] },
  'model-download-failed': { severity: 'error', actions: [SHOW_LOGS, settings('swictation.models')] },
  'audio-unreadable': { severity: 'error', actions: [] },
  'no-input-device': { severity: 'error', actions: [settings('swictation.audio')] },
  'audio-device-error': { severity: 'error', actions: [settings('swictation.audio'), SHOW_LOGS] },
  'already-listening': { severity: 'warning', actions: [STOP] },
  'engine-loading': { severity: 'info', actions: [] },
  'server-busy': { severity: 'warning', actions: [] },
  'no-active-session': { severity: 'warning', actions: [] },
  /** The server stopped or restarted while listening: the session ended (sessionLoss.ts). */
  'session-lost': { severity: 'warning', actions: [SHOW_LOGS] },
  'utterance-not-found': { severity: 'warning', actions: [] },
  'history-write-failed': { severity: 'warning', actions: [settings('swictation.history'), SHOW_LOGS] },
  'invalid-params': { severity: 'error', actions: [SHOW_LOGS], remedy: 'The extension and the server disagree on the protocol: update both.' },
  'method-not-found': { severity: 'error', actions: [SHOW_LOGS], remedy: 'This swictation-rpc is too old for the extension: update it (pipx upgrade swictation-rpc).' },
  'parse-error': { severity: 'error', actions: [SHOW_LOGS, RESTART] },
  'invalid-request': { severity: 'error', actions: [SHOW_LOGS, RESTART] },
  'server-not-initialized': { severity: 'warning', actions: [RESTART], remedy: 'Wait for the server to start, or restart it.' },
  'server-not-running': { severity: 'error', actions: [RESTART, SHOW_LOGS] },
  internal: { severity: 'error', actions: [SHOW_LOGS, RESTART] },
  /** The user cancelled (a model download); `isCancellation` keeps it from being shown. */
  'request-cancelled': { severity: 'info', actions: [] },

  // Edits of earlier utterances (undo, retranscribe, refine) that were not made, and why: the
  // server's reasons (`utterance-<reason>`) and the extension's own checks. Each is one message;
  // nothing was changed, so none is an error, but none is silent either (default level shows them).
  'utterance-changed': { severity: 'warning', actions: [] },
  'utterance-not-synced': { severity: 'warning', actions: [] },
  'utterance-gone': { severity: 'warning', actions: [] },
  'utterance-already-undone': { severity: 'warning', actions: [] },
  /** No utterance to undo at all (none dictated yet, the history is off). */
  'utterance-none': { severity: 'warning', actions: [] },
  /** The document changed between the server's check and the edit: not applied. */
  'utterance-version-mismatch': { severity: 'warning', actions: [] },
  /** The utterance's document cannot be opened (deleted, renamed). */
  'utterance-document-unavailable': { severity: 'warning', actions: [] },
  /** VS Code refused the edit (read-only document, or it changed at the last moment). */
  'utterance-edit-failed': { severity: 'warning', actions: [SHOW_LOGS] },
  /** New text (retranscribe, refine) offered instead of overwriting an edited utterance. */
  'utterance-offer': { severity: 'warning', actions: [INSERT, COPY] },
  /** The edit landed in a document that is not on screen: said, with a way to look. */
  'utterance-edited-elsewhere': { severity: 'info', actions: [SHOW_DOCUMENT] },
  /** An edit of an utterance in the commit message box or a terminal (targets.ts): not made there. */
  'utterance-not-supported': { severity: 'warning', actions: [] },
};

/** JSON-RPC's "request cancelled" codes: the user (or a restart) cancelled; nothing to tell. */
const CANCELLED_CODES = new Set([-32800, -32802]);

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  data?: unknown;
}

/** Whether an error only says the request was cancelled or the connection went away on purpose. */
export function isCancellation(error: unknown): boolean {
  const e = error as ErrorLike | undefined;
  return typeof e?.code === 'number' && CANCELLED_CODES.has(e.code);
}

function joinSentences(message: string, remedy: string | undefined): string {
  const m = message.trim();
  const r = (remedy ?? '').trim();
  if (!r) {
    return m;
  }
  return /[.!?]$/.test(m) ? `${m} ${r}` : `${m}. ${r}`;
}

/** What a failed request (a JSON-RPC error or any exception) means to the user. */
export function problemFromError(error: unknown): Problem {
  const e = (error ?? {}) as ErrorLike;
  const data: ErrorData = typeof e.data === 'object' && e.data !== null ? (e.data as ErrorData) : {};
  const message = typeof e.message === 'string' && e.message ? e.message : String(error);
  const kind = typeof data.kind === 'string' ? data.kind : e.code === -32601 ? 'method-not-found' : 'internal';
  const policy = POLICY[kind] ?? POLICY.internal;
  const remedy = typeof data.remedy === 'string' && data.remedy ? data.remedy : policy.remedy;
  return {
    kind,
    severity: policy.severity,
    message: joinSentences(message, remedy),
    actions: policy.actions,
    data,
  };
}

/** Why an edit of an earlier utterance was not made, as one message (the server's sentence). */
export function problemFromRefusal(reason: EditRefusal | null | undefined, message: string, data: ErrorData = {}): Problem {
  const kind = reason ? `utterance-${reason}` : 'utterance-none';
  return utteranceProblem(kind, message, data);
}

/** A problem of one of the `utterance-*` kinds above. */
export function utteranceProblem(kind: string, message: string, data: ErrorData = {}): Problem {
  const policy = POLICY[kind] ?? POLICY['utterance-edit-failed'];
  return { kind, severity: policy.severity, message, actions: policy.actions, data: { kind, ...data } };
}

const RANK: Record<Severity, number> = { error: 3, warning: 2, info: 1 };
const THRESHOLD: Record<NotificationLevel, number> = { off: Infinity, onError: 3, onWarning: 2, always: 1 };

/** Whether a problem of `severity` becomes a notification at the user's level. */
export function shouldNotify(severity: Severity, level: NotificationLevel): boolean {
  return RANK[severity] >= THRESHOLD[level];
}

/** LSP `MessageType` (1 error, 2 warning, 3 info, 4 log, 5 debug) -> severity. */
export function severityOfMessageType(type: number): Severity {
  return type === 1 ? 'error' : type === 2 ? 'warning' : 'info';
}

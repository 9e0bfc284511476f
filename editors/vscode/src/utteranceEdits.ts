/**
 * Edits of earlier utterances (undo, retranscribe, refine): applied only to the document the
 * server names, only at the version it checked, and confirmed to the server either way
 * (`swictation/utteranceEditApplied`), so an utterance is marked undone or replaced only when its
 * edit really landed. A refusal — the server's `reason`, a version that moved on, a document that
 * cannot be opened — is one message and changes nothing. New text the server could not put in
 * place (the user edited the utterance) is offered instead (insert at the cursor, copy).
 *
 * Pure: the editor is reached through `EditorDocuments` (vscodeapi.ts implements it), the server
 * through `request`, so the apply/refuse logic is unit-tested in plain Node.
 */
import type { Problem } from './errors';
import { isCancellation, problemFromError, problemFromRefusal, utteranceProblem } from './errors';
import * as protocol from './protocol';
import type {
  HistoryItem,
  Mode,
  RefinedParams,
  RequestMap,
  RequestMethod,
  RetranscribeResult,
  TextEdit,
  UndoUtteranceResult,
  UtteranceEditKind,
  UtteranceEditTarget,
} from './protocol';
import type { TargetEditKind } from './targets';
import { TARGET_NAMES, targetKindOfUri, unsupportedInTarget } from './targets';

/** What the utterance edits need from the editor's documents. */
export interface EditorDocuments {
  /** Whether VS Code has the document open now (and so syncs it to the server). */
  isOpen(uri: string): boolean;
  /** The document's version, opening it in the background (no editor shown) if needed; undefined if it cannot be opened. */
  open(uri: string): Promise<number | undefined>;
  /** Apply `edits` to `uri` only, as one step (a WorkspaceEdit, never the active editor); false if VS Code refused. */
  apply(uri: string, edits: readonly TextEdit[]): Promise<boolean>;
  /** Whether an editor shows the document now. */
  isVisible(uri: string): boolean;
}

export interface UtteranceEditsDeps {
  request: <M extends RequestMethod>(method: M, params: RequestMap[M][0]) => Promise<RequestMap[M][1]>;
  documents: EditorDocuments;
  report: (problem: Problem) => void;
  log: { info(message: string): void; warn(message: string): void };
  /** Waits between asking again after a `not-synced` answer (the document's didOpen is on its way). */
  sleep?: (ms: number) => Promise<void>;
}

/** Pauses before asking again after `not-synced`: the didOpen of a document just opened may still be on its way. */
export const RESYNC_WAITS_MS = [150, 1000];

/** The proposed edits and where they go. */
export interface ProposedEdit extends UtteranceEditTarget {
  edits: readonly TextEdit[];
}

/** Why a proposed edit was not applied, decided before touching the document; undefined: apply it. */
export function refusalBeforeApply(target: ProposedEdit, versionNow: number | undefined): { failureReason: string; kind: string } | undefined {
  if (!target.uri) {
    return { failureReason: 'no-uri', kind: 'utterance-gone' };
  }
  if (versionNow === undefined) {
    return { failureReason: 'document-unavailable', kind: 'utterance-document-unavailable' };
  }
  if (target.version !== null && target.version !== undefined && target.version !== versionNow) {
    return { failureReason: `version-mismatch: checked at ${target.version}, now ${versionNow}`, kind: 'utterance-version-mismatch' };
  }
  return undefined;
}

/** `demo.py` for `file:///work/demo.py` (for messages). */
export function documentName(uri: string | null | undefined): string {
  if (!uri) {
    return 'the document';
  }
  const path = uri.replace(/[?#].*$/, '');
  const name = path.slice(path.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(name) || uri;
  } catch {
    return name || uri;
  }
}

function quote(text: string, max = 60): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return `“${oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine}”`;
}

const VERBS: Record<UtteranceEditKind, { done: string; not: string }> = {
  undo: { done: 'Removed the utterance from', not: 'removed' },
  retranscribe: { done: 'Replaced the utterance with the new transcription in', not: 'replaced' },
  refine: { done: 'Refined the utterance in', not: 'refined' },
  correct: { done: 'Corrected the utterance in', not: 'corrected' },
};

export class UtteranceEdits {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: UtteranceEditsDeps) {
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Undo the last utterance of this editor (no id) or one from the history; true if its text was removed. */
  async undo(id?: string | null): Promise<boolean> {
    let result: UndoUtteranceResult;
    try {
      result = await this.askSynced((pinned) => this.deps.request(protocol.UNDO_UTTERANCE, { id: pinned ?? id ?? null }), id ?? undefined);
    } catch (error) {
      this.fail(error);
      return false;
    }
    if (result.appliedByServer) {
      return true;
    }
    if (targetKindOfUri(result.uri) && result.reason !== 'already-undone') {
      await this.notInTarget('undo', result.id, result.edits.length > 0, result.uri);
      return false;
    }
    if (result.reason || !result.id || result.edits.length === 0) {
      this.refused(result.reason, result.message ?? 'There is nothing to undo.', result.uri);
      return false;
    }
    return this.apply('undo', result.id, result);
  }

  /** Decode a history item again; its text is replaced where it is, or offered when it cannot be. */
  async retranscribe(item: HistoryItem, mode: Mode): Promise<RetranscribeResult | undefined> {
    // The server checks the utterance in its document as synced now: have VS Code open (and so
    // sync) it first, so the decode is not done twice.
    if (item.uri && !item.undone && !this.deps.documents.isOpen(item.uri)) {
      await this.deps.documents.open(item.uri);
    }
    let result: RetranscribeResult;
    try {
      result = await this.askSynced(() => this.deps.request(protocol.RETRANSCRIBE, { id: item.id, mode }), item.id, 1);
    } catch (error) {
      this.fail(error);
      return undefined;
    }
    await this.replaced('retranscribe', result.utteranceId ?? item.id, result, item.uri);
    return result;
  }

  /** "Correct that": the chosen text replaces the utterance where it is, or is offered when it cannot. */
  async correct(utteranceId: string, text: string, uri?: string | null): Promise<RetranscribeResult | undefined> {
    if (uri && !this.deps.documents.isOpen(uri)) {
      await this.deps.documents.open(uri);
    }
    let result: RetranscribeResult;
    try {
      result = await this.askSynced(() => this.deps.request(protocol.CORRECT_UTTERANCE, { utteranceId, text }), utteranceId, 1);
    } catch (error) {
      this.fail(error);
      return undefined;
    }
    await this.replaced('correct', result.utteranceId ?? utteranceId, result, uri);
    return result;
  }

  /** A replacement the server proposed (retranscribe, correct): applied, offered, or nothing to do. */
  private async replaced(kind: UtteranceEditKind, id: string, result: RetranscribeResult, uri: string | null | undefined): Promise<void> {
    if (result.appliedByServer) {
      return;
    }
    if (targetKindOfUri(result.uri ?? uri)) {
      await this.notInTarget(kind, id, result.edits.length > 0, result.uri ?? uri, result.text);
      return;
    }
    if (result.reason) {
      this.offer(result.reason, result.message, result.text, result.uri ?? uri);
    } else if (result.edits.length) {
      await this.apply(kind, id, result);
    } else {
      this.deps.log.info(`${kind} of ${id}: ${result.text ? 'the same text' : 'no text'}; nothing to change`);
    }
  }

  /** Two-pass refine: the accurate text replaces the fast one where the server found it unchanged. */
  async refined(params: RefinedParams): Promise<boolean> {
    const inTarget = targetKindOfUri(params.uri);
    if (inTarget) {
      // Refine is automatic: the text typed or appended there stays, and the log says why.
      this.deps.log.info(`Refine of ${params.utteranceId} skipped: ${unsupportedInTarget(inTarget, 'refine')}`);
      if (params.edit) {
        await this.confirm(params.utteranceId, 'refine', false, `not supported in ${TARGET_NAMES[inTarget]}`);
      }
      return false;
    }
    if (params.reason || !params.edit) {
      this.offer(params.reason ?? 'changed', params.message, params.text, params.uri);
      return false;
    }
    return this.apply('refine', params.utteranceId, { uri: params.uri, version: params.version, edits: [params.edit] });
  }

  // -- internals ---------------------------------------------------------------------------------

  /**
   * Ask; when the server answers `not-synced` for a document VS Code can open, open it in the
   * background (VS Code then syncs it) and ask again for the same utterance, a few times.
   */
  private async askSynced<T extends UtteranceEditTarget & { id?: string | null; utteranceId?: string | null }>(
    ask: (id?: string) => Promise<T>,
    id: string | undefined,
    tries = RESYNC_WAITS_MS.length,
  ): Promise<T> {
    let result = await ask();
    // The commit message box and terminals are never documents: nothing to open and sync.
    for (let attempt = 0; attempt < tries && result.reason === 'not-synced' && result.uri && !targetKindOfUri(result.uri); attempt++) {
      const uri = result.uri;
      if (!this.deps.documents.isOpen(uri) && (await this.deps.documents.open(uri)) === undefined) {
        break; // it cannot be opened: the server's sentence says what to do
      }
      await this.sleep(RESYNC_WAITS_MS[Math.min(attempt, RESYNC_WAITS_MS.length - 1)]);
      this.deps.log.info(`${documentName(uri)} was not synced with the server; opened it, asking again`);
      result = await ask(id ?? result.id ?? result.utteranceId ?? undefined);
    }
    return result;
  }

  /**
   * An edit of an utterance that went into the commit message box or a terminal: one message that
   * it cannot be made there (with new text offered to copy), and the server told when it proposed one.
   */
  private async notInTarget(kind: TargetEditKind, id: string | null | undefined, proposed: boolean, uri: string | null | undefined, text?: string): Promise<void> {
    const target = targetKindOfUri(uri);
    if (!target) {
      return;
    }
    const message = unsupportedInTarget(target, kind);
    if (text && kind !== 'undo') {
      this.deps.report(utteranceProblem('utterance-offer', `${message} New text: ${quote(text)}`, { reason: 'not-supported', text, uri: uri ?? undefined }));
    } else {
      this.deps.report(utteranceProblem('utterance-not-supported', message, { uri: uri ?? undefined }));
    }
    if (id && proposed && kind !== 'scratch') {
      await this.confirm(id, kind, false, `not supported in ${TARGET_NAMES[target]}`);
    }
  }

  /** Apply the proposed edits to their document at their version, then tell the server whether they landed. */
  private async apply(kind: UtteranceEditKind, utteranceId: string, target: ProposedEdit): Promise<boolean> {
    const { documents } = this.deps;
    const versionNow = target.uri ? await documents.open(target.uri) : undefined;
    const refusal = refusalBeforeApply(target, versionNow);
    let applied = false;
    let failureReason: string | undefined;
    const name = documentName(target.uri);
    if (refusal) {
      failureReason = refusal.failureReason;
      const message =
        refusal.kind === 'utterance-version-mismatch'
          ? `${name} changed while Swictation was checking the utterance, so it was not ${VERBS[kind].not}; try again.`
          : refusal.kind === 'utterance-document-unavailable'
            ? `Swictation cannot open ${name} (it was moved or deleted), so the utterance was not ${VERBS[kind].not}.`
            : `Swictation does not know which document the utterance is in, so it was not ${VERBS[kind].not}.`;
      this.deps.report(utteranceProblem(refusal.kind, message, { uri: target.uri ?? undefined }));
    } else {
      const uri = target.uri as string;
      try {
        applied = await documents.apply(uri, target.edits);
      } catch (error) {
        this.deps.log.warn(`Applying the ${kind} of ${utteranceId} failed: ${(error as Error).message}`);
      }
      if (!applied) {
        failureReason = 'the editor refused the edit (read-only, or the document changed at that moment)';
        this.deps.report(
          utteranceProblem('utterance-edit-failed', `VS Code did not apply the edit to ${name} (read-only, or it changed just then), so the utterance was not ${VERBS[kind].not}.`, { uri }),
        );
      } else if (!documents.isVisible(uri)) {
        this.deps.report(utteranceProblem('utterance-edited-elsewhere', `${VERBS[kind].done} ${name}.`, { uri }));
      }
    }
    await this.confirm(utteranceId, kind, applied, failureReason);
    return applied;
  }

  /** Tell the server whether an edit it proposed for an earlier utterance is in the document. */
  async confirm(utteranceId: string, kind: UtteranceEditKind, applied: boolean, failureReason: string | undefined): Promise<void> {
    try {
      await this.deps.request(protocol.UTTERANCE_EDIT_APPLIED, { utteranceId, kind, applied, failureReason: failureReason ?? null });
    } catch (error) {
      // The server also sees the edit arrive through document sync; nothing for the user here.
      this.deps.log.warn(`swictation/utteranceEditApplied for ${utteranceId}: ${(error as Error).message}`);
    }
  }

  private refused(reason: UtteranceEditTarget['reason'], message: string, uri: string | null | undefined): void {
    this.deps.report(problemFromRefusal(reason, message, { uri: uri ?? undefined }));
  }

  /** New text the server would not put in place: the reason, and the text to insert or copy. */
  private offer(reason: NonNullable<UtteranceEditTarget['reason']>, message: string | null | undefined, text: string, uri: string | null | undefined): void {
    const why = message ?? `The utterance in ${documentName(uri)} was not replaced.`;
    if (!text) {
      this.refused(reason, why, uri);
      return;
    }
    this.deps.report(utteranceProblem('utterance-offer', `${why} New text: ${quote(text)}`, { reason, text, uri: uri ?? undefined }));
  }

  private fail(error: unknown): void {
    if (!isCancellation(error)) {
      this.deps.report(problemFromError(error));
    }
  }
}

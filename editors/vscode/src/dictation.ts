/**
 * Dictation in the editor: where an utterance begins, what the server is asked, and how its text
 * lands — through the editor API, one undo step per utterance, at the primary cursor, replacing
 * the selection, where the utterance began even if the user moved on meanwhile (PositionTracker).
 * Interim text shows as ghost text until the final text replaces it.
 *
 * Per-phrase commit (`dictation.commit: "perPhrase"`): each phrase the server commits while
 * listening (`swictation/phraseCommitted`) lands through the same path as a stop result, in
 * arrival order, each after the one before; ghost text then shows only the phrase still open, and
 * the stop result (the tail) goes after the last phrase. Dictation can also go into the commit
 * message box or the terminal (targets.ts), where the text is appended or typed.
 */
import type { SwictationClient } from './client';
import { buildContext } from './context';
import { correctThat } from './corrections';
import { serverLostSession, serverStoppedProblem } from './sessionLoss';
import type { Problem } from './errors';
import { isCancellation, problemFromError, utteranceProblem } from './errors';
import { PositionTracker, caretAfter, comparePositions, placeDictatedEdits, relocateInsertions } from './positionTracker';
import * as protocol from './protocol';
import type { CommitMode, HistoryItem, Mode, PartialParams, PhraseCommittedParams, Position, Range, StateChangedParams, TranscribeResult } from './protocol';
import type { ClientSettings } from './settings';
import type { StatusStore } from './status';
import type { TargetKind } from './targets';
import { TARGET_NAMES, endPosition, targetContext, targetText, targetUri, terminalLine, unsupportedInTarget } from './targets';
import { UtteranceEdits, documentName } from './utteranceEdits';
import * as api from './vscodeapi';

/** Somewhere text goes that is not a document: the commit message box, a terminal. */
interface InsertTarget {
  kind: TargetKind;
  /** The text before the next utterance (the box's value; the terminal's line so far). */
  before(): string;
  /** Append (box) or type (terminal) the text; false if it could not be. */
  insert(text: string): Promise<boolean>;
}

/** One utterance on its way: where it began and everything that happened to the document since. */
interface Utterance {
  uri: string;
  /** The primary selection when it began (empty: the cursor). */
  anchor: Range;
  tracker: PositionTracker;
  /** Set when the text goes to the commit message box or a terminal instead of a document. */
  target?: InsertTarget;
}

interface Session {
  /** Where the session's next text goes: where it began, then after each committed phrase. */
  utterance: Utterance;
  /** Undefined until startDictation answered. */
  id?: string;
  partial: string;
  stopping: boolean;
  /** What startDictation said this session does (`onStop` from servers that do not say). */
  commit: CommitMode;
  /** The committed phrases landing, one after the other in arrival order. */
  phrases: Promise<void>;
  /** How many phrases the server committed (per-phrase): in the document and the history. */
  committed: number;
  /** The server stopped under it: ended here and told once; its stop's failure is not news. */
  lost?: boolean;
}

/** Where a text went in: the end of what was inserted, and the document's version just after. */
interface Landed {
  end: Position;
  version?: number;
}

export interface DictationDeps {
  client: SwictationClient;
  status: StatusStore;
  settings: () => ClientSettings;
  report: (problem: Problem) => void;
  log: api.LogOutputChannel;
  /** Text went in (a stop result, a phrase): announce it (`swictation.signals.announce`). */
  announce?: (inserted: string, where: string) => void;
}

export class Dictation implements api.Disposable {
  private session: Session | undefined;
  /** Sessions whose text may still arrive: listening, stopping, or cancelled but not yet answered. */
  private readonly open = new Set<Session>();
  /** What was typed into each terminal since its last line break (the context of the next utterance). */
  private readonly terminalLines = new Map<string, string>();
  /** Utterances whose audio is with the server (file transcriptions, a stopping session). */
  private readonly inFlight = new Set<Utterance>();
  /** Undo, retranscribe and refine: edits of earlier utterances, only where and as the server checked them. */
  private readonly edits: UtteranceEdits;
  private readonly ghost: api.TextEditorDecorationType;
  private ghostEditor: api.TextEditor | undefined;
  private readonly disposables: api.Disposable[] = [];

  constructor(private readonly deps: DictationDeps) {
    this.ghost = api.ghostTextDecoration();
    this.edits = new UtteranceEdits({
      request: (method, params) => deps.client.request(method, params),
      documents: api.editorDocuments,
      report: deps.report,
      log: deps.log,
    });
    this.disposables.push(
      this.ghost,
      api.onDidChangeTextDocument((e) => this.documentChanged(e)),
      api.onDidCloseTextDocument((d) => this.documentClosed(d.uri.toString())),
      deps.client.onPartial((p) => this.partial(p)),
      deps.client.onStateChanged((p) => this.stateChanged(p)),
      deps.client.onRefined((p) => void this.edits.refined(p)),
      deps.client.onPhraseCommitted((p) => this.phraseCommitted(p)),
      deps.client.onStopped(() => this.serverStopped()),
    );
  }

  get isListening(): boolean {
    return this.session !== undefined;
  }

  // -- commands ----------------------------------------------------------------------------------

  /** Transcribe an audio file into the active editor; `file` is a path or URI (else a file picker). */
  async transcribeFile(file?: unknown): Promise<TranscribeResult | undefined> {
    const editor = this.requireEditor();
    if (!editor) {
      return undefined;
    }
    const filePath = await this.audioPath(file);
    if (!filePath) {
      return undefined;
    }
    const utterance = this.begin(editor);
    this.track(utterance);
    const sent = Date.now();
    try {
      const result = await this.deps.client.request(protocol.TRANSCRIBE, {
        textDocument: { uri: utterance.uri },
        position: utterance.anchor.start,
        audio: { path: filePath },
        context: this.context(editor, utterance.anchor),
      });
      await this.land(utterance, result, sent);
      return result;
    } catch (error) {
      this.fail(error);
      return undefined;
    } finally {
      this.untrack(utterance);
    }
  }

  /**
   * Start listening; the text goes to the cursor of the active editor, or (`where`) to the
   * commit message box or the active terminal.
   */
  async start(mode?: Mode, where?: TargetKind): Promise<void> {
    if (this.session) {
      this.deps.report({ kind: 'already-listening', severity: 'info', message: 'Swictation is already listening.', actions: [], data: {} });
      return;
    }
    let utterance: Utterance;
    let context: protocol.TextContext;
    if (where) {
      const target = await this.target(where);
      if (!target || this.session) {
        return;
      }
      utterance = target.utterance;
      context = target.context;
    } else {
      const editor = this.requireEditor();
      if (!editor) {
        return;
      }
      utterance = this.begin(editor);
      context = this.context(editor, utterance.anchor);
    }
    const session: Session = { utterance, partial: '', stopping: false, commit: 'onStop', phrases: Promise.resolve(), committed: 0 };
    this.session = session;
    this.open.add(session);
    void api.setContext('swictation.listening', true);
    try {
      const result = await this.deps.client.request(protocol.START_DICTATION, {
        textDocument: { uri: utterance.uri },
        position: utterance.anchor.start,
        mode: mode ?? null,
        context,
      });
      session.id = result.sessionId;
      session.commit = result.commit ?? session.commit;
      if (session.lost) {
        return; // the server stopped as it answered: ended and told already
      }
      this.deps.status.update({ state: 'listening' });
      const into = utterance.target ? ` into ${TARGET_NAMES[utterance.target.kind]}` : '';
      this.deps.log.info(`Dictation session ${result.sessionId} listening${into} (commit ${session.commit})`);
    } catch (error) {
      if (this.session === session) {
        this.endSession();
      }
      this.open.delete(session);
      if (!session.lost) {
        this.fail(error);
      }
    }
  }

  async stop(): Promise<TranscribeResult | undefined> {
    const session = this.session;
    if (!session) {
      this.deps.report({ kind: 'no-active-session', severity: 'warning', message: 'Swictation is not listening.', actions: [], data: {} });
      return undefined;
    }
    return this.finishSession(session);
  }

  /** Stop when listening (wherever the text goes), else start; `where`: the commit message box or the terminal. */
  async toggle(where?: TargetKind): Promise<void> {
    if (this.session) {
      await this.stop();
    } else {
      await this.start(undefined, where);
    }
  }

  /** Drop what is still open; phrases already committed (per-phrase commit) stay where they went. */
  async cancel(): Promise<void> {
    const session = this.session;
    this.endSession();
    if (!session) {
      return;
    }
    try {
      await this.deps.client.request(protocol.CANCEL_DICTATION, { sessionId: session.id ?? null });
    } catch (error) {
      // Cancelling what the server no longer has: it is gone either way.
      if (!serverLostSession(error)) {
        this.fail(error);
      }
    } finally {
      // Phrases the server committed before the cancel reached it are sent before its answer.
      await session.phrases;
      this.open.delete(session);
    }
  }

  /**
   * Remove the last utterance (or `id`) from the document the server names, if its text is still
   * exactly there; otherwise one message says why (after a reload too: the server's history knows
   * the utterance and its document).
   */
  async undoUtterance(id?: string): Promise<void> {
    await this.edits.undo(id);
  }

  /** "Correct that": the alternatives of the last utterance (or `id`) in a quick pick; the choice replaces it. */
  async correctThat(id?: string | null): Promise<void> {
    await correctThat(
      {
        request: (method, params) => this.deps.client.request(method, params),
        pick: async (items, title) => api.showQuickPick(items, { title, placeHolder: 'Choose the text the utterance should have', matchOnDescription: true }),
        correct: (utteranceId, text, uri) => this.edits.correct(utteranceId, text, uri),
        report: this.deps.report,
        log: this.deps.log,
      },
      id,
    );
  }

  /** Offered text (an utterance that could not be replaced): put it at the cursor. */
  async insertText(text: string): Promise<void> {
    if (!this.requireEditor()) {
      return;
    }
    if (!(await api.insertAtCursor(text))) {
      this.deps.report({ kind: 'edit-failed', severity: 'error', message: `The text could not be inserted: “${text}”.`, actions: [], data: {} });
    }
  }

  /** Pick an utterance from the history (undone ones too, marked), then insert, re-transcribe or undo it. */
  async showHistory(): Promise<void> {
    let items: HistoryItem[];
    try {
      items = (await this.deps.client.request(protocol.HISTORY, { limit: 50, includeUndone: true })).items;
    } catch (error) {
      this.fail(error);
      return;
    }
    if (items.length === 0) {
      this.deps.report({ kind: 'history-empty', severity: 'warning', message: 'The transcript history is empty.', actions: [], data: {} });
      return;
    }
    const picked = await api.showQuickPick(
      items.map((item) => ({
        label: `${item.undone ? '$(discard) ' : ''}${item.text || '(no speech)'}`,
        description: `${item.undone ? 'undone · ' : ''}${item.mode} · ${Math.round(item.timings.totalMs)} ms`,
        detail: `${new Date(item.createdAt).toLocaleString()} · ${item.model}${item.uri ? ` · ${item.uri}` : ''}`,
        item,
      })),
      { title: 'Swictation: Transcript History', placeHolder: 'Pick an utterance', matchOnDescription: true, matchOnDetail: true },
    );
    if (!picked) {
      return;
    }
    const item = picked.item;
    const actions = [
      { label: 'Insert at cursor', description: 'as a new utterance, formatted for the cursor', id: 'insert' },
      { label: 'Transcribe again (accurate)', description: item.undone ? 'the new text is offered' : 'replaces it if unchanged', id: 'retranscribe' },
      ...(item.undone ? [] : [{ label: 'Remove from the document', description: 'only if its text is unchanged', id: 'undo' }]),
    ];
    const action = await api.showQuickPick(actions, { title: item.text, placeHolder: 'What to do with this utterance' });
    if (action?.id === 'insert') {
      await this.insertFromHistory(item);
    } else if (action?.id === 'retranscribe') {
      const result = await this.edits.retranscribe(item, 'accurate');
      if (result) {
        this.showLatency(result, undefined);
      }
    } else if (action?.id === 'undo') {
      await this.undoUtterance(item.id);
    }
  }

  /** A history item inserted again at the cursor: formatted there by the server, an utterance of its own. */
  private async insertFromHistory(item: HistoryItem): Promise<void> {
    const editor = this.requireEditor();
    if (!editor) {
      return;
    }
    const utterance = this.begin(editor);
    this.track(utterance);
    try {
      const result = await this.deps.client.request(protocol.INSERT_UTTERANCE, {
        utteranceId: item.id,
        textDocument: { uri: utterance.uri },
        position: utterance.anchor.start,
        context: this.context(editor, utterance.anchor),
      });
      await this.land(utterance, result);
    } catch (error) {
      this.fail(error);
    } finally {
      this.untrack(utterance);
    }
  }

  // -- server notifications ----------------------------------------------------------------------

  private partial(params: PartialParams): void {
    const session = this.session;
    if (!session || (session.id !== undefined && session.id !== params.sessionId) || session.stopping) {
      return;
    }
    session.partial = params.text;
    this.renderGhost();
  }

  /**
   * A phrase of a per-phrase session: it lands like a stop result (same checks, same tracking,
   * same undo step per utterance), after the phrases before it, in arrival order.
   */
  private phraseCommitted(params: PhraseCommittedParams): void {
    const sessions = [...this.open];
    const session = sessions.find((s) => s.id === params.sessionId) ?? sessions.find((s) => s.id === undefined);
    if (!session) {
      this.deps.log.warn(`A phrase of dictation session ${params.sessionId} arrived, but this window does not follow that session`);
      this.deps.report({
        kind: 'phrase-unplaced',
        severity: 'warning',
        message: `A dictated phrase arrived after its dictation ended here, so it was not inserted: “${params.result.text}”. It is in the transcript history.`,
        actions: [],
        data: { text: params.result.text },
      });
      return;
    }
    session.commit = 'perPhrase';
    session.committed++;
    this.deps.log.info(`Dictation session ${params.sessionId}: phrase ${params.result.utteranceId ?? ''} committed (${params.result.text.length} characters)`);
    session.phrases = session.phrases.then(() => this.landPhrase(session, params.result)).catch((error: unknown) => {
      this.deps.log.error(`A phrase of dictation session ${params.sessionId} could not be inserted: ${(error as Error).message}`);
    });
  }

  private async landPhrase(session: Session, result: TranscribeResult): Promise<void> {
    if (this.session === session) {
      // The phrase is in now: the ghost text is only for what is still open.
      session.partial = '';
    }
    const utterance = session.utterance;
    try {
      const landed = await this.insert(utterance, relocateInsertions(result, utterance.anchor.start));
      if (landed) {
        session.utterance = this.after(utterance, landed);
      }
    } finally {
      this.renderGhost();
      this.showLatency(result, undefined);
    }
  }

  /** Where the text after a landed one goes: right after it, changes from then on tracked. */
  private after(utterance: Utterance, landed: Landed): Utterance {
    if (utterance.target) {
      return utterance; // appended or typed: the next text goes after it anyway
    }
    const at = { start: landed.end, end: landed.end };
    return { uri: utterance.uri, anchor: at, tracker: new PositionTracker(utterance.uri, landed.version) };
  }

  /**
   * The server stopped (crashed, was killed, restarted): its session is gone with it. End the local
   * one (no ghost text, not listening, so the next toggle starts anew) and say once what became of
   * the text: the phrases already inserted stay, what was still open is lost.
   */
  private serverStopped(): void {
    const session = this.session;
    if (!session || session.lost) {
      return;
    }
    session.lost = true;
    this.endSession();
    this.untrack(session.utterance);
    const where = session.utterance.target ? TARGET_NAMES[session.utterance.target.kind] : documentName(session.utterance.uri);
    this.deps.log.warn(`The server stopped during dictation session ${session.id ?? '(starting)'}: ended here (${session.committed} phrases inserted)`);
    this.deps.report(serverStoppedProblem({ commit: session.commit, phrases: session.committed, where }));
    // Phrases already queued still land; a later one cannot come (the server is gone).
    void session.phrases.then(() => {
      if (!session.stopping) {
        this.open.delete(session);
      }
    });
  }

  private stateChanged(params: StateChangedParams): void {
    const session = this.session;
    if (session && params.reason === 'auto-stop' && !session.stopping) {
      // The server stopped on silence (or the length limit) and keeps the text for us.
      this.deps.log.info(`Dictation session ${session.id} stopped on its own`);
      void this.finishSession(session, true);
    } else if (session && params.state === 'error' && !session.stopping && (!params.sessionId || params.sessionId === session.id)) {
      // The microphone failed mid-session: say why, and keep what was heard before it did.
      this.deps.report({
        ...problemFromError({ message: `Dictation stopped: ${params.reason ?? 'the audio input failed'}`, data: { kind: 'audio-device-error' } }),
      });
      void this.finishSession(session);
    }
  }

  // -- internals ---------------------------------------------------------------------------------

  private requireEditor(): api.TextEditor | undefined {
    const editor = api.activeTextEditor();
    if (!editor) {
      this.deps.report({
        kind: 'no-editor',
        severity: 'warning',
        message: 'Open a file and put the cursor where the text should go, then dictate.',
        actions: [],
        data: {},
      });
    }
    return editor;
  }

  /** The commit message box or the active terminal as where the text goes, or why it cannot. */
  private async target(kind: TargetKind): Promise<{ utterance: Utterance; context: protocol.TextContext } | undefined> {
    let target: InsertTarget;
    let uri: string;
    if (kind === 'commitMessage') {
      const found = await api.commitMessageBox();
      if (typeof found === 'string') {
        this.deps.report({ kind: 'no-commit-message-box', severity: 'warning', message: found, actions: [], data: {} });
        return undefined;
      }
      uri = targetUri(kind, found.root);
      target = {
        kind,
        before: () => found.box.value,
        insert: (text) => {
          found.box.value = found.box.value + text;
          return Promise.resolve(true);
        },
      };
    } else {
      const terminal = await api.activeTerminal();
      if (!terminal) {
        this.deps.report({ kind: 'no-terminal', severity: 'warning', message: 'Open a terminal (Terminal: Create New Terminal), then dictate into it.', actions: [], data: {} });
        return undefined;
      }
      uri = targetUri(kind, terminal.id);
      const lineUri = uri;
      target = {
        kind,
        before: () => this.terminalLines.get(lineUri) ?? '',
        insert: (text) => {
          // Not executed: only a spoken "press enter" / "run that" (a line break in the text) runs it.
          terminal.sendText(text);
          this.terminalLines.set(lineUri, terminalLine(this.terminalLines.get(lineUri) ?? '', text));
          return Promise.resolve(true);
        },
      };
    }
    const settings = this.deps.settings();
    const before = target.before();
    const at = endPosition(before);
    return {
      utterance: { uri, anchor: { start: at, end: at }, tracker: new PositionTracker(uri), target },
      context: targetContext(kind, before, { maxChars: settings.contextMaxChars, maxIdentifiers: settings.contextMaxIdentifiers }),
    };
  }

  private async audioPath(file: unknown): Promise<string | undefined> {
    if (typeof file === 'string' && file) {
      return file.startsWith('file:') ? new URL(file).pathname : file;
    }
    const maybeUri = file as { fsPath?: unknown } | undefined;
    if (maybeUri && typeof maybeUri.fsPath === 'string') {
      return maybeUri.fsPath;
    }
    return api.showOpenAudioDialog();
  }

  private begin(editor: api.TextEditor): Utterance {
    const selection = editor.selection; // the primary one
    const uri = editor.document.uri.toString();
    return { uri, anchor: api.fromVsRange(selection), tracker: new PositionTracker(uri) };
  }

  private context(editor: api.TextEditor, anchor: Range) {
    const settings = this.deps.settings();
    const document = editor.document;
    return buildContext(
      document.getText(),
      document.offsetAt(api.toVsPosition(anchor.start)),
      document.languageId,
      { maxChars: settings.contextMaxChars, maxIdentifiers: settings.contextMaxIdentifiers },
      document.offsetAt(api.toVsPosition(anchor.end)),
    );
  }

  /** Stop the session and land its text; `quietIfGone`: the server may have ended it already. */
  private async finishSession(session: Session, quietIfGone = false): Promise<TranscribeResult | undefined> {
    if (session.stopping) {
      return undefined;
    }
    session.stopping = true;
    let pending = session.utterance;
    this.track(pending);
    const stopped = Date.now();
    try {
      const result = await this.deps.client.request(protocol.STOP_DICTATION, { sessionId: session.id ?? null });
      this.deps.log.info(`Dictation session ${session.id ?? ''} stopped (${session.commit}): ${session.commit === 'perPhrase' ? 'a tail of ' : ''}${result.text.length} characters`);
      // Every phrase of the session was sent before this answer: they go in first.
      await session.phrases;
      if (this.session === session) {
        this.endSession();
      }
      // The tail goes after the last phrase (with onStop: where the session began).
      const utterance = session.utterance;
      if (utterance !== pending) {
        this.inFlight.delete(pending);
        pending = utterance;
        this.inFlight.add(pending);
      }
      await this.land(utterance, session.commit === 'perPhrase' ? relocateInsertions(result, utterance.anchor.start) : result, stopped);
      return result;
    } catch (error) {
      // Whatever failed, the session is over here: a stop answered "no active session" (the
      // server lost it) must not leave it listening, nor may any other failure.
      if (this.session === session) {
        this.endSession();
      }
      if (session.lost) {
        // The server stopped under it, and the user was told so.
      } else if (quietIfGone && serverLostSession(error)) {
        this.deps.log.info(`Dictation session ${session.id ?? ''} had already ended on the server`);
      } else {
        this.fail(error);
      }
      return undefined;
    } finally {
      this.untrack(pending);
      this.open.delete(session);
    }
  }

  /** The utterance's audio is with the server: track its document, show it as pending. */
  private track(utterance: Utterance): void {
    this.inFlight.add(utterance);
    this.deps.status.update({ pending: this.inFlight.size });
  }

  private untrack(utterance: Utterance): void {
    if (this.inFlight.delete(utterance)) {
      this.deps.status.update({ pending: this.inFlight.size });
    }
  }

  private endSession(): void {
    this.session = undefined;
    this.clearGhost();
    void api.setContext('swictation.listening', false);
  }

  /** Put the result's text where the utterance began. */
  /**
   * Insert and show the latency the user felt: from the moment the audio was complete (`since`:
   * the request, or the stop) until the text was in the document.
   */
  private async land(utterance: Utterance, result: TranscribeResult, since?: number): Promise<void> {
    try {
      await this.insert(utterance, result);
    } finally {
      // The status says idle (with the latency) only once the text is in.
      this.inFlight.delete(utterance);
      this.showLatency(result, since === undefined ? undefined : Date.now() - since);
    }
  }

  /** Put a result's text where `utterance` says; where it ended, or undefined when nothing went in. */
  private async insert(utterance: Utterance, result: TranscribeResult): Promise<Landed | undefined> {
    if (result.correctUtteranceId) {
      void this.correctThat(result.correctUtteranceId); // a spoken "correct that": nothing to insert
      return undefined;
    }
    if (utterance.target) {
      return this.insertIntoTarget(utterance, utterance.target, result);
    }
    if (result.appliedByServer || !result.edits.length) {
      return undefined; // the server applied it itself (applyEdits: "server"), or nothing was said
    }
    if (utterance.tracker.isClosed) {
      this.deps.report({
        kind: 'document-closed',
        severity: 'warning',
        message: `The document was closed before the text arrived: “${result.text}”. It is in the transcript history.`,
        actions: [],
        data: {},
      });
      return undefined;
    }
    const version = api.findDocument(utterance.uri)?.version;
    const { edits, scratch } = placeDictatedEdits(result, utterance.anchor, utterance.tracker, version);
    const scratched = result.scratchedUtteranceId;
    if (scratched && scratch === 'dropped') {
      const name = documentName(utterance.uri);
      this.deps.report(utteranceProblem('utterance-version-mismatch', `${name} changed while Swictation was checking, so “scratch that” left the earlier utterance as it is.`, { uri: utterance.uri }));
      await this.edits.confirm(scratched, 'undo', false, 'the document changed after the server checked the deletion');
    }
    if (!edits.length) {
      return undefined;
    }
    const editor = api.visibleEditorFor(utterance.uri);
    // Follow with the caret only if the user left it where the utterance began.
    const mappedAnchor = utterance.tracker.mapRange(utterance.anchor);
    const caretUntouched =
      editor !== undefined &&
      comparePositions(api.fromVsPosition(editor.selection.start), mappedAnchor.start) === 0 &&
      comparePositions(api.fromVsPosition(editor.selection.end), mappedAnchor.end) === 0;
    const ok = await api.applyEdits(utterance.uri, edits, caretAfter(edits), caretUntouched);
    if (scratched && scratch === 'kept') {
      await this.edits.confirm(scratched, 'undo', ok, ok ? undefined : 'the editor refused the edit');
    }
    if (!ok) {
      this.deps.report({
        kind: 'edit-failed',
        severity: 'error',
        message: `The text could not be inserted (the document may be read-only): “${result.text}”.`,
        actions: [],
        data: {},
      });
      return undefined;
    }
    const inserted = edits.map((e) => e.newText).join('');
    if (inserted.trim()) {
      this.deps.announce?.(inserted, documentName(utterance.uri));
    }
    return { end: caretAfter(edits) ?? mappedAnchor.end, version: api.findDocument(utterance.uri)?.version };
  }

  /** The commit message box or a terminal: the server's text appended or typed; earlier utterances cannot be edited there. */
  private async insertIntoTarget(utterance: Utterance, target: InsertTarget, result: TranscribeResult): Promise<Landed | undefined> {
    const { text } = targetText(result);
    const scratched = result.scratchedUtteranceId;
    if (scratched) {
      this.deps.report({ kind: 'utterance-not-supported', severity: 'warning', message: unsupportedInTarget(target.kind, 'scratch'), actions: [], data: {} });
      await this.edits.confirm(scratched, 'undo', false, `not supported in ${TARGET_NAMES[target.kind]}`);
    }
    if (!text) {
      return undefined;
    }
    let ok = false;
    try {
      ok = await target.insert(text);
    } catch (error) {
      this.deps.log.warn(`Inserting into ${TARGET_NAMES[target.kind]} failed: ${(error as Error).message}`);
    }
    if (!ok) {
      this.deps.report({ kind: 'edit-failed', severity: 'error', message: `The text could not be put into ${TARGET_NAMES[target.kind]}: “${text}”.`, actions: [], data: {} });
      return undefined;
    }
    if (text.trim()) {
      this.deps.announce?.(text, TARGET_NAMES[target.kind]);
    }
    return { end: utterance.anchor.start };
  }

  private showLatency(result: TranscribeResult, elapsedMs: number | undefined): void {
    this.deps.status.update({
      lastLatencyMs: elapsedMs ?? this.deps.status.model.lastLatencyMs,
      lastDecodeMs: result.timings.decodeMs,
      lastMode: result.mode,
      lastModel: result.model,
      lastLanguage: result.language ?? undefined,
      pending: this.inFlight.size,
    });
  }

  private fail(error: unknown): void {
    if (isCancellation(error)) {
      return;
    }
    this.deps.report(problemFromError(error));
  }

  private documentChanged(event: api.TextDocumentChangeEvent): void {
    if (event.contentChanges.length === 0) {
      return;
    }
    const uri = event.document.uri.toString();
    const version = event.document.version;
    const changes = event.contentChanges.map((c) => ({ range: api.fromVsRange(c.range), text: c.text }));
    let touched = false;
    const trackers = new Set<PositionTracker>([...this.inFlight].map((u) => u.tracker));
    for (const session of this.open) {
      trackers.add(session.utterance.tracker);
    }
    for (const tracker of trackers) {
      touched = tracker.record(uri, changes, version) || touched;
    }
    if (touched) {
      this.renderGhost();
    }
  }

  private documentClosed(uri: string): void {
    for (const utterance of this.inFlight) {
      utterance.tracker.close(uri);
    }
    for (const session of this.open) {
      session.utterance.tracker.close(uri);
    }
  }

  private renderGhost(): void {
    const session = this.session;
    if (!session || !this.deps.settings().ghostText || !session.partial) {
      this.clearGhost();
      return;
    }
    const editor = api.visibleEditorFor(session.utterance.uri);
    if (this.ghostEditor && this.ghostEditor !== editor) {
      this.clearGhost();
    }
    if (!editor) {
      return;
    }
    const at = session.utterance.tracker.mapRange(session.utterance.anchor).end;
    api.setGhostText(editor, this.ghost, at, session.partial);
    this.ghostEditor = editor;
  }

  private clearGhost(): void {
    if (this.ghostEditor) {
      api.setGhostText(this.ghostEditor, this.ghost, undefined, '');
      this.ghostEditor = undefined;
    }
  }

  dispose(): void {
    this.clearGhost();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

/**
 * The one seam over the VS Code API. Everything else imports VS Code through here (types may be
 * imported directly), so the pure modules stay loadable in plain Node and the surface the
 * extension depends on is visible in one file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as vscode from 'vscode';

import type { Announcement } from './announce';
import { ANNOUNCE_MS } from './announce';
import type { Position, Range, TextEdit } from './protocol';
import type { ConfigSource } from './settings';
import { MACHINE_KEYS, SECTION, parseJsonc } from './settings';
import type { StatusView } from './status';
import type { EditorDocuments } from './utteranceEdits';

export type {
  CancellationToken,
  Disposable,
  ExtensionContext,
  LogOutputChannel,
  TextDocument,
  TextDocumentChangeEvent,
  TextEditor,
  TextEditorDecorationType,
  Uri,
} from 'vscode';

// -- commands -------------------------------------------------------------------------------------

export function registerCommand(id: string, callback: (...args: unknown[]) => unknown): vscode.Disposable {
  return vscode.commands.registerCommand(id, callback);
}

export function executeCommand<T = unknown>(id: string, ...args: unknown[]): Thenable<T> {
  return vscode.commands.executeCommand<T>(id, ...args);
}

/** Set a `when`-clause context key (e.g. `swictation.listening`). */
export function setContext(key: string, value: unknown): Thenable<unknown> {
  return vscode.commands.executeCommand('setContext', key, value);
}

/**
 * Open the settings editor where `query` can be edited: in a remote window (code-server is one)
 * the machine settings (`swictation.server.*`, `models.modelsDir`) are on the Remote tab only.
 */
export function openSettings(query = SECTION): Thenable<unknown> {
  // The query names a machine setting, or a group that holds one (`swictation`, `swictation.server`).
  const machine = MACHINE_KEYS.some((k) => `${SECTION}.${k}`.startsWith(query));
  if (vscode.env.remoteName && machine) {
    // An options object: a plain string query is not applied by this command.
    return vscode.commands.executeCommand('workbench.action.openRemoteSettings', { query });
  }
  return vscode.commands.executeCommand('workbench.action.openSettings', query);
}

export function remoteName(): string | undefined {
  return vscode.env.remoteName;
}

/**
 * Machine settings the user wrote in the (local) User settings of a remote window, where VS Code
 * ignores them: from `inspect()` (`globalLocalValue`), and in code-server, whose User settings live
 * on this machine beside the extension's global storage, from that settings.json itself.
 */
export function misplacedMachineSettings(globalStorage: string | undefined): { key: string; value: unknown }[] {
  if (!vscode.env.remoteName) {
    return [];
  }
  const config = vscode.workspace.getConfiguration(SECTION);
  let userFile: Record<string, unknown> | undefined;
  if (globalStorage) {
    try {
      userFile = parseJsonc(fs.readFileSync(path.join(globalStorage, '..', '..', 'settings.json'), 'utf8'));
    } catch {
      userFile = undefined;
    }
  }
  const found: { key: string; value: unknown }[] = [];
  for (const key of MACHINE_KEYS) {
    const inspected = config.inspect(key) as { globalLocalValue?: unknown; globalRemoteValue?: unknown } | undefined;
    const local = inspected?.globalLocalValue ?? userFile?.[`${SECTION}.${key}`];
    if (local !== undefined && local !== null && local !== '' && inspected?.globalRemoteValue === undefined) {
      found.push({ key, value: local });
    }
  }
  return found;
}

// -- configuration --------------------------------------------------------------------------------

/** `swictation.*` as a `ConfigSource` (settings.ts reads it without knowing VS Code). */
export function configSource(): ConfigSource {
  const config = vscode.workspace.getConfiguration(SECTION);
  return {
    get: <T>(key: string) => config.get<T>(key),
    explicit: (key: string) => {
      const inspected = config.inspect(key);
      if (!inspected) {
        return undefined;
      }
      return inspected.workspaceFolderValue ?? inspected.workspaceValue ?? inspected.globalValue;
    },
  };
}

export function onDidChangeConfiguration(listener: (e: vscode.ConfigurationChangeEvent) => unknown): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration(listener);
}

export function updateSetting(key: string, value: unknown): Thenable<void> {
  return vscode.workspace.getConfiguration(SECTION).update(key, value, vscode.ConfigurationTarget.Global);
}

export function isTrusted(): boolean {
  return vscode.workspace.isTrusted;
}

export function workspaceFolderPath(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

// -- window ---------------------------------------------------------------------------------------

export function createLogOutputChannel(name: string): vscode.LogOutputChannel {
  return vscode.window.createOutputChannel(name, { log: true });
}

export function showMessage(severity: 'error' | 'warning' | 'info', message: string, ...actions: string[]): Thenable<string | undefined> {
  switch (severity) {
    case 'error':
      return vscode.window.showErrorMessage(message, ...actions);
    case 'warning':
      return vscode.window.showWarningMessage(message, ...actions);
    default:
      return vscode.window.showInformationMessage(message, ...actions);
  }
}

export function activeTextEditor(): vscode.TextEditor | undefined {
  return vscode.window.activeTextEditor;
}

export function visibleEditorFor(uri: string): vscode.TextEditor | undefined {
  const active = vscode.window.activeTextEditor;
  if (active?.document.uri.toString() === uri) {
    return active;
  }
  return vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri);
}

export function findDocument(uri: string): vscode.TextDocument | undefined {
  return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
}

export async function showOpenAudioDialog(): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectFiles: true,
    canSelectFolders: false,
    canSelectMany: false,
    openLabel: 'Transcribe',
    title: 'Swictation: Transcribe Audio File',
    filters: { Audio: ['wav', 'flac', 'ogg', 'mp3', 'm4a', 'opus'], 'All files': ['*'] },
  });
  return picked?.[0]?.fsPath;
}

export function showQuickPick<T extends vscode.QuickPickItem>(items: T[], options: vscode.QuickPickOptions): Thenable<T | undefined> {
  return vscode.window.showQuickPick(items, options);
}

/** Pick several labels; undefined when dismissed. */
export async function showQuickPickMany(labels: string[], title: string): Promise<string[] | undefined> {
  const picked = await vscode.window.showQuickPick(
    labels.map((label) => ({ label, picked: true })),
    { title, canPickMany: true },
  );
  return picked?.map((p) => p.label);
}

export function createDecorationType(options: vscode.DecorationRenderOptions): vscode.TextEditorDecorationType {
  return vscode.window.createTextEditorDecorationType(options);
}

export function ghostTextDecoration(): vscode.TextEditorDecorationType {
  return vscode.window.createTextEditorDecorationType({
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
  });
}

/** Ghost text `text` shown after `at` in `editor` (an empty list clears it). */
export function setGhostText(editor: vscode.TextEditor, type: vscode.TextEditorDecorationType, at: Position | undefined, text: string): void {
  if (at === undefined || !text) {
    editor.setDecorations(type, []);
    return;
  }
  const position = toVsPosition(at);
  editor.setDecorations(type, [
    {
      range: new vscode.Range(position, position),
      renderOptions: {
        after: {
          contentText: text,
          color: new vscode.ThemeColor('editorGhostText.foreground'),
          fontStyle: 'italic',
        },
      },
    },
  ]);
}

export function onDidChangeTextDocument(listener: (e: vscode.TextDocumentChangeEvent) => unknown): vscode.Disposable {
  return vscode.workspace.onDidChangeTextDocument(listener);
}

export function onDidCloseTextDocument(listener: (d: vscode.TextDocument) => unknown): vscode.Disposable {
  return vscode.workspace.onDidCloseTextDocument(listener);
}

// -- edits ----------------------------------------------------------------------------------------

export function toVsPosition(p: Position): vscode.Position {
  return new vscode.Position(p.line, p.character);
}

export function toVsRange(r: Range): vscode.Range {
  return new vscode.Range(toVsPosition(r.start), toVsPosition(r.end));
}

export function fromVsPosition(p: vscode.Position): Position {
  return { line: p.line, character: p.character };
}

export function fromVsRange(r: vscode.Range): Range {
  return { start: fromVsPosition(r.start), end: fromVsPosition(r.end) };
}

/**
 * Apply `edits` to the document `uri` as one undo step: through its editor when one is visible
 * (and then put the caret at `caret`), else through a WorkspaceEdit. Never keystrokes or the
 * clipboard.
 */
export async function applyEdits(uri: string, edits: readonly TextEdit[], caret?: Position, moveCaret = false): Promise<boolean> {
  if (edits.length === 0) {
    return true;
  }
  const editor = visibleEditorFor(uri);
  if (editor) {
    const ok = await editor.edit(
      (builder) => {
        for (const edit of edits) {
          builder.replace(toVsRange(edit.range), edit.newText);
        }
      },
      { undoStopBefore: true, undoStopAfter: true },
    );
    if (ok && caret && moveCaret) {
      const at = toVsPosition(caret);
      editor.selection = new vscode.Selection(at, at);
      editor.revealRange(new vscode.Range(at, at));
    }
    return ok;
  }
  const workspaceEdit = new vscode.WorkspaceEdit();
  const target = vscode.Uri.parse(uri);
  for (const edit of edits) {
    workspaceEdit.replace(target, toVsRange(edit.range), edit.newText);
  }
  return vscode.workspace.applyEdit(workspaceEdit);
}

/**
 * `uri`'s document, opened in the background if it is not open (no editor is shown, the active
 * one stays); undefined when it cannot be opened (deleted, moved).
 */
export async function openDocumentInBackground(uri: string): Promise<vscode.TextDocument | undefined> {
  const open = findDocument(uri);
  if (open) {
    return open;
  }
  try {
    return await vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
  } catch {
    return undefined;
  }
}

/**
 * Apply `edits` to the document `uri` and no other, as one WorkspaceEdit (one undo step), whether
 * or not an editor shows it. VS Code sends the document's version with it and refuses the edit if
 * the document changed before it arrives.
 */
export function applyDocumentEdits(uri: string, edits: readonly TextEdit[]): Thenable<boolean> {
  const workspaceEdit = new vscode.WorkspaceEdit();
  const target = vscode.Uri.parse(uri);
  for (const edit of edits) {
    workspaceEdit.replace(target, toVsRange(edit.range), edit.newText);
  }
  return vscode.workspace.applyEdit(workspaceEdit);
}

/** The documents as utterance edits see them (utteranceEdits.ts). */
export const editorDocuments: EditorDocuments = {
  isOpen: (uri) => findDocument(uri) !== undefined,
  open: async (uri) => (await openDocumentInBackground(uri))?.version,
  apply: (uri, edits) => Promise.resolve(applyDocumentEdits(uri, edits)),
  isVisible: (uri) => vscode.window.visibleTextEditors.some((e) => e.document.uri.toString() === uri),
};

/** Put `text` at the active editor's cursor (replacing its selection); false without an editor. */
export async function insertAtCursor(text: string): Promise<boolean> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    return false;
  }
  return editor.edit((builder) => builder.replace(editor.selection, text), { undoStopBefore: true, undoStopAfter: true });
}

export function copyToClipboard(text: string): Thenable<void> {
  return vscode.env.clipboard.writeText(text);
}

export async function showDocument(uri: string): Promise<void> {
  await vscode.window.showTextDocument(vscode.Uri.parse(uri), { preview: false });
}

// -- progress and other extensions ------------------------------------------------------------------

export interface ProgressReporter {
  report(value: { message?: string; increment?: number }): void;
}

/** A cancellable progress notification around `task`. */
export function withCancellableProgress<T>(title: string, task: (progress: ProgressReporter, token: vscode.CancellationToken) => Promise<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, task);
}

/** The Python extension's active interpreter for the workspace, when that extension is installed. */
export async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension('ms-python.python');
  if (!extension) {
    return undefined;
  }
  try {
    interface PythonApi {
      environments?: {
        getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
        resolveEnvironment(env: { path: string } | string): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
      };
    }
    const exports = (extension.isActive ? extension.exports : await extension.activate()) as PythonApi | undefined;
    const environments = exports?.environments;
    if (!environments) {
      return undefined;
    }
    const active = environments.getActiveEnvironmentPath(vscode.workspace.workspaceFolders?.[0]?.uri);
    const resolved = await environments.resolveEnvironment(active);
    return resolved?.executable?.uri?.fsPath ?? active.path;
  } catch {
    return undefined;
  }
}

// -- tasks ----------------------------------------------------------------------------------------

/** Run a process in a terminal panel as a task (e.g. `swictation-rpc models download`). */
export function runProcessTask(name: string, command: string, args: string[]): Thenable<vscode.TaskExecution> {
  const task = new vscode.Task(
    { type: 'process', id: `swictation.${name}` },
    vscode.TaskScope.Global,
    name,
    'swictation',
    new vscode.ProcessExecution(command, args),
  );
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
  return vscode.tasks.executeTask(task);
}

export function onDidEndTaskProcess(listener: (e: vscode.TaskProcessEndEvent) => unknown): vscode.Disposable {
  return vscode.tasks.onDidEndTaskProcess(listener);
}

// -- status item ----------------------------------------------------------------------------------

export interface StatusItem extends vscode.Disposable {
  render(view: StatusView): void;
}

/** The status bar item (left, next to the language items); `command` runs on click. */
export function createStatusItem(command: string): StatusItem {
  const item = vscode.window.createStatusBarItem('swictation.status', vscode.StatusBarAlignment.Right, 100);
  item.name = 'Swictation';
  item.command = command;
  item.show();
  return {
    render(view: StatusView) {
      item.text = view.text;
      item.tooltip = view.tooltip;
      item.accessibilityInformation = { label: view.label, role: 'button' };
      item.backgroundColor = view.background ? new vscode.ThemeColor(`statusBarItem.${view.background}Background`) : undefined;
    },
    dispose: () => item.dispose(),
  };
}

/** The status bar item that announces inserted text (issue 18): shown a few seconds, read by screen readers. */
export function createAnnouncer(): { announce(announcement: Announcement): void; dispose(): void } {
  const item = vscode.window.createStatusBarItem('swictation.announce', vscode.StatusBarAlignment.Right, 99);
  item.name = 'Swictation: inserted text';
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    announce(announcement: Announcement) {
      item.text = announcement.text;
      item.tooltip = announcement.tooltip;
      // A status role: screen readers read the label when it changes, without taking the focus.
      item.accessibilityInformation = { label: announcement.label, role: 'status' };
      item.show();
      clearTimeout(timer);
      timer = setTimeout(() => item.hide(), ANNOUNCE_MS);
    },
    dispose() {
      clearTimeout(timer);
      item.dispose();
    },
  };
}

// -- the commit message box and the terminal (targets.ts) --------------------------------------------

/** The parts of the built-in Git extension's API (extensions/git/src/api/git.d.ts) used here. */
interface GitApi {
  state: 'uninitialized' | 'initialized';
  onDidChangeState: vscode.Event<'uninitialized' | 'initialized'>;
  repositories: { rootUri: vscode.Uri; inputBox: { value: string }; ui?: { selected: boolean } }[];
}

/**
 * The Source Control commit message box of the selected Git repository (the only one, or the
 * first selected), through the built-in Git extension's API; a sentence saying why when there is none.
 */
export async function commitMessageBox(): Promise<{ box: { value: string }; root: string } | string> {
  const extension = vscode.extensions.getExtension<{ enabled: boolean; getAPI(version: 1): GitApi }>('vscode.git');
  if (!extension) {
    return 'The built-in Git extension is not available, so Swictation cannot reach the commit message box.';
  }
  let git: GitApi;
  try {
    const exports = extension.isActive ? extension.exports : await extension.activate();
    if (!exports.enabled) {
      return 'Git is turned off (git.enabled), so there is no commit message box to dictate into.';
    }
    git = exports.getAPI(1);
  } catch (error) {
    return `The Git extension did not answer: ${(error as Error).message}`;
  }
  if (git.state !== 'initialized') {
    await new Promise<void>((resolve) => {
      const done = git.onDidChangeState((state) => state === 'initialized' && (sub(), resolve()));
      const timer = setTimeout(() => (sub(), resolve()), 5000);
      const sub = () => {
        done.dispose();
        clearTimeout(timer);
      };
    });
  }
  const repositories = git.repositories;
  const repository = repositories.find((r) => r.ui?.selected) ?? repositories[0];
  if (!repository) {
    return 'There is no Git repository open, so there is no commit message box to dictate into.';
  }
  return { box: repository.inputBox, root: repository.rootUri.path };
}

/** The active integrated terminal, named by its process id (or its name while it has none). */
export async function activeTerminal(): Promise<{ id: string; sendText(text: string): void } | undefined> {
  const terminal = vscode.window.activeTerminal;
  if (!terminal) {
    return undefined;
  }
  const pid = await Promise.race([terminal.processId, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000))]);
  return { id: pid !== undefined ? String(pid) : terminal.name, sendText: (text) => terminal.sendText(text, false) };
}

export function newEventEmitter<T>(): vscode.EventEmitter<T> {
  return new vscode.EventEmitter<T>();
}

export function fileUri(fsPath: string): string {
  return vscode.Uri.file(fsPath).toString();
}

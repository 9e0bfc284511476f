/**
 * Dictation outside the text editors (issue 18): the Source Control commit message box and the
 * integrated terminal. Neither is a document VS Code lets an extension edit as one, so the server
 * is given a URI that names the target (`vscode-scm:` / `vscode-terminal:`, never synced), the
 * position at the end of what is there, and the text before it as context; the text of the
 * result is then appended (the commit message box) or typed (the terminal). Edits of earlier
 * utterances (undo, "scratch that", correct, refine) cannot be made there: they are refused with
 * one clear message instead of touching the wrong text. Pure: no VS Code import.
 */
import { buildContext } from './context';
import type { ContextLimits } from './context';
import { comparePositions } from './positionTracker';
import type { Position, TextContext, TextEdit } from './protocol';

export type TargetKind = 'commitMessage' | 'terminal';

export const TARGET_SCHEMES: Readonly<Record<TargetKind, string>> = {
  commitMessage: 'vscode-scm',
  terminal: 'vscode-terminal',
};

/** The languageId the server formats for: prose for a commit message, shell code for the terminal. */
export const TARGET_LANGUAGES: Readonly<Record<TargetKind, string>> = {
  commitMessage: 'git-commit',
  terminal: 'terminal',
};

/** How messages name the target. */
export const TARGET_NAMES: Readonly<Record<TargetKind, string>> = {
  commitMessage: 'the commit message box',
  terminal: 'the terminal',
};

/** A URI naming the target for the server and the history: `vscode-scm:/work/repo`, `vscode-terminal:/1234`. */
export function targetUri(kind: TargetKind, id: string): string {
  const path = id.startsWith('/') ? id : `/${id}`;
  return `${TARGET_SCHEMES[kind]}:${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** Which target a URI names; undefined for a document. */
export function targetKindOfUri(uri: string | null | undefined): TargetKind | undefined {
  if (!uri) {
    return undefined;
  }
  const scheme = uri.slice(0, Math.max(0, uri.indexOf(':')));
  return (Object.keys(TARGET_SCHEMES) as TargetKind[]).find((kind) => TARGET_SCHEMES[kind] === scheme);
}

/** The position just after `value` (UTF-16 code units, as LSP counts). */
export function endPosition(value: string): Position {
  const lines = value.split(/\r\n|\r|\n/);
  return { line: lines.length - 1, character: lines[lines.length - 1].length };
}

/** The context for an utterance appended to `before` in a target. */
export function targetContext(kind: TargetKind, before: string, limits: ContextLimits): TextContext {
  return buildContext(before, before.length, TARGET_LANGUAGES[kind], limits);
}

/**
 * The text a result puts into a target: the server's insertions (edits with an empty range, in
 * document order), laid out by the server for the text before them. Deletions ("scratch that"
 * of an earlier utterance) cannot be made in a target and are left out (`deletions` counts them).
 */
export function targetText(result: { edits: readonly TextEdit[]; appliedByServer?: boolean }): { text: string; deletions: number } {
  if (result.appliedByServer) {
    return { text: '', deletions: 0 };
  }
  const empty = (e: TextEdit) => comparePositions(e.range.start, e.range.end) === 0;
  const insertions = result.edits.filter(empty).sort((a, b) => comparePositions(a.range.start, b.range.start));
  const replaced = result.edits.filter((e) => !empty(e));
  // A replacement carries text too (a selection replaced): its text still goes in, its range cannot.
  const text = [...insertions, ...replaced].map((e) => e.newText).join('');
  return { text, deletions: replaced.length };
}

/** What is typed into a terminal since its last line break (its context for the next utterance). */
export function terminalLine(previous: string, sent: string): string {
  const all = previous + sent;
  const lastBreak = Math.max(all.lastIndexOf('\n'), all.lastIndexOf('\r'));
  return lastBreak < 0 ? all : all.slice(lastBreak + 1);
}

/** Whether text sent to a terminal runs a command (a spoken "press enter" / "run that"). */
export function executes(text: string): boolean {
  return /[\r\n]/.test(text);
}

export type TargetEditKind = 'undo' | 'retranscribe' | 'refine' | 'correct' | 'scratch';

const WHAT: Record<TargetEditKind, string> = {
  undo: 'Undo Last Utterance',
  retranscribe: 'Transcribe again',
  refine: 'Refine',
  correct: 'Correct That',
  scratch: '“Scratch that”',
};

/** The one sentence for an edit of an earlier utterance that cannot be made in a target. */
export function unsupportedInTarget(kind: TargetKind, edit: TargetEditKind): string {
  const where = TARGET_NAMES[kind];
  const how =
    kind === 'terminal'
      ? 'the text was typed into the shell and Swictation cannot take it back: delete it in the terminal yourself'
      : 'edit the commit message yourself';
  return `${WHAT[edit]} does not work in ${where}: ${how}. Nothing was changed.`;
}

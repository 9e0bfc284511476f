/**
 * Where an utterance began, kept up to date through the edits made while it was being spoken
 * or transcribed. Pure (no VS Code import): positions and changes are plain LSP-shaped objects.
 *
 * Changes are applied in the order given, each relative to the document as the previous one left
 * it — the order of VS Code's `TextDocumentChangeEvent.contentChanges` and of LSP's incremental
 * `didChange` (vscode-languageclient forwards the one as the other).
 */
import type { Position, Range, TextEdit } from './protocol';

/** One content change, as VS Code reports it (`rangeLength` is not needed). */
export interface ContentChange {
  readonly range: Range;
  readonly text: string;
}

/**
 * Which way a position goes when text is inserted exactly at it. `left` stays before the new
 * text (an anchor the user typed after), `right` moves past it (the end of a growing range).
 */
export type Bias = 'left' | 'right';

export function comparePositions(a: Position, b: Position): number {
  return a.line !== b.line ? a.line - b.line : a.character - b.character;
}

/** The position just after `text` when it is inserted at `start`. */
export function endOfInsertion(start: Position, text: string): Position {
  let line = start.line;
  let lastBreak = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 /* \n */) {
      line++;
      lastBreak = i;
    } else if (c === 13 /* \r */) {
      // \r\n counts once; a lone \r is a line break too (VS Code treats it so).
      if (text.charCodeAt(i + 1) === 10) {
        continue;
      }
      line++;
      lastBreak = i;
    }
  }
  if (lastBreak < 0) {
    return { line, character: start.character + text.length };
  }
  return { line, character: text.length - lastBreak - 1 };
}

/** `position` after one change. A position inside replaced text collapses to the change start. */
export function mapPosition(position: Position, change: ContentChange, bias: Bias = 'left'): Position {
  const { start, end } = change.range;
  const beforeStart = comparePositions(position, start);
  if (beforeStart < 0) {
    return position;
  }
  const insertedEnd = endOfInsertion(start, change.text);
  const afterEnd = comparePositions(position, end);
  if (beforeStart === 0 && comparePositions(start, end) === 0) {
    // Pure insertion exactly here.
    return bias === 'right' && change.text.length > 0 ? insertedEnd : position;
  }
  if (afterEnd < 0) {
    // Inside the replaced text: the text it pointed into is gone.
    return bias === 'right' ? insertedEnd : start;
  }
  if (beforeStart === 0 && afterEnd === 0) {
    return position;
  }
  // At or after the end of the replaced range: shift by the change.
  if (position.line === end.line) {
    return { line: insertedEnd.line, character: insertedEnd.character + (position.character - end.character) };
  }
  return { line: position.line + (insertedEnd.line - end.line), character: position.character };
}

export function mapRange(range: Range, change: ContentChange): Range {
  const start = mapPosition(range.start, change, 'left');
  const empty = comparePositions(range.start, range.end) === 0;
  // An empty range stays empty (it marks an insertion point); a real range keeps its own
  // end left of text typed right after it, so a replacement never swallows that text.
  const end = empty ? start : mapPosition(range.end, change, 'left');
  return comparePositions(end, start) < 0 ? { start, end: start } : { start, end };
}

/**
 * Records the changes made to one document since a moment (the start of an utterance) and maps
 * positions and ranges from that moment to now.
 */
export class PositionTracker {
  private readonly changes: ContentChange[] = [];
  private closed = false;

  /**
   * `uri` is the document's URI string; changes to other documents are ignored. `sinceVersion`:
   * the document's version at the moment the tracker begins (after an edit the extension made);
   * a change event that reports a version up to it is already in the positions given.
   */
  constructor(
    readonly uri: string,
    private readonly sinceVersion?: number,
  ) {}

  /**
   * Record a document change event; returns whether it concerned this document. `version` is the
   * document's version after the change (VS Code's `event.document.version`).
   */
  record(uri: string, changes: readonly ContentChange[], version?: number): boolean {
    if (uri !== this.uri || this.closed) {
      return false;
    }
    if (version !== undefined && this.sinceVersion !== undefined && version <= this.sinceVersion) {
      return false;
    }
    for (const change of changes) {
      this.changes.push({ range: change.range, text: change.text });
    }
    return true;
  }

  /** The document was closed: its positions no longer mean anything. */
  close(uri: string): void {
    if (uri === this.uri) {
      this.closed = true;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get changeCount(): number {
    return this.changes.length;
  }

  /** A position from the moment the tracker was created, as it is now. */
  map(position: Position, bias: Bias = 'left'): Position {
    let current = position;
    for (const change of this.changes) {
      current = mapPosition(current, change, bias);
    }
    return current;
  }

  mapRange(range: Range): Range {
    let current = range;
    for (const change of this.changes) {
      current = mapRange(current, change);
    }
    return current;
  }
}

function isEmpty(range: Range): boolean {
  return comparePositions(range.start, range.end) === 0;
}

/**
 * The server's edits for an utterance, moved to where they belong now.
 *
 * The server answers with edits relative to the document as it was when the request was sent
 * (an insertion at the request's position). `anchor` is the selection at that moment: when it
 * was not empty, the insertion at its start replaces it. Every range is then mapped through the
 * changes made since, so the text lands where the utterance began even if the user moved on.
 */
export function placeEdits(edits: readonly TextEdit[], anchor: Range, tracker: PositionTracker): TextEdit[] {
  return edits.map((edit) => {
    let range = edit.range;
    if (isEmpty(range) && !isEmpty(anchor) && comparePositions(range.start, anchor.start) === 0) {
      range = anchor;
    }
    return { range: tracker.mapRange(range), newText: edit.newText };
  });
}

/** What a dictation result asks of the document: its text, and maybe the deletion "scratch that" asked for. */
export interface DictatedEdits {
  edits: readonly TextEdit[];
  text: string;
  scratchedUtteranceId?: string | null;
  version?: number | null;
}

/**
 * The edits of a dictation result in the document as it is now. The insertion at the cursor is
 * mapped through the user's typing since the request. The deletion of a scratched utterance is in
 * the coordinates of the version the server checked it at (`result.version`) and holds only
 * there: at any other version it is dropped, the text goes in at the cursor alone, and `scratch`
 * says so (the client then confirms the undo as not applied). Without a version (a document the
 * server does not sync) the server's range is where the utterance was saved: mapped like the rest.
 */
export function placeDictatedEdits(
  result: DictatedEdits,
  anchor: Range,
  tracker: PositionTracker,
  currentVersion: number | undefined,
): { edits: TextEdit[]; scratch?: 'kept' | 'dropped' } {
  if (!result.scratchedUtteranceId) {
    return { edits: placeEdits(result.edits, anchor, tracker) };
  }
  if (result.version === null || result.version === undefined) {
    return { edits: placeEdits(result.edits, anchor, tracker), scratch: 'kept' };
  }
  const atCursor = (edit: TextEdit) => isEmpty(edit.range) && comparePositions(edit.range.start, anchor.start) === 0;
  if (currentVersion === result.version) {
    const edits = result.edits.map((edit) => (atCursor(edit) ? placeEdits([edit], anchor, tracker)[0] : { range: edit.range, newText: edit.newText }));
    return { edits, scratch: 'kept' };
  }
  const insertion = result.text ? placeEdits([{ range: { start: anchor.start, end: anchor.start }, newText: result.text }], anchor, tracker) : [];
  return { edits: insertion, scratch: 'dropped' };
}

/**
 * A result of a per-phrase dictation (a committed phrase, or the tail at stop) with its insertion
 * put at `at`, where the client has the end of the phrases before it. The server places phrase n
 * after the text of phrases 1..n-1 counted from the session's start position, as if nothing else
 * had changed; the client knows better (the user may have typed meanwhile, and the phrases went in
 * through edits it tracked), so the insertion (an edit with an empty range) moves to `at`, and is
 * then placed like any dictated text. Other edits (the deletion of a scratched phrase, at the
 * version the server checked) are left as they are.
 */
export function relocateInsertions<T extends { edits: readonly TextEdit[] }>(result: T, at: Position): T {
  const edits = result.edits.map((edit) =>
    isEmpty(edit.range) ? { range: { start: at, end: at }, newText: edit.newText } : edit,
  );
  return { ...result, edits };
}

/** Where the caret goes after `edits` are applied together: the end of the last one's text. */
export function caretAfter(edits: readonly TextEdit[]): Position | undefined {
  if (edits.length === 0) {
    return undefined;
  }
  const sorted = [...edits].sort((a, b) => comparePositions(a.range.start, b.range.start));
  const last = sorted[sorted.length - 1];
  let caret = endOfInsertion(last.range.start, last.newText);
  // Earlier edits (before the last one) shift it, applied from the back like VS Code does.
  for (let i = sorted.length - 2; i >= 0; i--) {
    caret = mapPosition(caret, { range: sorted[i].range, text: sorted[i].newText }, 'right');
  }
  return caret;
}

import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { ContentChange } from '../../positionTracker';
import { PositionTracker, caretAfter, endOfInsertion, mapPosition, placeDictatedEdits, placeEdits, relocateInsertions } from '../../positionTracker';
import type { Position, Range, TextEdit } from '../../protocol';

const pos = (line: number, character: number): Position => ({ line, character });
const range = (sl: number, sc: number, el: number, ec: number): Range => ({ start: pos(sl, sc), end: pos(el, ec) });
const insert = (line: number, character: number, text: string): ContentChange => ({ range: range(line, character, line, character), text });

/** A document as lines, with changes applied the way VS Code applies them: to check the mapping. */
function apply(text: string, change: ContentChange): string {
  const offset = (p: Position) => {
    const lines = text.split('\n');
    return lines.slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
  };
  return text.slice(0, offset(change.range.start)) + change.text + text.slice(offset(change.range.end));
}

function charAt(text: string, p: Position): string {
  return text.split('\n')[p.line].slice(p.character, p.character + 1);
}

describe('endOfInsertion', () => {
  test('text without a line break ends on the same line', () => {
    assert.deepEqual(endOfInsertion(pos(3, 4), 'abc'), pos(3, 7));
  });
  test('text with line breaks ends after the last one', () => {
    assert.deepEqual(endOfInsertion(pos(3, 4), 'ab\ncd\nxyz'), pos(5, 3));
  });
  test('CRLF counts as one line break', () => {
    assert.deepEqual(endOfInsertion(pos(0, 9), 'a\r\nbc'), pos(1, 2));
  });
});

describe('mapPosition', () => {
  test('an edit after the position leaves it alone', () => {
    assert.deepEqual(mapPosition(pos(1, 5), insert(1, 9, 'zzz')), pos(1, 5));
    assert.deepEqual(mapPosition(pos(1, 5), insert(4, 0, 'zzz\n')), pos(1, 5));
  });
  test('typing before the position on its line shifts it right', () => {
    assert.deepEqual(mapPosition(pos(1, 5), insert(1, 2, 'abc')), pos(1, 8));
  });
  test('a new line above the position moves it down', () => {
    assert.deepEqual(mapPosition(pos(3, 5), insert(0, 0, 'one\ntwo\n')), pos(5, 5));
  });
  test('a line break inserted before it on its line carries it to the new line', () => {
    assert.deepEqual(mapPosition(pos(2, 10), insert(2, 4, '\n  ')), pos(3, 8));
  });
  test('deleting lines above moves it up', () => {
    assert.deepEqual(mapPosition(pos(5, 3), { range: range(1, 0, 3, 0), text: '' }), pos(3, 3));
  });
  test('joining its line with the previous one moves it up and right', () => {
    // "abc\ndef": delete the line break; (1,2) "f" -> (0,5)
    assert.deepEqual(mapPosition(pos(1, 2), { range: range(0, 3, 1, 0), text: '' }), pos(0, 5));
  });
  test('left bias stays before text inserted exactly at the position', () => {
    assert.deepEqual(mapPosition(pos(1, 5), insert(1, 5, 'typed'), 'left'), pos(1, 5));
  });
  test('right bias moves past text inserted exactly at the position', () => {
    assert.deepEqual(mapPosition(pos(1, 5), insert(1, 5, 'typed'), 'right'), pos(1, 10));
  });
  test('a position inside deleted text collapses to where the deletion was', () => {
    assert.deepEqual(mapPosition(pos(0, 6), { range: range(0, 2, 0, 9), text: 'X' }), pos(0, 2));
  });

  test('agrees with applying the change to real text (exhaustive on a small document)', () => {
    const doc = 'alpha beta\ngamma\n\ndelta epsilon';
    const lines = doc.split('\n');
    const changes: ContentChange[] = [
      insert(0, 0, 'NEW '),
      insert(1, 5, '\nX\nYY'),
      { range: range(0, 6, 1, 2), text: '' },
      { range: range(1, 0, 3, 6), text: 'Q\n' },
      { range: range(3, 0, 3, 5), text: 'omega\nsigma' },
    ];
    for (const change of changes) {
      const after = apply(doc, change);
      for (let line = 0; line < lines.length; line++) {
        for (let character = 0; character < lines[line].length; character++) {
          const p = pos(line, character);
          const inside =
            (line > change.range.start.line || (line === change.range.start.line && character >= change.range.start.character)) &&
            (line < change.range.end.line || (line === change.range.end.line && character < change.range.end.character));
          if (inside) {
            continue; // that character is gone
          }
          // Character identity: text inserted exactly at a character goes before it (right bias).
          const mapped = mapPosition(p, change, 'right');
          assert.equal(charAt(after, mapped), charAt(doc, p), `char at ${line}:${character} after ${JSON.stringify(change)}`);
        }
      }
    }
  });
});

describe('PositionTracker', () => {
  test('maps a position through a series of edits in order', () => {
    const tracker = new PositionTracker('file:///a.py');
    tracker.record('file:///a.py', [insert(0, 0, '# header\n')]);
    tracker.record('file:///a.py', [insert(5, 0, 'x = 1\n'), insert(1, 2, 'abc')]);
    // (2,4): +1 line from the header; the insert on line 3 is below it; line 1 edit is above.
    assert.deepEqual(tracker.map(pos(2, 4)), pos(3, 4));
    assert.equal(tracker.changeCount, 3);
  });
  test('ignores changes to other documents', () => {
    const tracker = new PositionTracker('file:///a.py');
    assert.equal(tracker.record('file:///b.py', [insert(0, 0, 'zzz\n')]), false);
    assert.deepEqual(tracker.map(pos(2, 4)), pos(2, 4));
  });
  test('a closed document stops tracking', () => {
    const tracker = new PositionTracker('file:///a.py');
    tracker.close('file:///a.py');
    assert.equal(tracker.isClosed, true);
    assert.equal(tracker.record('file:///a.py', [insert(0, 0, 'x')]), false);
  });
  test('text typed right after a selection is not swallowed by its range', () => {
    const tracker = new PositionTracker('u');
    tracker.record('u', [insert(0, 8, 'typed')]);
    assert.deepEqual(tracker.mapRange(range(0, 4, 0, 8)), range(0, 4, 0, 8));
  });
});

describe('placeEdits', () => {
  const edit = (line: number, character: number, newText: string): TextEdit => ({ range: range(line, character, line, character), newText });

  test('with no changes and a cursor, the server edit is used as is', () => {
    const tracker = new PositionTracker('u');
    assert.deepEqual(placeEdits([edit(2, 5, 'hello')], range(2, 5, 2, 5), tracker), [edit(2, 5, 'hello')]);
  });
  test('an insertion at the start of a selection replaces the selection', () => {
    const tracker = new PositionTracker('u');
    const placed = placeEdits([edit(2, 5, 'hello')], range(2, 5, 2, 9), tracker);
    assert.deepEqual(placed, [{ range: range(2, 5, 2, 9), newText: 'hello' }]);
  });
  test('the text goes where the utterance began after the user typed above and moved on', () => {
    const tracker = new PositionTracker('u');
    tracker.record('u', [insert(0, 0, 'import os\n')]); // a line above
    tracker.record('u', [insert(2, 1, 'xy')]); // typing before the anchor on its (now) line
    tracker.record('u', [insert(9, 0, 'later\n')]); // typing far below
    assert.deepEqual(placeEdits([edit(1, 5, 'hello')], range(1, 5, 1, 5), tracker), [edit(2, 7, 'hello')]);
  });
});

describe('placeDictatedEdits ("scratch that")', () => {
  // "hello world" was dictated at (1,0); the user then typed "x = " above it; now "scratch that
  // user count" was said at the end of it: the server checked the deletion at version 7.
  const deletion: TextEdit = { range: range(2, 0, 2, 11), newText: '' };
  const insertion: TextEdit = { range: range(1, 11, 1, 11), newText: 'userCount' };
  const result = { edits: [deletion, insertion], text: 'userCount', scratchedUtteranceId: 'u1', version: 7 };
  const anchor = range(1, 11, 1, 11);

  test('at the checked version the deletion is used as the server checked it; the insertion follows the typing', () => {
    const tracker = new PositionTracker('u');
    tracker.record('u', [insert(0, 0, 'x = \n')]); // typed after the request, synced before the check
    const placed = placeDictatedEdits(result, anchor, tracker, 7);
    assert.equal(placed.scratch, 'kept');
    assert.deepEqual(placed.edits, [deletion, { range: range(2, 11, 2, 11), newText: 'userCount' }]);
  });
  test('at any other version nothing is deleted: the text goes in at the cursor alone', () => {
    const tracker = new PositionTracker('u');
    tracker.record('u', [insert(0, 0, 'x = \n')]);
    const placed = placeDictatedEdits(result, anchor, tracker, 8);
    assert.equal(placed.scratch, 'dropped');
    assert.deepEqual(placed.edits, [{ range: range(2, 11, 2, 11), newText: 'userCount' }]);
  });
  test('the cursor inside the scratched text (one replacing edit) also falls back to an insertion', () => {
    const replacing = { edits: [{ range: range(1, 0, 1, 11), newText: 'userCount' }], text: 'userCount', scratchedUtteranceId: 'u1', version: 3 };
    const placed = placeDictatedEdits(replacing, range(1, 5, 1, 5), new PositionTracker('u'), 4);
    assert.deepEqual(placed, { edits: [{ range: range(1, 5, 1, 5), newText: 'userCount' }], scratch: 'dropped' });
    assert.deepEqual(placeDictatedEdits(replacing, range(1, 5, 1, 5), new PositionTracker('u'), 3).edits, replacing.edits);
  });
  test('"scratch that" alone with the document moved on proposes nothing', () => {
    const alone = { edits: [deletion], text: '', scratchedUtteranceId: 'u1', version: 7 };
    assert.deepEqual(placeDictatedEdits(alone, anchor, new PositionTracker('u'), 9), { edits: [], scratch: 'dropped' });
  });
  test('without a scratched utterance the result is placed like any insertion', () => {
    const plain = { edits: [insertion], text: 'userCount' };
    assert.deepEqual(placeDictatedEdits(plain, anchor, new PositionTracker('u'), 1), { edits: [insertion] });
  });
});

describe('caretAfter', () => {
  test('is the end of the inserted text', () => {
    assert.deepEqual(caretAfter([{ range: range(2, 5, 2, 9), newText: 'hello world' }]), pos(2, 16));
  });
  test('accounts for multi-line text', () => {
    assert.deepEqual(caretAfter([{ range: range(2, 5, 2, 5), newText: 'a\nbc' }]), pos(3, 2));
  });
  test('is undefined without edits', () => {
    assert.equal(caretAfter([]), undefined);
  });
});

describe('per-phrase commit (issue 18): phrases placed one after the other', () => {
  /**
   * The client side of a per-phrase session, with the same building blocks Dictation uses: each
   * phrase result (an insertion where the server counts "after the phrases before", as if nothing
   * else changed) is relocated to where the client has the end of the last phrase, placed through
   * the changes since, applied; a new tracker starts after it at the document's version.
   */
  class Doc {
    version = 1;
    constructor(public text: string) {}
    change(change: ContentChange, trackers: PositionTracker[]): void {
      this.text = apply(this.text, change);
      this.version++;
      for (const t of trackers) {
        t.record('file:///d', [change], this.version);
      }
    }
  }

  test('three phrases land in order, after each other, while the user types above and after', () => {
    const doc = new Doc('top\nSay: | end\n');
    const start = pos(1, 5);
    let anchor: Range = { start, end: start };
    let tracker = new PositionTracker('file:///d');
    const trackers = () => [tracker];
    // The server's positions: the session's start, then after the text of the phrases before.
    const phrases = ['Hello world.', ' This is a test.', ' Done.'];
    let serverAt = start;
    for (const [i, text] of phrases.entries()) {
      // While each phrase is spoken the user types: before it on its line, then a line above, then above again.
      doc.change(i === 0 ? insert(1, 0, '> ') : i === 1 ? insert(0, 0, 'new line\n') : insert(0, 0, 'x'), trackers());
      const result = { edits: [{ range: { start: serverAt, end: serverAt }, newText: text }], text };
      serverAt = endOfInsertion(serverAt, text);
      const relocated = relocateInsertions(result, anchor.start);
      const { edits } = placeDictatedEdits(relocated, anchor, tracker, doc.version);
      assert.equal(edits.length, 1);
      // Applying it fires the change event too: after the new tracker began (the order VS Code may deliver it in).
      const end = caretAfter(edits) as Position;
      const versionAfter = doc.version + 1;
      const next = new PositionTracker('file:///d', versionAfter);
      doc.change({ range: edits[0].range, text: edits[0].newText }, [tracker, next]);
      tracker = next;
      anchor = { start: end, end };
    }
    assert.equal(doc.text, 'xnew line\ntop\n> Say: Hello world. This is a test. Done.| end\n');
  });

  test('the tail at stop goes after the last phrase, not where the server counts it', () => {
    const doc = new Doc('a  b');
    let tracker = new PositionTracker('file:///d');
    doc.change(insert(0, 0, '>'), [tracker]); // typed at the line start while the first phrase was spoken
    const first = relocateInsertions({ edits: [{ range: range(0, 2, 0, 2), newText: 'one' }], text: 'one' }, pos(0, 2));
    const placed = placeDictatedEdits(first, { start: pos(0, 2), end: pos(0, 2) }, tracker, doc.version).edits;
    const end = caretAfter(placed) as Position;
    doc.change({ range: placed[0].range, text: placed[0].newText }, [tracker]);
    tracker = new PositionTracker('file:///d', doc.version); // the edit's event came before the edit resolved
    // The server counts the tail after "one" from the session's start (column 5); the client has it at 6.
    const tail = relocateInsertions({ edits: [{ range: range(0, 5, 0, 5), newText: ' two' }], text: ' two' }, end);
    const edits = placeDictatedEdits(tail, { start: end, end }, tracker, doc.version).edits;
    doc.change({ range: edits[0].range, text: edits[0].newText }, []);
    assert.equal(doc.text, '>a one two b');
  });

  test('relocation moves only the insertion; a scratched phrase keeps the range the server checked', () => {
    const deletion: TextEdit = { range: range(0, 3, 0, 9), newText: '' };
    const moved = relocateInsertions({ edits: [deletion, { range: range(0, 9, 0, 9), newText: 'x' }] }, pos(2, 1));
    assert.deepEqual(moved.edits, [deletion, { range: range(2, 1, 2, 1), newText: 'x' }]);
  });

  test('a tracker begun after an edit ignores that edit’s event, whenever it arrives', () => {
    const tracker = new PositionTracker('file:///d', 7);
    assert.equal(tracker.record('file:///d', [insert(0, 0, 'mine')], 7), false);
    assert.deepEqual(tracker.map(pos(0, 4)), pos(0, 4));
    assert.equal(tracker.record('file:///d', [insert(0, 0, 'user')], 8), true);
    assert.deepEqual(tracker.map(pos(0, 4)), pos(0, 8));
    // Without versions (the trackers of file transcriptions), every change counts as before.
    const plain = new PositionTracker('file:///d');
    assert.equal(plain.record('file:///d', [insert(0, 0, 'a')], 3), true);
  });
});

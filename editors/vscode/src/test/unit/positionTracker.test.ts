import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { ContentChange } from '../../positionTracker';
import { PositionTracker, caretAfter, endOfInsertion, mapPosition, placeDictatedEdits, placeEdits } from '../../positionTracker';
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

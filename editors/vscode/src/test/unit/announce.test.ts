import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ANNOUNCE_SHOWN_CHARS, announcement } from '../../announce';

describe('announcement', () => {
  test('names the inserted text and where it went, for the screen reader and the status bar', () => {
    assert.deepEqual(announcement(' Hello world.', 'notes.txt'), {
      text: '$(check) “Hello world.”',
      label: 'Swictation inserted into notes.txt: Hello world.',
      tooltip: 'Swictation inserted into notes.txt: “Hello world.”',
    });
  });
  test('long text is shortened on the status bar, whole in the label; line breaks read as spaces', () => {
    const long = `${'word '.repeat(30)}end\nnext line`;
    const said = announcement(long, 'the terminal');
    assert.ok(said);
    assert.equal(said.text.length, '$(check) “”'.length + ANNOUNCE_SHOWN_CHARS);
    assert.ok(said.text.endsWith('…”'));
    assert.equal(said.label, `Swictation inserted into the terminal: ${'word '.repeat(30)}end next line`);
  });
  test('nothing to announce when only spaces or line breaks went in', () => {
    assert.equal(announcement(' \n '), undefined);
    assert.equal(announcement(''), undefined);
  });
});

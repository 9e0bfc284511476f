import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { buildContext, identifiersIn, isCompound } from '../../context';

describe('identifiersIn', () => {
  const code = `
def get_user_by_id(user_id):
    user = db.fetch(user_id)
    return userCache.get(user_id) or user

class HTTPClient2:
    pass
`;
  test('compound identifiers come first, most frequent first', () => {
    const ids = identifiersIn(code, 10);
    assert.deepEqual(ids.slice(0, 4), ['user_id', 'get_user_by_id', 'userCache', 'HTTPClient2']);
  });
  test('plain words follow, and short ones are skipped', () => {
    const ids = identifiersIn(code, 50);
    assert.ok(ids.includes('user'));
    assert.ok(!ids.includes('db'));
    assert.ok(!ids.includes('or'));
    assert.ok(ids.indexOf('user') > ids.indexOf('HTTPClient2'));
  });
  test('the bound is respected and 0 sends none', () => {
    assert.equal(identifiersIn(code, 2).length, 2);
    assert.deepEqual(identifiersIn(code, 0), []);
  });
  test('isCompound tells code from words', () => {
    for (const word of ['fooBar', 'snake_case', 'x2y', 'MyClass', 'HTTPServer']) {
      assert.equal(isCompound(word), true, word);
    }
    for (const word of ['return', 'user', 'Hello', 'TODO']) {
      assert.equal(isCompound(word), false, word);
    }
  });
});

describe('buildContext', () => {
  test('takes a bounded window on both sides of the cursor', () => {
    const text = 'a'.repeat(500) + '|' + 'b'.repeat(500);
    const ctx = buildContext(text, 500, 'python', { maxChars: 200, maxIdentifiers: 0 });
    assert.equal(ctx.before, 'a'.repeat(200));
    assert.equal(ctx.after, '|' + 'b'.repeat(199));
    assert.equal(ctx.languageId, 'python');
    assert.deepEqual(ctx.identifiers, []);
  });
  test('with a selection, after is what follows the selection', () => {
    const text = 'let total = oldValue + 1;';
    const start = text.indexOf('oldValue');
    const ctx = buildContext(text, start, 'typescript', { maxChars: 100, maxIdentifiers: 5 }, start + 'oldValue'.length);
    assert.equal(ctx.before, 'let total = ');
    assert.equal(ctx.after, ' + 1;');
    assert.ok(ctx.identifiers?.includes('oldValue'));
  });
  test('in prose only code-like identifiers are sent; in code plain words follow them', () => {
    const text = 'Call getUserById before the meeting with Alice';
    const prose = buildContext(text, 0, 'markdown', { maxChars: 10, maxIdentifiers: 10 });
    assert.deepEqual(prose.identifiers, ['getUserById']);
    const code = buildContext(text, 0, 'python', { maxChars: 10, maxIdentifiers: 10 });
    assert.deepEqual(code.identifiers?.slice(0, 2), ['getUserById', 'Call']);
  });
  test('never cuts a surrogate pair in half', () => {
    const text = '😀x' + 'y'.repeat(10);
    const ctx = buildContext(text, 3, undefined, { maxChars: 2, maxIdentifiers: 0 });
    assert.equal(ctx.before, '😀x');
    assert.equal(ctx.languageId, null);
  });
});

/**
 * Dictation into the commit message box and the terminal (issue 18): the URIs that name them,
 * where the text goes, what is appended or typed, and the message for edits that cannot be made there.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { TextEdit } from '../../protocol';
import { endPosition, executes, targetContext, targetKindOfUri, targetText, targetUri, terminalLine, unsupportedInTarget } from '../../targets';

const at = (line: number, character: number, newText: string): TextEdit => ({ range: { start: { line, character }, end: { line, character } }, newText });

describe('target URIs', () => {
  test('name the target, and are told apart from documents', () => {
    assert.equal(targetUri('commitMessage', '/work/my repo'), 'vscode-scm:/work/my%20repo');
    assert.equal(targetUri('terminal', '4242'), 'vscode-terminal:/4242');
    assert.equal(targetKindOfUri('vscode-scm:/work/my%20repo'), 'commitMessage');
    assert.equal(targetKindOfUri('vscode-terminal:/4242'), 'terminal');
    assert.equal(targetKindOfUri('file:///work/a.py'), undefined);
    assert.equal(targetKindOfUri('untitled:Untitled-1'), undefined);
    assert.equal(targetKindOfUri(null), undefined);
  });
});

describe('where the text goes and its context', () => {
  test('the position is the end of the value, in UTF-16 units', () => {
    assert.deepEqual(endPosition(''), { line: 0, character: 0 });
    assert.deepEqual(endPosition('Fix the parser\n\nIt dropped 😀'), { line: 2, character: 13 });
    assert.deepEqual(endPosition('a\r\nbc'), { line: 1, character: 2 });
  });
  test('a commit message is prose (git-commit), a terminal is shell (terminal); the text before is the context', () => {
    const commit = targetContext('commitMessage', 'Fix the parser.', { maxChars: 200, maxIdentifiers: 10 });
    assert.equal(commit.languageId, 'git-commit');
    assert.equal(commit.before, 'Fix the parser.');
    assert.equal(commit.after, '');
    const shell = targetContext('terminal', 'git status', { maxChars: 4, maxIdentifiers: 10 });
    assert.equal(shell.languageId, 'terminal');
    assert.equal(shell.before, 'atus');
  });
});

describe('targetText', () => {
  test("the server's insertions, as laid out, in document order", () => {
    assert.deepEqual(targetText({ edits: [at(0, 15, ' And the lexer.')] }), { text: ' And the lexer.', deletions: 0 });
    assert.deepEqual(targetText({ edits: [at(0, 9, 'b'), at(0, 3, 'a')] }), { text: 'ab', deletions: 0 });
  });
  test('nothing when the server applied it or nothing was said', () => {
    assert.deepEqual(targetText({ edits: [at(0, 0, 'x')], appliedByServer: true }), { text: '', deletions: 0 });
    assert.deepEqual(targetText({ edits: [] }), { text: '', deletions: 0 });
  });
  test('a deletion ("scratch that") cannot be made there: counted, its range not used', () => {
    const deletion: TextEdit = { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } }, newText: '' };
    assert.deepEqual(targetText({ edits: [deletion, at(0, 5, 'ls')] }), { text: 'ls', deletions: 1 });
  });
});

describe('the terminal', () => {
  test('the line so far is what was typed since the last line break', () => {
    assert.equal(terminalLine('', 'git status'), 'git status');
    assert.equal(terminalLine('git status', ' --short\n'), '');
    assert.equal(terminalLine('echo one\r', 'ls'), 'ls');
  });
  test('only a line break (a spoken "press enter" / "run that") executes', () => {
    assert.equal(executes('git status'), false);
    assert.equal(executes('git status\n'), true);
  });
});

describe('edits of earlier utterances there', () => {
  test('one sentence that says it does not work there and that nothing changed', () => {
    assert.equal(
      unsupportedInTarget('terminal', 'undo'),
      'Undo Last Utterance does not work in the terminal: the text was typed into the shell and Swictation cannot take it back: delete it in the terminal yourself. Nothing was changed.',
    );
    assert.match(unsupportedInTarget('commitMessage', 'scratch'), /^“Scratch that” does not work in the commit message box: edit the commit message yourself\. Nothing was changed\.$/);
  });
});

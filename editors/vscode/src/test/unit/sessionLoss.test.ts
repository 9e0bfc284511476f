/**
 * A session the server lost (it stopped or restarted while listening, or answers a stop with
 * "no active session"): the local session ends and the user is told once what became of the text.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { POLICY, shouldNotify } from '../../errors';
import { NO_ACTIVE_SESSION_CODE, serverLostSession, serverStoppedProblem } from '../../sessionLoss';

describe('serverStoppedProblem', () => {
  test('per-phrase: the inserted phrases stay, the open phrase was lost, the next toggle starts anew', () => {
    const problem = serverStoppedProblem({ commit: 'perPhrase', phrases: 2, where: 'notes.txt' });
    assert.equal(problem.kind, 'session-lost');
    assert.match(problem.message, /server stopped while listening/);
    assert.match(problem.message, /2 phrases already inserted into notes\.txt stay/);
    assert.match(problem.message, /transcript history/);
    assert.match(problem.message, /after them was lost/);
    assert.match(problem.message, /Toggle Dictation starts a new one/);
  });

  test('one phrase, and none', () => {
    assert.match(serverStoppedProblem({ commit: 'perPhrase', phrases: 1, where: 'notes.txt' }).message, /The phrase already inserted into notes\.txt stays .*after it was lost/);
    const none = serverStoppedProblem({ commit: 'onStop', phrases: 0, where: 'notes.txt' });
    assert.match(none.message, /What was said in it was lost/);
    assert.doesNotMatch(none.message, /already inserted/);
  });

  test('shown at the default notification level', () => {
    assert.ok(POLICY['session-lost']);
    assert.ok(shouldNotify(serverStoppedProblem({ commit: 'perPhrase', phrases: 1, where: 'x' }).severity, 'onWarning'));
  });
});

describe('serverLostSession', () => {
  test('no active session (by kind or by code -33007) and no server end the local session', () => {
    assert.equal(NO_ACTIVE_SESSION_CODE, -33007);
    assert.ok(serverLostSession({ code: -33007, message: 'No dictation session 88d8 is active.', data: { kind: 'no-active-session' } }));
    assert.ok(serverLostSession({ code: -33007, message: 'No dictation session is active.' }));
    assert.ok(serverLostSession({ code: -32099, message: 'not running', data: { kind: 'server-not-running' } }));
  });

  test('other failures do not', () => {
    assert.ok(!serverLostSession({ code: -33002, message: 'busy', data: { kind: 'server-busy' } }));
    assert.ok(!serverLostSession(new Error('boom')));
  });
});

import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { isCancellation, problemFromError, problemFromRefusal, severityOfMessageType, shouldNotify } from '../../errors';

describe('problemFromError', () => {
  test('a missing model is an error offering the download, with the server remedy', () => {
    const p = problemFromError({
      code: -32001,
      message: 'The model parakeet-tdt-110m is not installed',
      data: { kind: 'model-not-installed', remedy: 'Run `swictation-rpc models download parakeet-tdt-110m`.', model: 'parakeet-tdt-110m' },
    });
    assert.equal(p.severity, 'error');
    assert.equal(p.message, 'The model parakeet-tdt-110m is not installed. Run `swictation-rpc models download parakeet-tdt-110m`.');
    assert.deepEqual(
      p.actions.map((a) => a.id),
      ['downloadModels', 'openSettings'],
    );
    assert.equal(p.data.model, 'parakeet-tdt-110m');
  });
  test('no microphone opens the audio settings', () => {
    const p = problemFromError({ code: -32004, message: 'No audio input device is available', data: { kind: 'no-input-device', remedy: '' } });
    assert.equal(p.message, 'No audio input device is available');
    assert.equal(p.actions[0].setting, 'swictation.audio');
  });
  test('an old server without a method is told to update', () => {
    const p = problemFromError({ code: -32601, message: 'Method Not Found: swictation/history' });
    assert.equal(p.kind, 'method-not-found');
    assert.match(p.message, /update it/);
  });
  test('anything else is an internal error that offers the logs', () => {
    const p = problemFromError(new Error('boom'));
    assert.equal(p.kind, 'internal');
    assert.equal(p.severity, 'error');
    assert.ok(p.actions.some((a) => a.id === 'showLogs'));
  });
  test('a loading engine is only information', () => {
    assert.equal(problemFromError({ code: -32006, message: 'loading', data: { kind: 'engine-loading' } }).severity, 'info');
  });
});

describe('shouldNotify', () => {
  test('each level shows its severity and above', () => {
    const table: [string, boolean, boolean, boolean][] = [
      // level, error, warning, info
      ['off', false, false, false],
      ['onError', true, false, false],
      ['onWarning', true, true, false],
      ['always', true, true, true],
    ];
    for (const [level, error, warning, info] of table) {
      const l = level as 'off' | 'onError' | 'onWarning' | 'always';
      assert.deepEqual([shouldNotify('error', l), shouldNotify('warning', l), shouldNotify('info', l)], [error, warning, info], level);
    }
  });
});

test('cancelled requests are not problems', () => {
  assert.equal(isCancellation({ code: -32800, message: 'cancelled' }), true);
  assert.equal(isCancellation({ code: -32001 }), false);
  assert.equal(isCancellation(undefined), false);
});

test('LSP message types map to severities', () => {
  assert.deepEqual([1, 2, 3, 4].map(severityOfMessageType), ['error', 'warning', 'info', 'info']);
});

describe('problemFromRefusal', () => {
  test("every reason the server gives is one message in the server's words, shown at the default level", () => {
    for (const reason of ['changed', 'not-synced', 'gone', 'already-undone'] as const) {
      const p = problemFromRefusal(reason, `Sentence for ${reason}.`, { uri: 'file:///w/demo.py' });
      assert.equal(p.kind, `utterance-${reason}`);
      assert.equal(p.message, `Sentence for ${reason}.`);
      assert.ok(shouldNotify(p.severity, 'onWarning'), `${reason} is not silent by default`);
      assert.notEqual(p.severity, 'error', 'nothing was changed: not an error');
    }
  });
  test('no reason and nothing to undo is said too', () => {
    const p = problemFromRefusal(null, 'There is nothing to undo: no utterance was dictated yet.');
    assert.equal(p.kind, 'utterance-none');
    assert.ok(shouldNotify(p.severity, 'onWarning'));
  });
});

import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { StatusStore, describeStatus, initialStatus } from '../../status';

describe('describeStatus', () => {
  const running = { ...initialStatus('fast'), phase: 'running' as const };

  test('idle shows the mode and, once known, the last latency', () => {
    assert.equal(describeStatus({ ...running, state: 'idle' }).text, '$(mic) Swictation: fast', 'the idle item says whose it is');
    const view = describeStatus({ ...running, state: 'idle', lastLatencyMs: 412.6, lastDecodeMs: 301, lastMode: 'accurate', lastModel: 'whisper-tiny.en', lastLanguage: 'en' });
    assert.equal(view.text, '$(mic) Swictation: fast · 413 ms');
    assert.equal(view.label, 'Swictation: idle · 413 ms');
    assert.match(view.tooltip, /Last utterance: 413 ms to the text \(decode 301 ms, accurate, whisper-tiny\.en, language en\)/);
  });
  test('the tooltip names the models serving and the configured models that are missing, with the download', () => {
    const view = describeStatus({
      ...running,
      state: 'idle',
      serving: ['fast: whisper-tiny.en on CPU', 'accurate: whisper-tiny.en on CPU'],
      modelProblems: ['fast mode: parakeet-tdt-110m is not installed.'],
    });
    assert.match(view.tooltip, /Serving: fast: whisper-tiny\.en on CPU; accurate: whisper-tiny\.en on CPU/);
    assert.match(view.tooltip, /⚠ fast mode: parakeet-tdt-110m is not installed\.\nRun “Swictation: Download Models…” to download them\./);
    assert.doesNotMatch(describeStatus({ ...running, state: 'idle' }).tooltip, /Download Models/);
  });
  test('loading shows its progress', () => {
    const view = describeStatus({ ...running, state: 'loading', progress: { title: 'Loading', message: 'fast model', percentage: 40 } });
    assert.equal(view.text, '$(loading~spin) loading 40%');
    assert.match(view.tooltip, /Loading: fast model 40%/);
  });
  test('listening stands out, errors are red', () => {
    assert.equal(describeStatus({ ...running, state: 'listening' }).background, 'warning');
    const error = describeStatus({ ...running, state: 'error', reason: 'microphone lost' });
    assert.equal(error.background, 'error');
    assert.match(error.tooltip, /microphone lost/);
  });
  test('transcribing, and a server that is not running', () => {
    assert.equal(describeStatus({ ...running, state: 'transcribing' }).stateWord, 'transcribing');
    assert.equal(describeStatus({ ...running, phase: 'starting' }).stateWord, 'starting');
    const failed = describeStatus({ ...running, phase: 'failed', reason: 'swictation-rpc was not found on PATH.' });
    assert.equal(failed.stateWord, 'failed');
    assert.match(failed.tooltip, /not found on PATH/);
    assert.equal(describeStatus(initialStatus()).label, 'Swictation: off');
  });
});

test('while the server is installed the item says installing, with the step and pip\'s line in the tooltip', () => {
  const view = describeStatus({ ...initialStatus('auto'), phase: 'installing', progress: { title: 'Installing swictation-rpc', message: '2/3 Installing swictation-rpc — Collecting numpy' } });
  assert.equal(view.label, 'Swictation: installing');
  assert.equal(view.text, '$(loading~spin) Swictation: installing');
  assert.equal(view.background, undefined, 'not red');
  assert.match(view.tooltip, /Installing swictation-rpc: 2\/3 Installing swictation-rpc — Collecting numpy/);
  assert.match(describeStatus({ ...initialStatus('auto'), phase: 'installing' }).tooltip, /Installing swictation-rpc…/);
});

describe('StatusStore', () => {
  test('keeps the install progress while installing, drops it when the server starts', () => {
    const store = new StatusStore();
    store.update({ phase: 'installing', progress: { title: 'Installing swictation-rpc', message: '1/3' } });
    assert.equal(store.model.progress?.message, '1/3');
    store.update({ phase: 'starting' });
    assert.equal(store.model.progress, undefined);
  });

  test('notifies listeners and drops progress when the server stops', () => {
    const store = new StatusStore();
    const seen: string[] = [];
    const sub = store.onChange((m) => seen.push(`${m.phase}/${m.state}`));
    store.update({ phase: 'running', state: 'loading', progress: { title: 'x', percentage: 10 } });
    assert.equal(store.model.progress?.percentage, 10);
    store.update({ phase: 'stopped' });
    assert.equal(store.model.progress, undefined);
    sub.dispose();
    store.update({ state: 'idle' });
    assert.deepEqual(seen, ['running/loading', 'stopped/loading']);
  });
});

test('an utterance still on its way keeps the item at transcribing after the server went idle', () => {
  const model = { ...initialStatus('auto'), phase: 'running' as const, state: 'idle' as const, lastLatencyMs: 300 };
  assert.equal(describeStatus({ ...model, pending: 1 }).label, 'Swictation: transcribing');
  assert.equal(describeStatus({ ...model, pending: 0 }).label, 'Swictation: idle · 300 ms');
  assert.equal(describeStatus({ ...model, state: 'listening' }).label, 'Swictation: listening');
});

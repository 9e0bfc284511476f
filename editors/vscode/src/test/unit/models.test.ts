/** Models from the editor, the pure parts (models.ts): problems, serving, the quick pick, progress. */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { DownloadProgress, downloadOutcome, formatSize, modelPickItems, modelProblems, modelsToFix, servingLines } from '../../models';
import type { ModelInfo, ModelsResult } from '../../protocol';

function model(over: Partial<ModelInfo> & { name: string }): ModelInfo {
  return { title: over.name, roles: [], installed: false, path: null, size: null, approxSize: null, problem: null, inCatalogue: true, serving: [], ...over };
}

const RESULT: ModelsResult = {
  modelsDir: '/data/models',
  models: [
    model({ name: 'parakeet-tdt-110m', title: 'Parakeet TDT 110M', roles: ['fast'], approxSize: '~456 MB' }),
    model({ name: 'parakeet-tdt-0.6b-v3-int8', title: 'Parakeet TDT 0.6B v3', roles: ['accurate'], size: 487_200_000, installed: true, path: '/data/models/p', problem: 'encoder.onnx is missing' }),
    model({ name: 'tone', title: 'Tone test model', roles: ['fast'], size: 5321, installed: true, path: '/data/models/tone', serving: ['fast'] }),
    model({ name: 'mine', roles: [], installed: true, inCatalogue: false }),
  ],
  modes: [
    { mode: 'fast', model: 'parakeet-tdt-110m', installed: false, problem: 'parakeet-tdt-110m is not installed' },
    { mode: 'accurate', model: 'parakeet-tdt-0.6b-v3-int8', installed: true, problem: 'encoder.onnx is missing' },
  ],
};

describe('models', () => {
  test('each configured model that is missing or broken is one sentence naming mode and model', () => {
    assert.deepEqual(modelProblems(RESULT), [
      'fast mode: parakeet-tdt-110m is not installed.',
      'accurate mode: parakeet-tdt-0.6b-v3-int8: encoder.onnx is missing.',
    ]);
    assert.deepEqual(modelProblems({ ...RESULT, modes: RESULT.modes.map((m) => ({ ...m, problem: null })) }), []);
  });

  test('the downloads that fix them are the catalogue names configured', () => {
    assert.deepEqual(modelsToFix(RESULT), ['parakeet-tdt-110m', 'parakeet-tdt-0.6b-v3-int8']);
    const folder = { ...RESULT, modes: [{ mode: 'fast' as const, model: '/my/model', installed: false, problem: 'no such folder' }] };
    assert.deepEqual(modelsToFix(folder), [], 'a folder cannot be downloaded');
  });

  test('serving lines name mode, model and provider of ready models', () => {
    const lines = servingLines({
      engine: {
        ready: true,
        providers: [],
        models: [
          { mode: 'fast', name: 'whisper-tiny.en', backend: 'faster-whisper', provider: 'CPU', ready: true },
          { mode: 'accurate', name: 'parakeet-tdt-0.6b-v3-int8', backend: 'sherpa-onnx', provider: 'CPU', ready: false, problem: 'broken' },
        ],
      },
    });
    assert.deepEqual(lines, ['fast: whisper-tiny.en on CPU']);
  });

  test('a finished download says whether the engine serves the model, and why not (outside-14 F2)', () => {
    const base = { name: 'parakeet-tdt-110m', path: '/data/models/parakeet-tdt-110m', reloaded: true };
    const problem = 'Model parakeet-tdt-110m produced no text on its check clip (a known speech sample): it cannot transcribe.';
    assert.deepEqual(downloadOutcome({ ...base, serving: [], problem }), {
      level: 'warning',
      message: `Swictation: installed parakeet-tdt-110m in /data/models/parakeet-tdt-110m, but it cannot serve yet: ${problem}`,
    });
    assert.deepEqual(downloadOutcome({ ...base, serving: ['fast'], problem: null }), {
      level: 'info',
      message: 'Swictation: installed parakeet-tdt-110m in /data/models/parakeet-tdt-110m; the fast mode uses it now.',
    });
    assert.equal(downloadOutcome({ ...base, serving: ['fast', 'accurate'], problem: null }).message.endsWith('; the fast and accurate modes use it now.'), true);
    // Not configured for a mode (or an older server): installed, with no claim that it serves.
    assert.deepEqual(downloadOutcome({ ...base, reloaded: false, serving: [], problem: null }), {
      level: 'info',
      message: 'Swictation: installed parakeet-tdt-110m in /data/models/parakeet-tdt-110m.',
    });
    assert.equal(downloadOutcome(base).message, 'Swictation: installed parakeet-tdt-110m in /data/models/parakeet-tdt-110m.');
  });

  test('sizes: exact bytes in MB, estimates as published', () => {
    assert.equal(formatSize({ size: 487_200_000, approxSize: null }), '487.2 MB');
    assert.equal(formatSize({ size: 5321, approxSize: null }), '5.3 KB');
    assert.equal(formatSize({ size: 12, approxSize: null }), '12 bytes');
    assert.equal(formatSize({ size: null, approxSize: '~456 MB' }), '~456 MB');
    assert.equal(formatSize({ size: null, approxSize: null }), 'size unknown');
  });

  test('the quick pick: catalogue models with size and role, the ones that fix a problem first', () => {
    const items = modelPickItems(RESULT);
    assert.deepEqual(
      items.map((i) => [i.label, i.description, i.fixes, i.force]),
      [
        ['parakeet-tdt-0.6b-v3-int8', '487.2 MB · accurate', true, false],
        ['parakeet-tdt-110m', '~456 MB · fast', true, false],
        ['tone', '5.3 KB · fast', false, true],
      ],
    );
    assert.match(items[0].detail, /broken: encoder\.onnx is missing · configured for accurate mode/);
    assert.match(items[1].detail, /not installed · configured for fast mode/);
    assert.match(items[2].detail, /installed, serving fast/);
  });

  test('download progress: increments that add up to the percentage, never backwards', () => {
    const bar = new DownloadProgress();
    assert.equal(bar.increment(undefined), undefined);
    assert.equal(bar.increment(10), 10);
    assert.equal(bar.increment(35), 25);
    assert.equal(bar.increment(30), undefined);
    assert.equal(bar.increment(150), 65);
  });
});

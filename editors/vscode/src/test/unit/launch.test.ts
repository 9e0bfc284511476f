/** The pre-start check against real executables: the messages must name the fix. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { findOnPath, preflight } from '../../launch';
import { serverCommand } from '../../settings';
import { repoRoot } from '../paths';

const python = process.env.SWICTATION_PYTHON ?? path.join(repoRoot, '.venv', 'bin', 'python');
const systemPython = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p));

describe('preflight', () => {
  test('swictation-rpc missing from PATH: says how to install it or which setting to set', async (t) => {
    const saved = process.env.PATH;
    process.env.PATH = fs.mkdtempSync(path.join(os.tmpdir(), 'empty-path-'));
    t.after(() => {
      process.env.PATH = saved;
    });
    const failure = await preflight(serverCommand({ serverPath: '', interpreter: '' }));
    assert.ok(failure);
    assert.match(failure.message, /swictation-rpc was not found on PATH/);
    assert.match(failure.message, /pipx install swictation-rpc/);
    assert.match(failure.message, /swictation\.server\.interpreter/);
  });

  test('a server path that does not exist names the setting', async () => {
    const failure = await preflight(serverCommand({ serverPath: '/nonexistent/swictation-rpc', interpreter: '' }));
    assert.equal(failure?.setting, 'swictation.server.path');
    assert.match(failure?.message ?? '', /no executable there/);
  });

  test('a Python without swictation_rpc gets the pip command for that Python', { skip: systemPython ? false : 'no system python3' }, async (t) => {
    const probe = await preflight(serverCommand({ serverPath: '', interpreter: systemPython as string }));
    if (!probe) {
      t.skip(`${systemPython} has swictation_rpc installed`);
      return;
    }
    assert.equal(probe.setting, 'swictation.server.interpreter');
    assert.match(probe.message, /cannot import swictation_rpc \(ModuleNotFoundError/);
    assert.match(probe.message, new RegExp(`${systemPython} -m pip install swictation-rpc`));
  });

  test('the project venv passes', { skip: fs.existsSync(python) ? false : `${python} not found (set SWICTATION_PYTHON)` }, async (t) => {
    // The working tree's swictation_rpc, installed or not (the e2e tests run the server so too).
    const saved = process.env.PYTHONPATH;
    process.env.PYTHONPATH = [repoRoot, saved].filter(Boolean).join(path.delimiter);
    t.after(() => {
      if (saved === undefined) {
        delete process.env.PYTHONPATH;
      } else {
        process.env.PYTHONPATH = saved;
      }
    });
    assert.equal(await preflight(serverCommand({ serverPath: '', interpreter: python })), undefined);
  });
});

test('findOnPath finds executables only', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'path-'));
  fs.writeFileSync(path.join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'data'), 'x', { mode: 0o644 });
  assert.equal(findOnPath('tool', dir), path.join(dir, 'tool'));
  assert.equal(findOnPath('data', dir), undefined);
  assert.equal(findOnPath('missing', dir), undefined);
});

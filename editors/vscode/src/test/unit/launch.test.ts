/** The pre-start check against real executables: the messages must name the fix. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { findOnPath, misplacedSettingFailure, notAServerMessage, preflight } from '../../launch';
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
    assert.equal(failure.offerInstall, true, 'the message offers Install swictation-rpc');
  });

  test('the private environment, once installed, is the command when no setting names one', () => {
    const command = serverCommand({ serverPath: '', interpreter: '' }, { managedPython: '/g/server-env/bin/python' });
    assert.deepEqual(command, { command: '/g/server-env/bin/python', args: ['-m', 'swictation_rpc', 'serve', '--stdio'], source: 'managed' });
    assert.equal(serverCommand({ serverPath: '', interpreter: '/usr/bin/python3' }, { managedPython: '/g/x' }).source, 'interpreter', 'a setting wins');
  });

  test('a private environment that is gone offers to install again', async () => {
    const failure = await preflight(serverCommand({ serverPath: '', interpreter: '' }, { managedPython: '/nonexistent/server-env/bin/python' }));
    assert.match(failure?.message ?? '', /environment swictation-rpc was installed into is gone/);
    assert.equal(failure?.offerInstall, true);
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

describe('a command that starts but is not the server', () => {
  test('exits: one message with the command, its exit code and the last lines of its stderr', () => {
    const failure = notAServerMessage({
      command: '/tmp/not-a-server serve --stdio',
      exitCode: 3,
      stderr: 'starting\nline two\nboom\nfatal: no such thing\n',
      source: 'path',
    });
    assert.equal(
      failure.message,
      'The Swictation server command “/tmp/not-a-server serve --stdio” exited with code 3 before it answered “initialize”, so it is not the server. ' +
        'Its last output: line two / boom / fatal: no such thing. Check swictation.server.path: it must run the swictation-rpc server.',
    );
    assert.equal(failure.setting, 'swictation.server.path');
  });

  test('never answers, is killed, or prints nothing: each said as it happened', () => {
    assert.match(notAServerMessage({ command: 'cat', exitCode: null, silentForS: 60, stderr: '', source: 'path' }).message, /“cat” did not answer “initialize” within 60 s.*It printed nothing on stderr\./);
    assert.match(notAServerMessage({ command: 'x', exitCode: null, signal: 'SIGKILL', stderr: 'Killed', source: 'interpreter' }).message, /was ended by SIGKILL.*Killed\. Check swictation\.server\.interpreter/);
    assert.match(notAServerMessage({ command: 'x', exitCode: 1, stderr: '', source: 'managed' }).message, /Install or Upgrade Server/);
  });

  test('a real process: a Python that writes to stderr and exits 3 gives that message', { skip: fs.existsSync(python) ? false : `${python} not found` }, async () => {
    const { spawnSync } = await import('node:child_process');
    const args = ['-c', "import sys; sys.stderr.write('boom'); sys.exit(3)"];
    const run = spawnSync(python, args, { encoding: 'utf8' });
    const failure = notAServerMessage({ command: `${python} ${args.join(' ')}`, exitCode: run.status, stderr: run.stderr, source: 'path' });
    assert.match(failure.message, /exited with code 3 before it answered “initialize”, so it is not the server\. Its last output: boom\./);
  });
});

test('a machine setting in the User settings of a remote window is reported with where it belongs', () => {
  const failure = misplacedSettingFailure('server.path', '/opt/swictation/bin/swictation-rpc', 'code-server');
  assert.match(failure.message, /^swictation\.server\.path is set to "\/opt\/swictation\/bin\/swictation-rpc" in your User settings/);
  assert.match(failure.message, /remote window \(code-server\)/);
  assert.match(failure.message, /so it is ignored\. Move it to the Remote tab/);
  assert.equal(failure.setting, 'swictation.server.path');
});

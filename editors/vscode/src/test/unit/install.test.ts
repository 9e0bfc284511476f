/**
 * Installing the server from the editor, the pure parts (install.ts): which Python, the version
 * check, the pip commands with and without a GPU, what pip's output shows, the failure message.
 * The commands are also run for real where that is cheap: the version probe with this machine's
 * Python.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';

import {
  DEFAULT_PACKAGE_SPEC,
  VERSION_PROBE,
  cancelledMessage,
  choosePython,
  installStatusProgress,
  installSteps,
  installedMessage,
  isLocalPath,
  isSupported,
  parsePythonVersion,
  pipProgressMessage,
  specWithExtra,
  stepFailureMessage,
  venvPython,
} from '../../install';
import { findOnPath } from '../../launch';

describe('Python discovery and the version check', () => {
  test('versions are read from the probe and from `python --version`', () => {
    assert.deepEqual(parsePythonVersion('3.11.7\n'), [3, 11, 7]);
    assert.deepEqual(parsePythonVersion('Python 3.9.2'), [3, 9, 2]);
    assert.deepEqual(parsePythonVersion('Python 3.13'), [3, 13, 0]);
    assert.equal(parsePythonVersion('command not found'), undefined);
  });

  test('3.10 and newer are supported, 3.9 and Python 2 are not', () => {
    assert.ok(isSupported([3, 10, 0]));
    assert.ok(isSupported([3, 13, 1]));
    assert.ok(!isSupported([3, 9, 18]));
    assert.ok(!isSupported([2, 7, 18]));
  });

  test('the version probe really prints a version with this machine\'s Python', { skip: findOnPath('python3') ? false : 'no python3 on PATH' }, () => {
    const out = execFileSync(findOnPath('python3') as string, VERSION_PROBE, { encoding: 'utf8' });
    assert.ok(parsePythonVersion(out), out);
  });

  test('the first new enough candidate is chosen, in order', () => {
    const chosen = choosePython([
      { command: '/opt/py38/bin/python', origin: "the Python extension's interpreter", version: [3, 8, 10] },
      { command: '/usr/bin/python3', origin: 'python3 on PATH', version: [3, 11, 2] },
    ]);
    assert.equal(chosen.python?.command, '/usr/bin/python3');
    assert.equal(chosen.message, undefined);
  });

  test('no Python at all: one message that says what to install', () => {
    const { python, message } = choosePython([]);
    assert.equal(python, undefined);
    assert.match(message ?? '', /No Python was found/);
    assert.match(message ?? '', /no python3 on PATH/);
    assert.match(message ?? '', /Install Python 3\.10 or newer/);
  });

  test('only old or broken Pythons: the message names each with its version or error', () => {
    const { python, message } = choosePython([
      { command: '/opt/py38/bin/python', origin: "the Python extension's interpreter", version: [3, 8, 10] },
      { command: '/usr/bin/python3', origin: 'python3 on PATH', error: 'Segmentation fault' },
    ]);
    assert.equal(python, undefined);
    assert.match(message ?? '', /needs Python 3\.10 or newer/);
    assert.match(message ?? '', /the Python extension's interpreter \(\/opt\/py38\/bin\/python\) is Python 3\.8\.10/);
    assert.match(message ?? '', /python3 on PATH \(\/usr\/bin\/python3\) could not be run: Segmentation fault/);
  });
});

describe('pip commands', () => {
  test('the gpu extra goes after the name, into existing extras, or after a path', () => {
    assert.equal(specWithExtra('swictation-rpc', 'gpu'), 'swictation-rpc[gpu]');
    assert.equal(specWithExtra('swictation-rpc==0.2.0', 'gpu'), 'swictation-rpc[gpu]==0.2.0');
    assert.equal(specWithExtra('swictation-rpc[test]>=0.2', 'gpu'), 'swictation-rpc[test,gpu]>=0.2');
    assert.equal(specWithExtra('swictation-rpc[gpu]', 'gpu'), 'swictation-rpc[gpu]');
    assert.equal(specWithExtra('/src/swictation-rpc', 'gpu'), '/src/swictation-rpc[gpu]');
    assert.equal(specWithExtra('./dist/swictation_rpc-0.2.0-py3-none-any.whl', 'gpu'), './dist/swictation_rpc-0.2.0-py3-none-any.whl[gpu]');
    assert.equal(specWithExtra('https://example.org/swictation_rpc.whl', 'gpu'), 'https://example.org/swictation_rpc.whl', 'a URL is left alone');
  });

  test('local paths are told from names', () => {
    assert.ok(isLocalPath('/work/main'));
    assert.ok(isLocalPath('./checkout'));
    assert.ok(isLocalPath('~/src/swictation-rpc'));
    assert.ok(isLocalPath('C:\\src\\swictation-rpc'));
    assert.ok(!isLocalPath(DEFAULT_PACKAGE_SPEC));
    assert.ok(!isLocalPath('swictation-rpc==0.2'));
  });

  test('a first install without a GPU: venv, pip install, check', () => {
    const steps = installSteps({ python: '/usr/bin/python3', venvDir: '/g/server-env', spec: 'swictation-rpc', gpu: false, fresh: true, platform: 'linux' });
    assert.deepEqual(
      steps.map((s) => [s.command, ...s.args]),
      [
        ['/usr/bin/python3', '-m', 'venv', '/g/server-env'],
        ['/g/server-env/bin/python', '-m', 'pip', 'install', 'swictation-rpc', '--disable-pip-version-check'],
        ['/g/server-env/bin/python', '-c', 'import swictation_rpc; print(swictation_rpc.__version__)'],
      ],
    );
  });

  test('with an NVIDIA GPU: the gpu extra, then the README swap (onnxruntime out, onnxruntime-gpu in without deps)', () => {
    const steps = installSteps({ python: '/usr/bin/python3', venvDir: '/g/server-env', spec: '/src/checkout', gpu: true, fresh: true, platform: 'linux' });
    const lines = steps.map((s) => [s.command, ...s.args].join(' '));
    assert.deepEqual(lines.slice(1, 4), [
      '/g/server-env/bin/python -m pip install /src/checkout[gpu] --disable-pip-version-check',
      '/g/server-env/bin/python -m pip uninstall -y onnxruntime --disable-pip-version-check',
      '/g/server-env/bin/python -m pip install --force-reinstall --no-deps onnxruntime-gpu --disable-pip-version-check',
    ]);
  });

  test('an upgrade reuses the environment and passes --upgrade', () => {
    const steps = installSteps({ python: '', venvDir: '/g/server-env', spec: 'swictation-rpc', gpu: false, fresh: false, platform: 'linux' });
    assert.ok(!steps.some((s) => s.args.includes('venv')));
    assert.deepEqual(steps[0].args, ['-m', 'pip', 'install', '--upgrade', 'swictation-rpc', '--disable-pip-version-check']);
    assert.match(steps[0].title, /^Upgrading/);
  });

  test('the venv Python on Windows', () => {
    assert.equal(venvPython('C:\\g\\server-env', 'win32'), 'C:\\g\\server-env\\Scripts\\python.exe');
    assert.equal(venvPython('/g/server-env', 'linux'), '/g/server-env/bin/python');
  });
});

describe("pip's output and failures", () => {
  test('progress lines worth showing', () => {
    assert.equal(pipProgressMessage('Collecting sherpa-onnx>=2.0.1'), 'Collecting sherpa-onnx>=2.0.1');
    assert.equal(pipProgressMessage('  Downloading onnxruntime-1.20.1-cp311.whl (13.3 MB)'), 'Downloading onnxruntime-1.20.1-cp311.whl (13.3 MB)');
    assert.match(pipProgressMessage('Installing collected packages: numpy, swictation-rpc') ?? '', /^Installing collected packages/);
    assert.match(pipProgressMessage('Successfully installed swictation-rpc-0.1.0') ?? '', /^Successfully installed/);
    assert.equal(pipProgressMessage('  Requirement already satisfied: numpy in ./lib'), undefined);
    assert.equal(pipProgressMessage(''), undefined);
    assert.ok((pipProgressMessage(`Collecting ${'x'.repeat(300)}`) ?? '').length <= 120);
  });

  test('a failed step: one message with the command, its exit code and the last lines', () => {
    const step = { title: 'Installing', command: '/g/env/bin/python', args: ['-m', 'pip', 'install', 'swictation-rpc'] };
    const message = stepFailureMessage(step, 1, null, 'Collecting swictation-rpc\nERROR: Could not find a version that satisfies the requirement swictation-rpc\nERROR: No matching distribution found for swictation-rpc\n');
    assert.match(message, /^Installing swictation-rpc failed: \/g\/env\/bin\/python -m pip install swictation-rpc exited with code 1: /);
    assert.match(message, /No matching distribution found for swictation-rpc/);
    assert.match(message, /Show Logs/);
  });

  test('a Python without venv support is told how to get it', () => {
    const step = { title: 'venv', command: '/usr/bin/python3', args: ['-m', 'venv', '/g/env'] };
    const message = stepFailureMessage(step, 1, null, 'The virtual environment was not created successfully because ensurepip is not available.');
    assert.match(message, /apt install python3-venv/);
  });

  test('a step ended by a signal says so', () => {
    const step = { title: 'x', command: 'pip', args: [] };
    assert.match(stepFailureMessage(step, null, 'SIGKILL', ''), /was stopped by SIGKILL\./);
  });
});

describe('what the user reads while and after an install runs', () => {
  const steps = installSteps({ python: '/usr/bin/python3', venvDir: '/g/server-env', spec: 'swictation-rpc', gpu: false, fresh: true });

  test('the status item shows the step and pip\'s latest line', () => {
    assert.deepEqual(installStatusProgress(true, 0, steps), { title: 'Installing swictation-rpc', message: '1/3 Creating a private Python environment' });
    const later = installStatusProgress(true, 1, steps, 'Collecting numpy');
    assert.equal(later.message, '2/3 Installing swictation-rpc — Collecting numpy');
    assert.equal(installStatusProgress(false, 0, steps).title, 'Upgrading swictation-rpc');
  });

  test('success says it is installed and that the server starts', () => {
    assert.equal(installedMessage(true, '/g/server-env'), 'swictation-rpc installed (in /g/server-env); starting the server.');
    assert.match(installedMessage(false, '/g/server-env'), /^swictation-rpc upgraded .*restarting the server\.$/);
  });

  test('a cancelled first install says nothing is installed only when its environment is gone', () => {
    assert.equal(cancelledMessage(true, '/g/server-env'), 'Installing swictation-rpc was cancelled; the partial environment was removed, so nothing is installed.');
    const left = cancelledMessage(true, '/g/server-env', { error: 'EBUSY' });
    assert.match(left, /could not be removed \(EBUSY\); delete it/);
    assert.match(left, /\/g\/server-env/);
    assert.doesNotMatch(left, /nothing is installed/);
    assert.match(cancelledMessage(false, '/g/server-env'), /half upgraded/);
  });
});

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import type { ConfigSource } from '../../settings';
import {
  CLIENT_KEYS,
  MACHINE_KEYS,
  parseJsonc,
  cliCommand,
  displayCommand,
  readClientSettings,
  requiresRestart,
  resolveVariables,
  sameJson,
  serverCommand,
  serverKeys,
  serverOptions,
} from '../../settings';
import { extensionRoot } from '../paths';

interface Property {
  type?: string | string[];
  default?: unknown;
  enum?: unknown[];
  enumDescriptions?: string[];
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  markdownDescription?: string;
  description?: string;
}

const packageJson = JSON.parse(fs.readFileSync(path.join(extensionRoot, 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, Property> } };
};
const properties = packageJson.contributes.configuration.properties;

/** A ConfigSource over plain objects: `user` is what the user set, defaults come from package.json. */
function source(user: Record<string, unknown>): ConfigSource {
  return {
    get: <T>(key: string) => (key in user ? user[key] : properties[`swictation.${key}`]?.default) as T | undefined,
    explicit: (key: string) => user[key],
  };
}

describe('readClientSettings', () => {
  test('defaults come from package.json', () => {
    assert.deepEqual(readClientSettings(source({})), {
      serverPath: '',
      interpreter: '',
      startOnStartup: true,
      packageSpec: 'swictation-rpc',
      notifications: 'onWarning',
      contextMaxChars: 200,
      contextMaxIdentifiers: 200,
      ghostText: true,
      announce: true,
      defaultMode: 'auto',
      applyEdits: 'client',
    });
  });
  test('a value outside its union falls back to the default', () => {
    const s = readClientSettings(source({ notifications: 'loud', defaultMode: 'turbo', 'context.maxChars': 'many' }));
    assert.equal(s.notifications, 'onWarning');
    assert.equal(s.defaultMode, 'auto');
    assert.equal(s.contextMaxChars, 200);
  });
  test('numbers are clamped to their range and paths trimmed', () => {
    const s = readClientSettings(source({ 'context.maxChars': 99999, 'server.interpreter': '  /usr/bin/python3 ' }));
    assert.equal(s.contextMaxChars, 2000);
    assert.equal(s.interpreter, '/usr/bin/python3');
  });
});

describe('serverOptions', () => {
  const keys = serverKeys(Object.keys(properties));

  test('the server keys are every swictation.* setting but the client ones', () => {
    assert.ok(keys.includes('models.fast'));
    assert.ok(keys.includes('vad.autoStopSilenceMs'));
    for (const client of CLIENT_KEYS) {
      assert.ok(!keys.includes(client), client);
    }
    assert.equal(keys.length + CLIENT_KEYS.length, Object.keys(properties).length);
  });
  test('only settings the user set are sent, nested camelCase like options.py', () => {
    const tree = serverOptions(keys, source({ 'engine.numThreads': 4, defaultMode: 'fast', 'vad.autoStopSilenceMs': 800, notifications: 'off' }));
    assert.deepEqual(tree, { engine: { numThreads: 4 }, defaultMode: 'fast', vad: { autoStopSilenceMs: 800 } });
  });
  test('nothing set sends an empty tree (the server keeps its defaults)', () => {
    assert.deepEqual(serverOptions(keys, source({})), {});
  });
  test('per-phrase commit and sounds go to the server; announce stays with the client', () => {
    assert.ok(keys.includes('dictation.commit') && keys.includes('signals.sounds'));
    assert.ok(!keys.includes('signals.announce'));
    const tree = serverOptions(keys, source({ 'dictation.commit': 'perPhrase', 'signals.sounds': false, 'signals.announce': false }));
    assert.deepEqual(tree, { dictation: { commit: 'perPhrase' }, signals: { sounds: false } });
    assert.equal(readClientSettings(source({ 'signals.announce': false })).announce, false);
  });
  test('an explicit null is sent (it means the system default device)', () => {
    assert.deepEqual(serverOptions(keys, source({ 'audio.inputDevice': null })), { audio: { inputDevice: null } });
  });
});

describe('serverCommand', () => {
  test('default: swictation-rpc serve --stdio from PATH', () => {
    assert.deepEqual(serverCommand({ serverPath: '', interpreter: '' }), { command: 'swictation-rpc', args: ['serve', '--stdio'], source: 'default' });
  });
  test('an interpreter runs the module', () => {
    assert.deepEqual(serverCommand({ serverPath: '', interpreter: '/venv/bin/python' }), {
      command: '/venv/bin/python',
      args: ['-m', 'swictation_rpc', 'serve', '--stdio'],
      source: 'interpreter',
    });
  });
  test('the path wins over the interpreter', () => {
    assert.equal(serverCommand({ serverPath: '/opt/swictation-rpc', interpreter: '/venv/bin/python' }).command, '/opt/swictation-rpc');
  });
  test('variables and ~ are resolved', () => {
    const ctx = { home: '/home/ada', workspaceFolder: '/src/app' };
    assert.equal(serverCommand({ serverPath: '', interpreter: '${workspaceFolder}/.venv/bin/python' }, ctx).command, '/src/app/.venv/bin/python');
    assert.equal(resolveVariables('~/bin/swictation-rpc', ctx), '/home/ada/bin/swictation-rpc');
    assert.equal(resolveVariables('${userHome}/x', ctx), '/home/ada/x');
  });
  test('other subcommands run the same way', () => {
    const viaPython = serverCommand({ serverPath: '', interpreter: '/venv/bin/python' });
    assert.deepEqual(cliCommand(viaPython, ['models', 'download', 'x']), {
      command: '/venv/bin/python',
      args: ['-m', 'swictation_rpc', 'models', 'download', 'x'],
    });
    assert.deepEqual(cliCommand(serverCommand({ serverPath: '', interpreter: '' }), ['models', 'list']), {
      command: 'swictation-rpc',
      args: ['models', 'list'],
    });
  });
  test('display quotes what a shell would need quoted', () => {
    assert.equal(displayCommand('/my python/bin/python', ['-c', "print('x')"]), `'/my python/bin/python' -c 'print('\\''x'\\'')'`);
  });
});

describe('requiresRestart', () => {
  const base = readClientSettings(source({}));
  test('only a change of the server command restarts the server', () => {
    assert.equal(requiresRestart(base, { ...base, interpreter: '/venv/bin/python' }), true);
    assert.equal(requiresRestart(base, { ...base, serverPath: '/opt/x' }), true);
    assert.equal(requiresRestart(base, { ...base, defaultMode: 'fast', notifications: 'off' }), false);
  });
  test('sameJson compares settings trees deeply', () => {
    assert.equal(sameJson({ a: { b: [1, 2] } }, { a: { b: [1, 2] } }), true);
    assert.equal(sameJson({ a: { b: 1 } }, { a: { b: 2 } }), false);
    assert.equal(sameJson({ a: 1 }, { a: 1, b: undefined }), false);
  });
});

describe('package.json settings', () => {
  test('every string-literal union has a description per value', () => {
    for (const [name, prop] of Object.entries(properties)) {
      if (prop.enum) {
        assert.equal(prop.enumDescriptions?.length, prop.enum.length, `${name}: enumDescriptions`);
      }
      assert.ok(prop.markdownDescription || prop.description, `${name}: description`);
    }
  });
});

describe('settings.json as VS Code writes it', () => {
  test('comments and trailing commas are read, // inside strings kept', () => {
    const parsed = parseJsonc('{\n  // the server\n  "swictation.server.path": "/opt/x//y", /* why */\n  "a": [1, 2,],\n}\n');
    assert.deepEqual(parsed, { 'swictation.server.path': '/opt/x//y', a: [1, 2] });
    assert.equal(parseJsonc('not json'), undefined);
    assert.equal(parseJsonc('[1]'), undefined);
  });

  test('the machine settings are the ones package.json scopes to the machine', () => {
    const machine = Object.entries(properties as Record<string, Property & { scope?: string }>)
      .filter(([, p]) => p.scope === 'machine' || p.scope === 'machine-overridable')
      .map(([k]) => k.slice('swictation.'.length))
      .sort();
    assert.deepEqual([...MACHINE_KEYS].sort(), machine);
  });
});

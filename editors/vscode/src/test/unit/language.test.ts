/**
 * `swictation.language` (and `swictation.text.cleanup`) reach the server: they are server keys,
 * sent in initializationOptions when the user set them, and a change makes a different tree,
 * which extension.ts pushes with workspace/didChangeConfiguration (section `swictation`).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import type { ConfigSource } from '../../settings';
import { CLIENT_KEYS, SECTION, sameJson, serverKeys, serverOptions } from '../../settings';
import { extensionRoot } from '../paths';

interface Property {
  type?: string;
  default?: unknown;
}

const properties = (
  JSON.parse(fs.readFileSync(path.join(extensionRoot, 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, Property> } };
  }
).contributes.configuration.properties;
const keys = serverKeys(Object.keys(properties));

/** What VS Code would answer with `user` as the user's settings (defaults from package.json). */
function source(user: Record<string, unknown>): ConfigSource {
  return {
    get: <T>(key: string) => (key in user ? user[key] : properties[`${SECTION}.${key}`]?.default) as T | undefined,
    explicit: (key: string) => user[key],
  };
}

/** The settings as extension.ts hands them to the client: initializationOptions, and the push on a change. */
function wire(before: Record<string, unknown>, after: Record<string, unknown>) {
  const initializationOptions = serverOptions(keys, source(before));
  const next = serverOptions(keys, source(after));
  const pushed = sameJson(initializationOptions, next) ? undefined : { settings: { [SECTION]: next } };
  return { initializationOptions, pushed };
}

describe('swictation.language', () => {
  test('is a server setting, a string defaulting to auto like the server', () => {
    assert.ok(keys.includes('language'));
    assert.ok(!(CLIENT_KEYS as readonly string[]).includes('language'));
    assert.equal(properties['swictation.language'].type, 'string');
    assert.equal(properties['swictation.language'].default, 'auto');
  });

  test('a language the user set goes in initializationOptions, at the top of the tree', () => {
    assert.deepEqual(wire({ language: 'de' }, { language: 'de' }), { initializationOptions: { language: 'de' }, pushed: undefined });
  });

  test('left at its default it is not sent: the server keeps its own default (auto)', () => {
    assert.deepEqual(serverOptions(keys, source({})), {});
  });

  test('a change is pushed with workspace/didChangeConfiguration, the rest of the tree with it', () => {
    const { pushed } = wire({ language: 'de', defaultMode: 'fast' }, { language: 'es', defaultMode: 'fast' });
    assert.deepEqual(pushed, { settings: { swictation: { language: 'es', defaultMode: 'fast' } } });
  });

  test('going back to the default pushes a tree without it (the server returns to auto)', () => {
    const { pushed } = wire({ language: 'de' }, {});
    assert.deepEqual(pushed, { settings: { swictation: {} } });
  });

  test('text.cleanup goes with it, nested as on the wire', () => {
    assert.ok(keys.includes('text.cleanup'));
    assert.deepEqual(serverOptions(keys, source({ language: 'de', 'text.cleanup': false })), {
      language: 'de',
      text: { cleanup: false },
    });
  });
});

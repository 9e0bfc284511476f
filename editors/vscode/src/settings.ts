/**
 * Settings: the typed view of `swictation.*` and how it maps to the server.
 *
 * Two kinds of setting live under `swictation.`: the client's own (how to launch the server,
 * notifications, context sent with utterances — `CLIENT_KEYS`) and the server's configuration
 * tree (everything else, camelCase, the same tree as swictation_rpc/options.py). Which keys exist
 * is read from package.json's `contributes.configuration`, so the two cannot drift apart; a unit
 * test checks package.json against schemas/config.schema.json.
 *
 * Pure: the VS Code configuration reaches this module through `ConfigSource`.
 */
import * as os from 'node:os';
import * as path from 'node:path';

import type { Mode } from './protocol';

export const SECTION = 'swictation';

export type NotificationLevel = 'off' | 'onError' | 'onWarning' | 'always';
export const NOTIFICATION_LEVELS: readonly NotificationLevel[] = ['off', 'onError', 'onWarning', 'always'];
export const MODES: readonly Mode[] = ['fast', 'accurate', 'auto'];

/** Settings the extension itself uses; never sent to the server. */
export const CLIENT_KEYS = [
  'server.path',
  'server.interpreter',
  'server.startOnStartup',
  'server.packageSpec',
  'notifications',
  'context.maxChars',
  'context.maxIdentifiers',
  'ghostText',
  'trace.server',
  'signals.announce',
] as const;

/** The settings that change the server command; a change of any of them restarts the server. */
export const RESTART_KEYS = ['server.path', 'server.interpreter'] as const;

export interface ClientSettings {
  serverPath: string;
  interpreter: string;
  startOnStartup: boolean;
  /** What “Install swictation-rpc” gives pip (a name, a version spec, a local checkout or wheel). */
  packageSpec: string;
  notifications: NotificationLevel;
  contextMaxChars: number;
  contextMaxIdentifiers: number;
  ghostText: boolean;
  /** Announce inserted text in the status bar, for screen readers (`signals.announce`). */
  announce: boolean;
  /** The server's `defaultMode`, which the status item shows. */
  defaultMode: Mode;
  /** The server's `applyEdits`: `server` means the server applies utterances itself. */
  applyEdits: 'client' | 'server';
}

/** How settings are read; keys are relative to `swictation.` (e.g. `server.path`). */
export interface ConfigSource {
  /** The effective value: user, workspace or folder value, else the default from package.json. */
  get<T>(key: string): T | undefined;
  /** The value the user set (any scope), or `undefined` when it is the default. */
  explicit(key: string): unknown;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

function integer(value: unknown, fallback: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return fallback;
  }
  return Math.min(max, Math.max(min, Math.floor(value)));
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

export function readClientSettings(source: ConfigSource): ClientSettings {
  return {
    serverPath: text(source.get('server.path')),
    interpreter: text(source.get('server.interpreter')),
    startOnStartup: source.get<boolean>('server.startOnStartup') !== false,
    packageSpec: text(source.get('server.packageSpec')) || 'swictation-rpc',
    notifications: oneOf(source.get('notifications'), NOTIFICATION_LEVELS, 'onWarning'),
    contextMaxChars: integer(source.get('context.maxChars'), 200, 0, 2000),
    contextMaxIdentifiers: integer(source.get('context.maxIdentifiers'), 200, 0, 2000),
    ghostText: source.get<boolean>('ghostText') !== false,
    announce: source.get<boolean>('signals.announce') !== false,
    defaultMode: oneOf(source.get('defaultMode'), MODES, 'auto'),
    applyEdits: oneOf(source.get('applyEdits'), ['client', 'server'] as const, 'client'),
  };
}

/**
 * The server's keys among package.json's configuration property names (`swictation.models.fast`
 * → `models.fast`): everything under `swictation.` that is not a client key.
 */
export function serverKeys(propertyNames: Iterable<string>): string[] {
  const client = new Set<string>(CLIENT_KEYS);
  const keys: string[] = [];
  for (const name of propertyNames) {
    if (!name.startsWith(`${SECTION}.`)) {
      continue;
    }
    const key = name.slice(SECTION.length + 1);
    if (!client.has(key)) {
      keys.push(key);
    }
  }
  return keys.sort();
}

/** Put `value` at a dotted path in a nested object, creating the sections on the way. */
export function setPath(tree: Record<string, unknown>, dottedKey: string, value: unknown): void {
  const parts = dottedKey.split('.');
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      node[part] = {};
    }
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

/**
 * The server's configuration tree (camelCase, nested like swictation_rpc/options.py), with only
 * the settings the user set: the server's own defaults fill the rest, so an older or newer
 * server never sees a key it does not know unless the user wrote it.
 */
export function serverOptions(keys: Iterable<string>, source: ConfigSource): Record<string, unknown> {
  const tree: Record<string, unknown> = {};
  for (const key of keys) {
    const value = source.explicit(key);
    if (value !== undefined) {
      setPath(tree, key, value);
    }
  }
  return tree;
}

/** Deep equality for JSON values (settings trees). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) {
    return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return false;
  }
  if (Array.isArray(a) !== Array.isArray(b)) {
    return false;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) {
    return false;
  }
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

export interface ServerCommand {
  command: string;
  args: string[];
  /**
   * Which setting chose it, for messages that tell the user what to change; `managed`: the
   * private environment “Install swictation-rpc” made.
   */
  source: 'path' | 'interpreter' | 'managed' | 'default';
}

export const DEFAULT_EXECUTABLE = 'swictation-rpc';
export const SERVE_ARGS = ['serve', '--stdio'];

export interface PathContext {
  home?: string;
  workspaceFolder?: string;
  /** The Python of the private environment the extension installed the server into, if it did. */
  managedPython?: string;
}

/** `~`, `${userHome}` and `${workspaceFolder}` in a path setting, as users write them. */
export function resolveVariables(value: string, context: PathContext = {}): string {
  const home = context.home ?? os.homedir();
  let result = value.replace(/\$\{userHome\}/g, home);
  if (context.workspaceFolder !== undefined) {
    result = result.replace(/\$\{workspaceFolder\}/g, context.workspaceFolder);
  }
  if (result === '~' || result.startsWith('~/') || result.startsWith('~\\')) {
    result = path.join(home, result.slice(1));
  }
  return result;
}

/**
 * The command that starts the server: `swictation.server.path`, else
 * `<interpreter> -m swictation_rpc serve --stdio`, else the private environment's Python the same
 * way (once “Install swictation-rpc” made one), else `swictation-rpc serve --stdio` from PATH.
 */
export function serverCommand(settings: Pick<ClientSettings, 'serverPath' | 'interpreter'>, context: PathContext = {}): ServerCommand {
  if (settings.serverPath) {
    return { command: resolveVariables(settings.serverPath, context), args: [...SERVE_ARGS], source: 'path' };
  }
  if (settings.interpreter) {
    return {
      command: resolveVariables(settings.interpreter, context),
      args: ['-m', 'swictation_rpc', ...SERVE_ARGS],
      source: 'interpreter',
    };
  }
  if (context.managedPython) {
    return { command: context.managedPython, args: ['-m', 'swictation_rpc', ...SERVE_ARGS], source: 'managed' };
  }
  return { command: DEFAULT_EXECUTABLE, args: [...SERVE_ARGS], source: 'default' };
}

/** The command line to run another `swictation-rpc` subcommand the same way (e.g. `models download`). */
export function cliCommand(server: ServerCommand, args: string[]): { command: string; args: string[] } {
  const prefix = server.source === 'interpreter' || server.source === 'managed' ? ['-m', 'swictation_rpc'] : [];
  return { command: server.command, args: [...prefix, ...args] };
}

/** Whether a settings change needs a new server process (only the server command does). */
export function requiresRestart(previous: ClientSettings, next: ClientSettings): boolean {
  return previous.serverPath !== next.serverPath || previous.interpreter !== next.interpreter;
}

/** Quote one argument for display in a message (POSIX shell rules; display only). */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function displayCommand(command: string, args: readonly string[]): string {
  return [command, ...args].map(shellQuote).join(' ');
}

/** Settings that only the machine's own settings may hold (package.json `scope: machine-overridable`). */
export const MACHINE_KEYS = ['server.path', 'server.interpreter', 'models.modelsDir'] as const;

/**
 * Parse a settings.json (JSON with comments and trailing commas, as VS Code writes it);
 * undefined when it cannot be read as an object.
 */
export function parseJsonc(text: string): Record<string, unknown> | undefined {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') {
        out += text[++i] ?? '';
      } else if (c === '"') {
        inString = false;
      }
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') {
        i++;
      }
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2);
      if (i < 0) {
        break;
      }
      i++;
    } else {
      out += c;
    }
  }
  try {
    const value: unknown = JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How the server is launched and whether it can be: the command from the settings, and a check
 * run before starting it, so the user gets one clear message with the fix instead of a
 * connection error. No VS Code import (unit-tested in plain Node against real executables).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { ServerCommand } from './settings';
import { DEFAULT_EXECUTABLE, SECTION, displayCommand } from './settings';

export interface StartFailure {
  /** One sentence saying what is wrong and how to fix it. */
  message: string;
  /** The setting that fixes it, if one does. */
  setting?: string;
  detail?: string;
}

/** Find an executable on PATH (what `spawn` would run), or undefined. */
export function findOnPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/') || name.includes('\\')) {
    return isExecutable(name) ? name : undefined;
  }
  const exts = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';') : [''];
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function run(command: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ ok: !error, output: `${stdout}${stderr}`.trim() || (error ? String(error.message) : '') });
    });
  });
}

export function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

/**
 * Check that `command` can start before starting it, so the user gets one clear message with the
 * fix instead of a connection error. Returns undefined when it looks fine.
 */
export async function preflight(command: ServerCommand): Promise<StartFailure | undefined> {
  switch (command.source) {
    case 'path':
      if (!isExecutable(command.command)) {
        return {
          message: `swictation.server.path is set to “${command.command}”, but there is no executable there. Set it to the swictation-rpc executable, or clear it to use swictation-rpc from PATH.`,
          setting: `${SECTION}.server.path`,
        };
      }
      return undefined;
    case 'interpreter': {
      if (!isExecutable(command.command)) {
        return {
          message: `swictation.server.interpreter is set to “${command.command}”, which is not an executable Python. Set it to a Python that has swictation-rpc installed.`,
          setting: `${SECTION}.server.interpreter`,
        };
      }
      const probe = await run(command.command, ['-c', 'import swictation_rpc'], 60_000);
      if (!probe.ok) {
        return {
          message: `The Python at “${command.command}” cannot import swictation_rpc (${lastLine(probe.output) || 'it failed'}). Install it there with: ${displayCommand(command.command, ['-m', 'pip', 'install', 'swictation-rpc'])}`,
          setting: `${SECTION}.server.interpreter`,
          detail: probe.output,
        };
      }
      return undefined;
    }
    default:
      if (!findOnPath(command.command)) {
        return {
          message: `${DEFAULT_EXECUTABLE} was not found on PATH. Install it with “pipx install swictation-rpc” (or “pip install swictation-rpc”), or set swictation.server.interpreter to a Python that has it.`,
          setting: `${SECTION}.server`,
        };
      }
      return undefined;
  }
}


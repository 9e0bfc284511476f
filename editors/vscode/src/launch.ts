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
  /** No server was found: the message offers “Install swictation-rpc”. */
  offerInstall?: boolean;
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
    case 'managed':
      if (!isExecutable(command.command)) {
        return {
          message: `The environment swictation-rpc was installed into is gone (no ${command.command}). Install it again.`,
          setting: `${SECTION}.server`,
          offerInstall: true,
        };
      }
      return undefined;
    default:
      if (!findOnPath(command.command)) {
        return {
          message: `${DEFAULT_EXECUTABLE} was not found on PATH. Install it here (into a private environment of the extension), or with “pipx install swictation-rpc”, or set swictation.server.interpreter to a Python that has it.`,
          setting: `${SECTION}.server`,
          offerInstall: true,
        };
      }
      return undefined;
  }
}


/** How a started command ended without becoming the server. */
export interface NotAServer {
  /** The command line as shown to the user. */
  command: string;
  /** The exit code, or null when a signal ended it or it is still running. */
  exitCode: number | null;
  signal?: string | null;
  /** It did not exit, but never answered `initialize` within this many seconds. */
  silentForS?: number;
  /** Its stderr (the last lines are quoted). */
  stderr: string;
  /** Which setting chose the command. */
  source: ServerCommand['source'];
}

const STDERR_LINES_QUOTED = 3;

/**
 * The one message for a command that started but is not the server: it names the command, how it
 * ended (exit code or signal, or that it never answered) and the last lines of its stderr.
 */
export function notAServerMessage(failure: NotAServer): StartFailure {
  const lines = failure.stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-STDERR_LINES_QUOTED);
  let how: string;
  if (failure.silentForS !== undefined) {
    how = `did not answer “initialize” within ${failure.silentForS} s`;
  } else if (failure.exitCode !== null) {
    how = `exited with code ${failure.exitCode} before it answered “initialize”`;
  } else if (failure.signal) {
    how = `was ended by ${failure.signal} before it answered “initialize”`;
  } else {
    how = 'closed the connection before it answered “initialize”';
  }
  const said = lines.length ? ` Its last output: ${lines.join(' / ')}` : ' It printed nothing on stderr.';
  const setting =
    failure.source === 'path'
      ? `${SECTION}.server.path`
      : failure.source === 'interpreter'
        ? `${SECTION}.server.interpreter`
        : `${SECTION}.server`;
  const fix =
    failure.source === 'path' || failure.source === 'interpreter'
      ? ` Check ${setting}: it must run the swictation-rpc server.`
      : ' Reinstall it (“Swictation: Install or Upgrade Server”) or see “Swictation: Show Logs”.';
  return {
    message: `The Swictation server command “${failure.command}” ${how}, so it is not the server.${/[.!?]$/.test(said) ? said : `${said}.`}${fix}`,
    setting,
    detail: failure.stderr,
  };
}

/**
 * A machine setting written where this window does not read it: in the User settings of a remote
 * window (code-server is one), where VS Code reads machine settings from the Remote tab only.
 */
export function misplacedSettingFailure(key: string, value: unknown, remoteName: string): StartFailure {
  const full = `${SECTION}.${key}`;
  return {
    message: `${full} is set to ${JSON.stringify(value)} in your User settings, but this is a remote window (${remoteName}), which reads ${full} only from the Remote settings of the machine the server runs on, so it is ignored. Move it to the Remote tab (Open settings).`,
    setting: full,
  };
}

/**
 * Installing the server from the editor, the pure parts: which Python, whether it is new enough,
 * the pip commands (with the `gpu` extra and the README's onnxruntime-gpu swap), what pip's output
 * says while it runs, and the messages the user reads. installer.ts runs them. No VS Code import.
 */
import * as path from 'node:path';

import { displayCommand } from './settings';

/** The oldest Python the project supports (pyproject.toml `requires-python`). */
export const MIN_PYTHON: readonly [number, number] = [3, 10];
export const DEFAULT_PACKAGE_SPEC = 'swictation-rpc';
/** Prints `major.minor.micro`: the version probe run with each candidate Python. */
export const VERSION_PROBE = ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'];

export type Version = [number, number, number];

/** `3.11.7` (or `Python 3.11.7`, as `python --version` says) -> [3, 11, 7]. */
export function parsePythonVersion(output: string): Version | undefined {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) {
    return undefined;
  }
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

export function isSupported(version: Version): boolean {
  return version[0] > MIN_PYTHON[0] || (version[0] === MIN_PYTHON[0] && version[1] >= MIN_PYTHON[1]);
}

/** A Python the installer may use, and where it came from (said in messages). */
export interface PythonCandidate {
  command: string;
  /** e.g. "the Python extension's interpreter", "python3 on PATH". */
  origin: string;
}

/** What probing a candidate found: its version, or why it could not be run. */
export interface ProbedPython extends PythonCandidate {
  version?: Version;
  error?: string;
}

const minText = `${MIN_PYTHON[0]}.${MIN_PYTHON[1]}`;

/**
 * The first candidate that is new enough, or the one message that says why none is: none found
 * at all, or each one's version or error.
 */
export function choosePython(probed: readonly ProbedPython[]): { python?: ProbedPython; message?: string } {
  const good = probed.find((p) => p.version && isSupported(p.version));
  if (good) {
    return { python: good };
  }
  if (probed.length === 0) {
    return {
      message: `No Python was found to install swictation-rpc with: the Python extension is not installed and there is no python3 on PATH. Install Python ${minText} or newer (python.org or your package manager), then run “Swictation: Install or Upgrade Server”.`,
    };
  }
  const found = probed.map((p) =>
    p.version ? `${p.origin} (${p.command}) is Python ${p.version.join('.')}` : `${p.origin} (${p.command}) could not be run: ${p.error ?? 'no version'}`,
  );
  return {
    message: `swictation-rpc needs Python ${minText} or newer: ${found.join('; ')}. Install a newer Python (or select one with “Python: Select Interpreter”), then run “Swictation: Install or Upgrade Server”.`,
  };
}

/** The venv's Python (`bin/python`, `Scripts\python.exe` on Windows). */
export function venvPython(venvDir: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? path.win32.join(venvDir, 'Scripts', 'python.exe') : path.posix.join(venvDir, 'bin', 'python');
}

/** Whether a pip spec is a local path (a checkout or a wheel) rather than a name or a URL. */
export function isLocalPath(spec: string): boolean {
  return /^(\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:[\\/])/.test(spec) || spec === '.' || spec === '..';
}

/**
 * `spec` with the extra added: `swictation-rpc` -> `swictation-rpc[gpu]`, `swictation-rpc==0.2`
 * -> `swictation-rpc[gpu]==0.2`, a path `/src/swictation-rpc` -> `/src/swictation-rpc[gpu]`,
 * existing extras kept. A URL cannot carry an extra this way: returned unchanged.
 */
export function specWithExtra(spec: string, extra: string): string {
  const trimmed = spec.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) || trimmed.includes(' @ ')) {
    return trimmed;
  }
  const local = isLocalPath(trimmed);
  const match = local ? /^(.*?)(?:\[([^\]]*)\])?$/.exec(trimmed) : /^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[([^\]]*)\])?(.*)$/.exec(trimmed);
  if (!match) {
    return trimmed;
  }
  const [, base, extras = '', rest = ''] = match;
  const all = extras
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (!all.includes(extra)) {
    all.push(extra);
  }
  return `${base}[${all.join(',')}]${rest}`;
}

export interface InstallOptions {
  /** The Python that creates the venv. */
  python: string;
  venvDir: string;
  /** `swictation.server.packageSpec`. */
  spec: string;
  /** An NVIDIA GPU is present (`nvidia-smi` succeeded). */
  gpu: boolean;
  /** Create the venv first (there is none yet); otherwise upgrade in the existing one. */
  fresh: boolean;
  platform?: NodeJS.Platform;
}

export interface InstallStep {
  /** Shown in the progress notification. */
  title: string;
  command: string;
  args: string[];
}

/**
 * The commands that install (or upgrade) the server into the private venv, in order. With a GPU,
 * the README's swap: the `gpu` extra, then onnxruntime (CPU, from faster-whisper) out and
 * onnxruntime-gpu in again without its dependencies, so exactly one onnxruntime remains.
 */
export function installSteps(options: InstallOptions): InstallStep[] {
  const py = venvPython(options.venvDir, options.platform);
  const spec = options.gpu ? specWithExtra(options.spec, 'gpu') : options.spec.trim();
  const pip = (...args: string[]) => ['-m', 'pip', ...args, '--disable-pip-version-check'];
  const steps: InstallStep[] = [];
  if (options.fresh) {
    steps.push({ title: 'Creating a private Python environment', command: options.python, args: ['-m', 'venv', options.venvDir] });
  }
  steps.push({
    title: `${options.fresh ? 'Installing' : 'Upgrading'} ${spec}`,
    command: py,
    args: pip('install', ...(options.fresh ? [] : ['--upgrade']), spec),
  });
  if (options.gpu) {
    steps.push({ title: 'Removing the CPU onnxruntime', command: py, args: pip('uninstall', '-y', 'onnxruntime') });
    steps.push({
      title: 'Installing onnxruntime-gpu',
      command: py,
      args: pip('install', '--force-reinstall', '--no-deps', 'onnxruntime-gpu'),
    });
  }
  steps.push({ title: 'Checking the installation', command: py, args: ['-c', 'import swictation_rpc; print(swictation_rpc.__version__)'] });
  return steps;
}

/** A short progress message for a line of pip's output, or undefined for lines not worth showing. */
export function pipProgressMessage(line: string): string | undefined {
  const text = line.trim();
  const match =
    /^(Collecting|Downloading|Processing|Building wheels? for|Installing build dependencies|Installing collected packages|Successfully installed|Preparing metadata)\b.*$/.exec(
      text,
    );
  if (!match) {
    return undefined;
  }
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

/** The one message for a step that failed: what it ran, its exit code, the last lines it printed. */
export function stepFailureMessage(step: InstallStep, exitCode: number | null, signal: string | null, outputTail: string): string {
  const how = exitCode !== null ? `exited with code ${exitCode}` : `was stopped by ${signal ?? 'a signal'}`;
  const tail = lastLines(outputTail, 3);
  const hint = /ensurepip is not available|No module named venv/.test(outputTail)
    ? ' This Python cannot create environments: install its venv module (on Debian/Ubuntu: apt install python3-venv).'
    : '';
  return `Installing swictation-rpc failed: ${displayCommand(step.command, step.args)} ${how}${tail ? `: ${tail}` : ''}.${hint} The full output is in “Swictation: Show Logs”.`;
}

/** The last `count` non-empty lines of `text`, joined with “ / ”. */
export function lastLines(text: string, count: number): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.slice(-count).join(' / ');
}

/**
 * What the status item shows while an install runs: the step (`2/3 Installing …`) and, once pip
 * prints one, its latest progress line.
 */
export function installStatusProgress(
  fresh: boolean,
  index: number,
  steps: readonly InstallStep[],
  pipLine?: string,
): { title: string; message: string } {
  const step = steps[index];
  return {
    title: fresh ? 'Installing swictation-rpc' : 'Upgrading swictation-rpc',
    message: `${index + 1}/${steps.length} ${step?.title ?? ''}${pipLine ? ` — ${pipLine}` : ''}`.trim(),
  };
}

/** The one message after a successful install; the server starts next. */
export function installedMessage(fresh: boolean, venvDir: string): string {
  return fresh
    ? `swictation-rpc installed (in ${venvDir}); starting the server.`
    : `swictation-rpc upgraded (in ${venvDir}); restarting the server.`;
}

/**
 * The message after the user cancelled. `remains`: the environment folder this run created that
 * is still there after the attempt to remove it (and why), so the message never says "nothing was
 * installed" while it is.
 */
export function cancelledMessage(fresh: boolean, venvDir: string, remains?: { error?: string }): string {
  if (!fresh) {
    return 'Upgrading swictation-rpc was cancelled; the environment may be half upgraded: run “Swictation: Install or Upgrade Server” again.';
  }
  if (remains) {
    return `Installing swictation-rpc was cancelled, but the partial environment ${venvDir} could not be removed${remains.error ? ` (${remains.error})` : ''}; delete it, or run “Swictation: Install or Upgrade Server” again, which replaces it.`;
  }
  return 'Installing swictation-rpc was cancelled; the partial environment was removed, so nothing is installed.';
}

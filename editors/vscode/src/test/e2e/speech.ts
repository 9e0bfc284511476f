/**
 * Real speech for the tests, synthesised with Piper from the server's Python (the project's
 * swictation_rpc.testing.speech), and a word error rate to compare what came back with what was
 * said: recognizers differ in small words and punctuation, never hard-code their output.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { repoRoot } from '../paths';

export function synthesize(python: string, text: string, directory: string): string {
  const script = [
    'import sys',
    'from pathlib import Path',
    'from swictation_rpc.testing.speech import speech_wav',
    'print(speech_wav(sys.argv[1], Path(sys.argv[2])))',
  ].join('\n');
  const out = execFileSync(python, ['-c', script, text, directory], {
    env: { ...process.env, PYTHONPATH: [repoRoot, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return out.trim().split('\n').pop() as string;
}

export function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Word error rate of `hypothesis` against `reference` (edit distance over reference length). */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = words(reference);
  const hyp = words(hypothesis);
  const row = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= hyp.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return ref.length ? row[hyp.length] / ref.length : hyp.length ? 1 : 0;
}

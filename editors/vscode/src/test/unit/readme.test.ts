/**
 * The README's command table lists every command the extension contributes, by its title.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { extensionRoot } from '../paths';

/** The titles in the first column of the README's command table ("Start / Stop / Cancel Dictation" is three). */
function documentedTitles(readme: string): Set<string> {
  const titles = new Set<string>();
  for (const line of readme.split('\n')) {
    const cell = /^\|\s*Swictation: ([^|]+?)\s*\|/.exec(line)?.[1];
    if (!cell) {
      continue;
    }
    const parts = cell.split(' / ').map((p) => p.trim());
    const rest = parts[parts.length - 1].split(' ').slice(1).join(' ');
    for (const part of parts) {
      titles.add(part.includes(' ') || !rest ? part : `${part} ${rest}`);
    }
  }
  return titles;
}

test('every contributed command is in the README command table', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(extensionRoot, 'package.json'), 'utf8')) as {
    contributes: { commands: { command: string; title: string }[] };
  };
  const documented = documentedTitles(fs.readFileSync(path.join(extensionRoot, 'README.md'), 'utf8'));
  const missing = manifest.contributes.commands.filter((c) => !documented.has(c.title)).map((c) => `${c.command} (${c.title})`);
  assert.deepEqual(missing, []);
});

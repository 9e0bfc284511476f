/**
 * Utterance edits only ever change the text they inserted (issue 13), in a real VS Code
 * (code-server in headless Chromium) over the real server: undo after the user edited inside the
 * utterance, undo after a window reload while another file is active, a second undo, and a
 * history item inserted again at the cursor (its own utterance: undo removes the copy). One
 * code-server start for all of it; what is asserted is what the user sees: the files on disk,
 * the dirty tabs, the messages.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { repoRoot } from '../paths';
import type { CodeServer, Toolchain } from './codeServer';
import { extensionLog, findToolchain, skipReason, startCodeServer, tempRoot } from './codeServer';
import { synthesize, wordErrorRate } from './speech';
import { goTo, openFile, openWorkbench, recordStatus, runCommand, save, statusHistory, transcribeFile, waitForStatus } from './workbench';

const MAX_WER = 0.35;
const FIRST = 'the quick brown fox jumps over the lazy dog';
const SECOND = 'please remember to water the plants on friday';

const DEMO = '# first: | end\n# second: | end\n';
const OTHER = 'Other notes stay exactly as they are.\nSecond line.\n';

const artifacts = process.env.SWICTATION_TEST_ARTIFACTS ?? path.join(repoRoot, 'test-artifacts');
const { toolchain, missing } = findToolchain();
const skip = skipReason(missing);

/** The text of `line` (0-based) between a prefix and a suffix that were around the cursor. */
function between(text: string, line: number, prefix: string, suffix: string): string {
  const row = text.split('\n')[line];
  assert.ok(row.startsWith(prefix) && row.endsWith(suffix), `line ${line + 1} kept its text around the utterance: ${JSON.stringify(text)}`);
  return row.slice(prefix.length, row.length - suffix.length);
}

describe('Utterance edits in a real VS Code (issue 13)', { skip }, () => {
  let root: string;
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let firstWav: string;
  let secondWav: string;
  const tc = toolchain as Toolchain;

  before(async () => {
    fs.mkdirSync(artifacts, { recursive: true });
    root = tempRoot();
    firstWav = synthesize(tc.python, FIRST, root);
    secondWav = synthesize(tc.python, SECOND, root);
    server = await startCodeServer({
      toolchain: tc,
      root,
      // The default level: refusals are warnings, so they show.
      settings: { 'swictation.notifications': 'onWarning' },
      machineSettings: { 'swictation.server.interpreter': tc.python },
    });
    fs.writeFileSync(path.join(server.workspace, 'demo.py'), DEMO);
    fs.writeFileSync(path.join(server.workspace, 'other.txt'), OTHER);
    ({ browser, page } = await openWorkbench(tc.chromium, server.url, server.workspace));
    await recordStatus(page);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    const log = root ? extensionLog(root) : '';
    if (log) {
      fs.writeFileSync(path.join(artifacts, 'vscode-e2e-utterance-edits-extension.log'), log);
    }
    if (root && process.env.SWICTATION_E2E_KEEP !== '1') {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  const file = (name: string) => path.join(server.workspace, name);
  const read = (name: string) => fs.readFileSync(file(name), 'utf8');
  const dirtyTab = (name: string) => page.locator(`.tab.dirty[data-resource-name="${name}"]`);

  /** A notification toast saying `text`; exactly one. */
  async function toast(text: RegExp): Promise<string> {
    const found = page.locator('.notifications-toasts .notification-toast', { hasText: text });
    await found.first().waitFor({ timeout: 30_000 });
    assert.equal(await found.count(), 1, `one message for ${text}`);
    return found.first().innerText();
  }

  async function clearNotifications(): Promise<void> {
    await runCommand(page, 'Notifications: Clear All Notifications');
    await page.locator('.notifications-toasts .notification-toast').first().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => undefined);
  }

  async function dictateFile(wav: string): Promise<void> {
    const mark = (await statusHistory(page)).length;
    await transcribeFile(page, wav);
    await waitForStatus(page, mark, (label) => /^Swictation: idle · \d+ ms$/.test(label), 120_000);
  }

  async function undoLast(): Promise<void> {
    await runCommand(page, 'Swictation: Undo Last Utterance');
  }

  test('undo never touches what the utterance did not insert: edited utterance, window reload with another file active, history copy', async () => {
    try {
      // 1. Dictate into demo.py, then edit inside the utterance: undo deletes nothing and says why.
      await openFile(page, 'demo.py');
      await waitForStatus(page, 0, (label) => label.startsWith('Swictation: idle'), 180_000);
      await goTo(page, 1, '# first: '.length + 1);
      await dictateFile(firstWav);
      await save(page);
      const first = between(read('demo.py'), 0, '# first: ', '| end');
      assert.ok(wordErrorRate(FIRST, first) <= MAX_WER, `dictated ${JSON.stringify(first)}`);
      await goTo(page, 1, '# first: '.length + 3); // two characters into the utterance
      await page.keyboard.type('ZZ');
      await save(page);
      const edited = read('demo.py');
      await undoLast();
      const changed = await toast(/edited in demo\.py/);
      assert.match(changed, /left it as it is/);
      await page.waitForTimeout(1000);
      assert.equal(await dirtyTab('demo.py').count(), 0, 'demo.py is untouched');
      assert.equal(read('demo.py'), edited);
      await clearNotifications();

      // 2. A second utterance in demo.py; then other.txt is active and the window reloads.
      await goTo(page, 2, '# second: '.length + 1);
      await dictateFile(secondWav);
      await save(page);
      const withSecond = read('demo.py');
      const second = between(withSecond, 1, '# second: ', '| end');
      assert.ok(wordErrorRate(SECOND, second) <= MAX_WER, `dictated ${JSON.stringify(second)}`);
      await openFile(page, 'other.txt');
      await runCommand(page, 'Developer: Reload Window');
      await page.waitForTimeout(3000);
      await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 90_000 });
      await page.waitForTimeout(1500);
      await recordStatus(page);
      await waitForStatus(page, 0, (label) => label.startsWith('Swictation: idle'), 180_000);
      await openFile(page, 'other.txt');

      // Undo Last Utterance with other.txt active: the utterance is removed from demo.py (opened
      // in the background if need be), other.txt stays byte-identical.
      await undoLast();
      await dirtyTab('demo.py').waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('.tab.active.dirty').count(), 0, 'other.txt is not modified');
      assert.equal(read('other.txt'), OTHER);
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e-undo-after-reload.png') });
      await openFile(page, 'demo.py');
      await save(page);
      assert.equal(read('demo.py'), edited, 'only the second utterance was removed, the user-edited first one stays');

      // A second undo does not reach the older (edited) utterance: it says the last one is gone.
      await clearNotifications();
      await undoLast();
      await toast(/The last utterance was already removed/);
      await page.waitForTimeout(500);
      assert.equal(await page.locator('.tab.dirty').count(), 0, 'nothing changed anywhere');
      assert.equal(read('demo.py'), edited);
      await clearNotifications();

      // 3. History → the undone utterance (marked) → Insert at cursor, in other.txt: a copy of
      // its own, so Undo Last Utterance removes the copy again.
      await openFile(page, 'other.txt');
      await goTo(page, 2, 'Second line.'.length + 1);
      await runCommand(page, 'Swictation: Show Transcript History');
      const undone = page.locator('.quick-input-list .monaco-list-row', { hasText: 'undone ·' });
      await undone.first().waitFor({ timeout: 15_000 });
      assert.equal(await undone.count(), 1, 'the undone utterance is listed, marked');
      await undone.first().click();
      const insert = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Insert at cursor' });
      await insert.first().waitFor({ timeout: 15_000 });
      assert.equal(await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Remove from the document' }).count(), 0, 'an undone utterance cannot be removed again');
      await insert.first().click();
      await page.locator('.tab.active.dirty').waitFor({ timeout: 30_000 });
      await save(page);
      const withCopy = read('other.txt');
      const copy = between(withCopy, 1, 'Second line.', '');
      assert.ok(wordErrorRate(SECOND, copy) <= MAX_WER, `inserted ${JSON.stringify(copy)}`);
      assert.ok(withCopy.startsWith('Other notes stay exactly as they are.\n'), withCopy);

      await undoLast();
      await page.locator('.tab.active.dirty').waitFor({ timeout: 30_000 });
      await save(page);
      assert.equal(read('other.txt'), OTHER, 'undo removed the copy');
      assert.equal(read('demo.py'), edited, 'and nothing in demo.py');
    } catch (error) {
      await page?.screenshot({ path: path.join(artifacts, 'vscode-e2e-utterance-edits-failure.png') }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\nstatus labels: ${JSON.stringify(await statusHistory(page).catch(() => []))}\nextension log:\n${extensionLog(root).slice(-6000)}`, {
        cause: error,
      });
    }
  });
});

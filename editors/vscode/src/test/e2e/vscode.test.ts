/**
 * The extension in a real VS Code: code-server from npm in headless Chromium, the built .vsix
 * installed, the real swictation-rpc server (the working tree's, run by SWICTATION_PYTHON) on
 * real synthesised speech. What is asserted is what a user sees: the saved file, the undo, the
 * status bar item. The recognizer's output is never hard-coded: the inserted words are compared
 * with the sentence that was synthesised, with a word error rate bound.
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
import type { VirtualMic } from './virtualMic';
import { play, startVirtualMic } from './virtualMic';
import {
  ghostTexts,
  goTo,
  openFile,
  openWorkbench,
  quickInputText,
  recordStatus,
  runCommand,
  save as saveActive,
  statusHistory,
  transcribeFile as transcribeAudioFile,
  waitForStatus,
} from './workbench';

/** Recognizers differ in small words; more than this many wrong words in ten is a failure. */
const MAX_WER = 0.35;
const SENTENCE = 'the quick brown fox jumps over the lazy dog';
const DICTATED = 'please remember to water the plants on friday';

/** The test documents and what they hold before dictation (`|` is just text after the cursor). */
const FILES = {
  'notes.txt': 'Dictated: | end of line\n',
  'selection.md': '# Title\n\nSay PLACEHOLDER here.\n',
  'todo.txt': 'Spoken: | tail\n',
  'cancel.txt': 'Nothing: | here\n',
};

const artifacts = process.env.SWICTATION_TEST_ARTIFACTS ?? path.join(repoRoot, 'test-artifacts');
const { toolchain, missing } = findToolchain();
const skip = skipReason(missing);

/** The text between a prefix and a suffix that were around the cursor. */
function between(text: string, prefix: string, suffix: string): string {
  assert.ok(text.startsWith(prefix), `the text before the cursor is intact: ${JSON.stringify(text)}`);
  assert.ok(text.endsWith(suffix), `the text after the cursor is intact: ${JSON.stringify(text)}`);
  return text.slice(prefix.length, text.length - suffix.length);
}

describe('Swictation in a real VS Code (code-server, headless Chromium)', { skip }, () => {
  let root: string;
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let mic: VirtualMic | string;
  let sentenceWav: string;
  let dictatedWav: string;
  const tc = toolchain as Toolchain;

  before(async () => {
    fs.mkdirSync(artifacts, { recursive: true });
    root = tempRoot();
    sentenceWav = synthesize(tc.python, SENTENCE, root);
    dictatedWav = synthesize(tc.python, DICTATED, root);
    mic = startVirtualMic(path.join(root, 'mic'));
    server = await startCodeServer({
      toolchain: tc,
      root,
      settings: { 'swictation.notifications': 'onError' },
      machineSettings: { 'swictation.server.interpreter': tc.python },
      env: typeof mic === 'string' ? {} : mic.env,
    });
    // Every file exists before the workbench opens: quick open's file index is not refreshed in time.
    fs.writeFileSync(path.join(server.workspace, 'README.md'), '# Dictation tests\n');
    for (const [name, text] of Object.entries(FILES)) {
      fs.writeFileSync(path.join(server.workspace, name), text);
    }
    ({ browser, page } = await openWorkbench(tc.chromium, server.url, server.workspace));
    await recordStatus(page);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    if (typeof mic === 'object') {
      mic.stop();
    }
    const log = root ? extensionLog(root) : '';
    if (log) {
      fs.writeFileSync(path.join(artifacts, 'vscode-e2e-extension.log'), log);
    }
    if (root && process.env.SWICTATION_E2E_KEEP !== '1') {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  /** On failure: a screenshot and the extension's log, so a red run explains itself. */
  async function evidence<T>(name: string, body: () => Promise<T>): Promise<T> {
    // Whatever an earlier test left open (a quick input, a notification) goes first.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    try {
      return await body();
    } catch (error) {
      await page?.screenshot({ path: path.join(artifacts, `vscode-e2e-${name}-failure.png`) }).catch(() => undefined);
      const history = page ? await statusHistory(page).catch(() => []) : [];
      throw new Error(`${(error as Error).message}\nstatus labels: ${JSON.stringify(history)}\nextension log:\n${extensionLog(root).slice(-4000)}`, {
        cause: error,
      });
    }
  }

  const save = () => saveActive(page);
  const transcribeFile = (wav: string) => transcribeAudioFile(page, wav);

  test('Transcribe Audio File… inserts the spoken words at the cursor, as one undo step, with live status', async () =>
    evidence('transcribe', async () => {
      const original = FILES['notes.txt'];
      const file = path.join(server.workspace, 'notes.txt');
      await openFile(page, 'notes.txt');
      await waitForStatus(page, 0, (label) => label.startsWith('Swictation: idle'), 120_000);
      const startup = await statusHistory(page);
      if (!startup[0].startsWith('Swictation: idle')) {
        // Seen from before the engine was ready: it went through loading first.
        assert.ok(startup.slice(0, startup.findIndex((l) => l.startsWith('Swictation: idle'))).some((l) => l.startsWith('Swictation: loading')), JSON.stringify(startup));
      }
      await goTo(page, 1, 'Dictated: '.length + 1);

      const mark = (await statusHistory(page)).length;
      await transcribeFile(sentenceWav);
      const done = await waitForStatus(page, mark, (label) => /^Swictation: idle · \d+ ms$/.test(label), 120_000);
      await save();

      const saved = fs.readFileSync(file, 'utf8');
      const inserted = between(saved, 'Dictated: ', '| end of line\n');
      const wer = wordErrorRate(SENTENCE, inserted);
      assert.ok(wer <= MAX_WER, `WER ${wer.toFixed(2)} for ${JSON.stringify(inserted)} (said: ${SENTENCE})`);
      const seen = (await statusHistory(page)).slice(mark);
      assert.ok(seen.includes('Swictation: transcribing'), `the status showed transcribing: ${JSON.stringify(seen)}`);
      assert.match(done, /idle · \d+ ms/, 'the status shows the latency when done');
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e.png') });

      // One utterance, one undo step.
      await page.keyboard.press('Control+Z');
      await save();
      assert.equal(fs.readFileSync(file, 'utf8'), original);
    }));

  test('Transcribe Audio File… replaces the selection', async () =>
    evidence('selection', async () => {
      const file = path.join(server.workspace, 'selection.md');
      await openFile(page, 'selection.md');
      await goTo(page, 3, 'Say '.length + 1);
      await page.keyboard.press('Control+Shift+ArrowRight'); // selects PLACEHOLDER
      const mark = (await statusHistory(page)).length;
      await transcribeFile(sentenceWav);
      await waitForStatus(page, mark, (label) => /^Swictation: idle · \d+ ms$/.test(label), 120_000);
      await save();
      const saved = fs.readFileSync(file, 'utf8');
      assert.ok(!saved.includes('PLACEHOLDER'), `the selection was replaced: ${JSON.stringify(saved)}`);
      const inserted = between(saved, '# Title\n\nSay ', ' here.\n');
      assert.ok(wordErrorRate(SENTENCE, inserted) <= MAX_WER, `inserted ${JSON.stringify(inserted)}`);
    }));

  test('a wrong interpreter gets one clear message with the fix; fixing it restarts the server; Select Mode reaches it without a restart', async () =>
    evidence('settings', async () => {
      const machine = path.join(server.userData, 'Machine', 'settings.json');
      const user = path.join(server.userData, 'User', 'settings.json');
      const good = fs.readFileSync(machine, 'utf8');
      const mark = (await statusHistory(page)).length;
      fs.writeFileSync(machine, JSON.stringify({ 'swictation.server.interpreter': '/nonexistent/bin/python3' }));
      await waitForStatus(page, mark, (label) => label === 'Swictation: failed', 60_000);
      const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'swictation.server.interpreter' });
      await toast.first().waitFor({ timeout: 15_000 });
      assert.equal(await toast.count(), 1, 'one message');
      const text = await toast.first().innerText();
      assert.match(text, /\/nonexistent\/bin\/python3/);
      assert.match(text, /Set it to a Python that has swictation-rpc installed/);
      assert.match(text, /Open settings/);
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e-start-failure.png') });

      const fixed = (await statusHistory(page)).length;
      fs.writeFileSync(machine, good);
      await waitForStatus(page, fixed, (label) => label.startsWith('Swictation: idle'), 120_000);
      await page.keyboard.press('Escape');

      // Select Mode writes the setting; it is pushed to the running server (no restart), which
      // says what changed.
      await runCommand(page, 'Swictation: Select Mode');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'Lowest latency' }).waitFor();
      await quickInputText(page, 'fast');
      await page.keyboard.press('Enter');
      await page.locator('.statusbar-item[aria-label^="Swictation:"]', { hasText: 'fast' }).waitFor({ timeout: 30_000 });
      const deadline = Date.now() + 15_000;
      while (!/Settings changed \(default_mode\)/.test(extensionLog(root))) {
        assert.ok(Date.now() < deadline, 'the server reports the new defaultMode');
        await page.waitForTimeout(250);
      }
      assert.match(fs.readFileSync(user, 'utf8'), /"swictation\.defaultMode": "fast"/, 'written to the user settings');
      const restarts = (extensionLog(root).match(/Starting the server/g) ?? []).length;
      assert.equal(restarts, 3, 'started at first, with the wrong interpreter, with the right one: not for the mode');
    }));

  test('the language setting reaches the running server: Show Server Status names the language in effect', async () =>
    evidence('language', async () => {
      const machine = path.join(server.userData, 'Machine', 'settings.json');
      const good = fs.readFileSync(machine, 'utf8');
      try {
        fs.writeFileSync(machine, JSON.stringify({ ...JSON.parse(good), 'swictation.language': 'de' }, null, 2));
        const deadline = Date.now() + 30_000;
        while (!/Settings changed \([^)]*language/.test(extensionLog(root))) {
          assert.ok(Date.now() < deadline, 'the server reports the new language');
          await page.waitForTimeout(250);
        }
        await runCommand(page, 'Swictation: Show Server Status');
        const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Swictation: idle' });
        await toast.first().waitFor({ timeout: 15_000 });
        assert.match(await toast.first().innerText(), /language de/);
      } finally {
        fs.writeFileSync(machine, good);
        await runCommand(page, 'Notifications: Clear All Notifications');
      }
    }));

  test('Toggle Dictation (Ctrl+Alt+D) on the virtual microphone: ghost text while listening, the text where dictation began', async (t) => {
    if (typeof mic === 'string') {
      t.skip(`no virtual microphone: ${mic}`);
      return;
    }
    const env = mic.env;
    await evidence('dictation', async () => {
      const file = path.join(server.workspace, 'todo.txt');
      await openFile(page, 'todo.txt');
      await goTo(page, 1, 'Spoken: '.length + 1);

      const mark = (await statusHistory(page)).length;
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, mark, (label) => label === 'Swictation: listening', 60_000);

      // The user moves on and types above while still speaking: the text must still go to line 1's spot.
      await page.keyboard.press('Control+Home');
      await page.keyboard.type('typed while listening\n');

      await play(dictatedWav, env);
      // The segment closes after the trailing silence; its text shows as ghost text.
      const deadline = Date.now() + 20_000;
      let ghost: string[] = [];
      while (Date.now() < deadline) {
        ghost = await ghostTexts(page);
        if (ghost.some((g) => wordErrorRate(DICTATED, g) < 1)) {
          break;
        }
        await page.waitForTimeout(200);
      }
      assert.ok(
        ghost.some((g) => wordErrorRate(DICTATED, g) <= MAX_WER),
        `ghost text while listening: ${JSON.stringify(ghost)}`,
      );
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e-ghost-text.png') });

      const stopMark = (await statusHistory(page)).length;
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, stopMark, (label) => /^Swictation: idle · \d+ ms$/.test(label), 120_000);
      await save();

      const [first, second, ...rest] = fs.readFileSync(file, 'utf8').split('\n');
      assert.equal(first, 'typed while listening');
      const inserted = between(second, 'Spoken: ', '| tail');
      assert.ok(wordErrorRate(DICTATED, inserted) <= MAX_WER, `dictated ${JSON.stringify(inserted)} (said: ${DICTATED})`);
      assert.deepEqual(rest, ['']);
      assert.deepEqual(await ghostTexts(page), [], 'the ghost text is gone once the text is in');
      const seen = (await statusHistory(page)).slice(stopMark);
      assert.ok(seen.includes('Swictation: transcribing'), `the status showed transcribing: ${JSON.stringify(seen)}`);
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e-dictation.png') });
    });
  });

  test('Escape while listening cancels: nothing is inserted and the item goes back to idle', async (t) => {
    if (typeof mic === 'string') {
      t.skip(`no virtual microphone: ${mic}`);
      return;
    }
    const env = mic.env;
    await evidence('cancel', async () => {
      const file = path.join(server.workspace, 'cancel.txt');
      await openFile(page, 'cancel.txt');
      await goTo(page, 1, 'Nothing: '.length + 1);
      const mark = (await statusHistory(page)).length;
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, mark, (label) => label === 'Swictation: listening', 60_000);
      await play(sentenceWav, env);
      const cancelMark = (await statusHistory(page)).length;
      await page.keyboard.press('Escape');
      await waitForStatus(page, cancelMark, (label) => label.startsWith('Swictation: idle'), 30_000);
      // Whatever was heard is dropped: the document is untouched (not even dirty) and no ghost text is left.
      assert.equal(await page.locator('.tab.active.dirty').count(), 0);
      assert.equal(fs.readFileSync(file, 'utf8'), FILES['cancel.txt']);
      assert.deepEqual(await ghostTexts(page), []);
      assert.ok(!(await statusHistory(page)).slice(cancelMark).includes('Swictation: transcribing'));
    });
  });
});

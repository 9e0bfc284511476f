/**
 * Utterance edits only ever change the text they inserted (issue 13), in a real VS Code
 * (code-server in headless Chromium) over the real server: undo after the user edited inside the
 * utterance, undo after a window reload while another file is active, a second undo, and a
 * history item inserted again at the cursor (its own utterance: undo removes the copy). Then, with
 * two synthetic tone models that hear the same tones as different words (fast: "print hello
 * world", accurate: "print hello planet"), History → Transcribe again (the replacement is
 * visible) and Remove, and a two-pass refine landing in its own document while another is
 * active. One code-server start for all of it; what is asserted is what the user sees: the files
 * on disk, the dirty tabs, the messages.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { repoRoot } from '../paths';
import type { CodeServer, Toolchain } from './codeServer';
import { extensionLog, findToolchain, skipReason, startCodeServer, tempRoot } from './codeServer';
import { synthesize, wordErrorRate } from './speech';
import { goTo, openFile, openWorkbench, recordStatus, runCommand, statusHistory, transcribeFile, waitForStatus } from './workbench';

const MAX_WER = 0.35;
const FIRST = 'the quick brown fox jumps over the lazy dog';
const SECOND = 'please remember to water the plants on friday';

const DEMO = '# first: | end\n# second: | end\n';
const OTHER = 'Other notes stay exactly as they are.\nSecond line.\n';

// Tone models (tests/e2e/documents.py): the same tones, other words for the accurate model.
const TONE_TOKENS = ['<unk>', '▁print', '▁hello', '▁comma', '▁world', '▁period', '▁camel', '▁case', '▁user', '▁count', '▁scratch', '▁that', '▁get', '▁by', '▁id'];
const ACCURATE_TONE_TOKENS = TONE_TOKENS.map((t) => (t === '▁world' ? '▁planet' : t));
const A_PY = 'x = 1\n# one: | end\n# two: | end\n';
const B_TXT = 'Notes that must stay byte-identical.\nSecond line.\n';

/** Write the two tone models and the clip they hear (as "print hello world" / "... planet"). */
function writeTones(python: string, directory: string): { fast: string; accurate: string; clip: string } {
  const script = [
    'import json, sys',
    'from pathlib import Path',
    'import soundfile',
    'from swictation_rpc.testing.synthetic import tone_audio, write_tone_model',
    'root = Path(sys.argv[1]); tokens = json.loads(sys.argv[2]); accurate = json.loads(sys.argv[3])',
    "fast_model = write_tone_model(root, tokens=tokens, name='tones-fast')",
    "accurate_model = write_tone_model(root, tokens=accurate, name='tones-accurate')",
    "clip = root / 'print-hello-world.wav'",
    "soundfile.write(str(clip), tone_audio('print hello world', tokens=tokens), 16000, subtype='PCM_16')",
    'print(json.dumps({"fast": str(fast_model), "accurate": str(accurate_model), "clip": str(clip)}))',
  ].join('\n');
  const out = execFileSync(python, ['-c', script, directory, JSON.stringify(TONE_TOKENS), JSON.stringify(ACCURATE_TONE_TOKENS)], {
    env: { ...process.env, PYTHONPATH: [repoRoot, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return JSON.parse(out.trim().split('\n').pop() as string) as { fast: string; accurate: string; clip: string };
}

/** The pids of this code-server's Swictation server (found by its own data directory). */
function serverPids(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const environ = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (cmdline.includes('swictation') && cmdline.includes('serve') && environ.includes(`SWICTATION_DATA_DIR=${dataDir}`)) {
        pids.push(Number(entry));
      }
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

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
  let checkClip: string;
  const tc = toolchain as Toolchain;

  before(async () => {
    fs.mkdirSync(artifacts, { recursive: true });
    root = tempRoot();
    firstWav = synthesize(tc.python, FIRST, root);
    secondWav = synthesize(tc.python, SECOND, root);
    // The clip every loaded model must transcribe: the packaged speech sample for the real models,
    // replaced by a tone clip before the tone models are configured (read at each model load).
    checkClip = path.join(root, 'check-clip.wav');
    fs.copyFileSync(path.join(repoRoot, 'swictation_rpc', 'data', 'sample.wav'), checkClip);
    server = await startCodeServer({
      toolchain: tc,
      root,
      // The default level: refusals are warnings, so they show.
      settings: { 'swictation.notifications': 'onWarning' },
      machineSettings: { 'swictation.server.interpreter': tc.python },
      env: { SWICTATION_CHECK_CLIP: checkClip },
    });
    fs.writeFileSync(path.join(server.workspace, 'demo.py'), DEMO);
    fs.writeFileSync(path.join(server.workspace, 'a.py'), A_PY);
    fs.writeFileSync(path.join(server.workspace, 'b.txt'), B_TXT);
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

  /** The file on disk once `settled` holds for it: VS Code writes a save after the tab turns clean. */
  async function onDisk(name: string, settled: (text: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = read(name);
      if (settled(text)) {
        return text;
      }
      if (Date.now() > deadline) {
        throw new Error(`${name} on disk never changed as expected; it holds ${JSON.stringify(text)}`);
      }
      await page.waitForTimeout(100);
    }
  }

  /**
   * Save `name` once the change the test waits for has reached its editor (the tab turns dirty:
   * an edit applied in the background can arrive after the status item is idle again), and read
   * the file once that save has reached the disk.
   */
  async function saveChange(name: string, before: string): Promise<string> {
    await dirtyTab(name).waitFor({ timeout: 60_000 });
    // Ctrl+S reaches the editor only once it has the focus (just after Quick Open it may not): press
    // it until the tab is clean.
    for (let attempt = 1; ; attempt++) {
      // Its tab is open (dirty): clicking it makes it the active editor, with the focus.
      await dirtyTab(name).click();
      await page.keyboard.press('Control+S');
      try {
        await dirtyTab(name).waitFor({ state: 'detached', timeout: 5_000 });
        break;
      } catch (error) {
        if (attempt === 5) {
          throw new Error(`${name} stays unsaved after ${attempt} saves`, { cause: error });
        }
      }
    }
    return onDisk(name, (text) => text !== before);
  }

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
      const afterFirst = await saveChange('demo.py', DEMO);
      const first = between(afterFirst, 0, '# first: ', '| end');
      assert.ok(wordErrorRate(FIRST, first) <= MAX_WER, `dictated ${JSON.stringify(first)}`);
      await goTo(page, 1, '# first: '.length + 3); // two characters into the utterance
      await page.keyboard.type('ZZ');
      const edited = await saveChange('demo.py', afterFirst);
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
      const withSecond = await saveChange('demo.py', edited);
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
      assert.equal(await saveChange('demo.py', withSecond), edited, 'only the second utterance was removed, the user-edited first one stays');

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
      const withCopy = await saveChange('other.txt', OTHER);
      const copy = between(withCopy, 1, 'Second line.', '');
      assert.ok(wordErrorRate(SECOND, copy) <= MAX_WER, `inserted ${JSON.stringify(copy)}`);
      assert.ok(withCopy.startsWith('Other notes stay exactly as they are.\n'), withCopy);

      await undoLast();
      assert.equal(await saveChange('other.txt', withCopy), OTHER, 'undo removed the copy');
      assert.equal(read('demo.py'), edited, 'and nothing in demo.py');
    } catch (error) {
      await page?.screenshot({ path: path.join(artifacts, 'vscode-e2e-utterance-edits-failure.png') }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\nstatus labels: ${JSON.stringify(await statusHistory(page).catch(() => []))}\nextension log:\n${extensionLog(root).slice(-6000)}`, {
        cause: error,
      });
    }
  });

  /**
   * Change settings in the Machine (remote) settings.json, which code-server watches (edits to
   * the User one on disk go unnoticed), and wait until the server says it took them.
   */
  async function updateSettings(patch: Record<string, unknown>): Promise<void> {
    const file = path.join(server.userData, 'Machine', 'settings.json');
    const changed = /Settings changed \(/;
    const seen = logCount(changed);
    const settings = { ...JSON.parse(fs.readFileSync(file, 'utf8')), ...patch } as Record<string, unknown>;
    for (let attempt = 0; ; attempt++) {
      fs.writeFileSync(file, JSON.stringify(settings, null, attempt % 2 ? 4 : 2));
      try {
        await waitForLog(changed, seen + 1, 15_000);
        return;
      } catch (error) {
        if (attempt === 3) {
          throw error;
        }
      }
    }
  }

  async function waitForLog(pattern: RegExp, count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((extensionLog(root).match(new RegExp(pattern.source, 'g')) ?? []).length < count) {
      if (Date.now() > deadline) {
        throw new Error(`the extension log never showed ${pattern} ${count} time(s)`);
      }
      await page.waitForTimeout(250);
    }
  }

  const logCount = (pattern: RegExp) => (extensionLog(root).match(new RegExp(pattern.source, 'g')) ?? []).length;

  /** History → the item whose label matches `item` → `action`. */
  async function historyAction(item: RegExp, action: string): Promise<void> {
    await runCommand(page, 'Swictation: Show Transcript History');
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: item });
    await row.first().waitFor({ timeout: 15_000 });
    await row.first().click();
    const chosen = page.locator('.quick-input-list .monaco-list-row', { hasText: action });
    await chosen.first().waitFor({ timeout: 15_000 });
    await chosen.first().click();
  }

  test('two models: Transcribe again replaces the text visibly, Remove removes it; refine lands in its own document while another is active', async () => {
    try {
      // Two tone models with different words; first without refine.
      const tones = writeTones(tc.python, root);
      fs.copyFileSync(tones.clip, checkClip);
      await waitForStatus(page, 0, (label) => label.startsWith('Swictation: idle'), 180_000);
      const loadedBefore = logCount(/fast model tones-fast loaded/);
      await updateSettings({
        'swictation.models.fast': tones.fast,
        'swictation.models.accurate': tones.accurate,
        'swictation.defaultMode': 'fast',
        'swictation.text.refine': 'off',
      });
      await waitForLog(/fast model tones-fast loaded/, loadedBefore + 1, 120_000);

      // (a) Dictate into a.py (fast model): "print hello world".
      await openFile(page, 'a.py');
      await goTo(page, 2, '# one: '.length + 1);
      await dictateFile(tones.clip);
      const withFast = await saveChange('a.py', A_PY);
      const fast = between(withFast, 1, '# one: ', '| end');
      assert.equal(fast.trim().toLowerCase(), 'print hello world', `the fast model's text: ${JSON.stringify(read('a.py'))}`);

      // History → Transcribe again (accurate): the other model's words replace it, in place.
      await historyAction(/print hello world/i, 'Transcribe again');
      const replaced = await saveChange('a.py', withFast);
      assert.equal(between(replaced, 1, '# one: ', '| end'), fast.replace(/world/i, 'planet'), `replaced in place: ${JSON.stringify(replaced)}`);
      assert.equal(replaced.replace(/planet/i, 'world'), withFast, 'nothing else changed');

      // History → the replaced utterance → Remove from the document.
      await historyAction(/print hello planet/i, 'Remove from the document');
      assert.equal(await saveChange('a.py', replaced), A_PY, 'Remove took out exactly the utterance');

      // (b) Two-pass refine on; dictate into a.py, switch to b.txt before any text arrives (the
      // server is paused meanwhile), so the fast text and then the refinement land while b.txt is
      // the active editor.
      await updateSettings({ 'swictation.text.refine': 'always' });
      await openFile(page, 'a.py');
      await goTo(page, 3, '# two: '.length + 1);
      const pids = serverPids(server.dataDir);
      assert.ok(pids.length > 0, 'the Swictation server process is found');
      const mark = (await statusHistory(page)).length;
      const elsewhere = logCount(/\[utterance-edited-elsewhere\] Refined the utterance in a\.py/);
      pids.forEach((pid) => process.kill(pid, 'SIGSTOP'));
      try {
        await transcribeFile(page, tones.clip);
        await openFile(page, 'b.txt');
        await page.waitForTimeout(500);
      } finally {
        pids.forEach((pid) => process.kill(pid, 'SIGCONT'));
      }
      await waitForStatus(page, mark, (label) => /^Swictation: idle · \d+ ms$/.test(label), 60_000);
      await waitForLog(/\[utterance-edited-elsewhere\] Refined the utterance in a\.py/, elsewhere + 1, 60_000);
      await page.waitForTimeout(1000);
      assert.equal(await page.locator('.tab.active[data-resource-name="b.txt"]').count(), 1, 'b.txt is still the active editor');
      assert.equal(await dirtyTab('b.txt').count(), 0, 'b.txt is not modified');
      assert.equal(read('b.txt'), B_TXT, 'b.txt is byte-identical');
      const refined = await saveChange('a.py', A_PY);
      assert.equal(between(refined, 2, '# two: ', '| end').trim().toLowerCase(), 'print hello planet', `a.py has the accurate text: ${JSON.stringify(refined)}`);
      assert.equal(refined.split('\n').filter((_, i) => i !== 2).join('\n'), A_PY.split('\n').filter((_, i) => i !== 2).join('\n'), 'and nothing else in a.py changed');
      assert.equal(read('b.txt'), B_TXT);
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e-refine-other-editor.png') });
    } catch (error) {
      await page?.screenshot({ path: path.join(artifacts, 'vscode-e2e-two-models-failure.png') }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\nstatus labels: ${JSON.stringify(await statusHistory(page).catch(() => []))}\nextension log:\n${extensionLog(root).slice(-6000)}`, {
        cause: error,
      });
    }
  });
});

/**
 * Issue 18 in a real VS Code (code-server in headless Chromium, the built .vsix, the working
 * tree's server, Piper speech played into a private virtual microphone): per-phrase commit (the
 * first phrase is in the file while listening goes on, stop inserts the tail, Undo Last Utterance
 * removes only the last phrase), dictation into the Source Control commit message box (the
 * dictated message becomes the commit, through the Git extension's own commit) and into the
 * integrated terminal (typed, not run, until a spoken "press enter"; bash's history file shows
 * what ran). What is asserted is what a user gets: files, commits, shell history, messages.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Browser, Page } from 'playwright-core';

import { repoRoot } from '../paths';
import type { CodeServer, Toolchain } from './codeServer';
import { extensionLog, findToolchain, skipReason, startCodeServer, tempRoot } from './codeServer';
import { synthesize, wordErrorRate, words } from './speech';
import type { VirtualMic } from './virtualMic';
import { play, startVirtualMic } from './virtualMic';
import { ghostTexts, goTo, openFile, openWorkbench, recordStatus, runCommand, statusHistory, waitForStatus } from './workbench';

const MAX_WER = 0.35;
const FIRST = 'the quick brown fox jumps over the lazy dog';
const SECOND = 'please remember to water the plants on friday';
const COMMIT = 'fix the parser so it reads empty files';
const ECHO = 'echo hello world';
const ENTER = 'press enter';

const PHRASES = 'Spoken: | tail\n';
/**
 * Silence that closes a phrase. Long enough that the stop pressed right after the second clip
 * finds that phrase still open (the tail), short enough to wait for after the first.
 */
const PHRASE_SILENCE_MS = 2000;

const artifacts = process.env.SWICTATION_TEST_ARTIFACTS ?? path.join(repoRoot, 'test-artifacts');
const { toolchain, missing } = findToolchain();
const skip = skipReason(missing);

const ANNOUNCE = (where: string) => `.statusbar-item[aria-label^="Swictation inserted into ${where}:"], .statusbar-item [aria-label^="Swictation inserted into ${where}:"]`;

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
}

describe('Issue 18 in a real VS Code: per-phrase commit, the commit message box, the terminal', { skip }, () => {
  let root: string;
  let server: CodeServer;
  let browser: Browser;
  let page: Page;
  let mic: VirtualMic | string;
  const wav: Record<string, string> = {};
  let histfile: string;
  const tc = toolchain as Toolchain;

  before(async () => {
    fs.mkdirSync(artifacts, { recursive: true });
    root = tempRoot();
    for (const text of [FIRST, SECOND, COMMIT, ECHO, ENTER]) {
      wav[text] = synthesize(tc.python, text, root);
    }
    mic = startVirtualMic(path.join(root, 'mic'));
    histfile = path.join(root, 'bash_history');
    fs.writeFileSync(histfile, '');
    // A bash with no rc files whose history file shows each command it ran, right after it ran.
    const terminal = {
      'terminal.integrated.profiles.linux': {
        swictation: { path: 'bash', args: ['--noprofile', '--norc'], env: { HISTFILE: histfile, PROMPT_COMMAND: 'history -a', PS1: '$ ' } },
      },
      'terminal.integrated.defaultProfile.linux': 'swictation',
      'terminal.integrated.shellIntegration.enabled': false,
    };
    server = await startCodeServer({
      toolchain: tc,
      root,
      settings: {
        'swictation.notifications': 'onWarning',
        'swictation.dictation.commit': 'perPhrase',
        'swictation.vad.minSilenceDurationMs': PHRASE_SILENCE_MS,
        'git.openRepositoryInParentFolders': 'always',
        'scm.inputMinLineCount': 3,
        ...terminal,
      },
      machineSettings: { 'swictation.server.interpreter': tc.python, ...terminal },
      env: typeof mic === 'string' ? {} : mic.env,
    });
    // A Git repository with a staged change, so the commit message box can commit it.
    const ws = server.workspace;
    fs.writeFileSync(path.join(ws, 'phrases.txt'), PHRASES);
    fs.writeFileSync(path.join(ws, 'parser.py'), 'def parse(text):\n    return text.split()\n');
    git(ws, 'init', '-q', '-b', 'main');
    git(ws, 'config', 'user.email', 'test@example.invalid');
    git(ws, 'config', 'user.name', 'Swictation Test');
    git(ws, 'config', 'commit.gpgsign', 'false');
    git(ws, 'add', '.');
    git(ws, 'commit', '-q', '-m', 'Initial commit');
    fs.writeFileSync(path.join(ws, 'parser.py'), 'def parse(text):\n    return text.split() if text else []\n');
    git(ws, 'add', 'parser.py');
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
      fs.writeFileSync(path.join(artifacts, 'vscode-e2e-issue18-extension.log'), log);
    }
    if (root && process.env.SWICTATION_E2E_KEEP !== '1') {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  /** On failure: a screenshot, the status labels and the extension's log. */
  async function evidence<T>(name: string, body: () => Promise<T>): Promise<T> {
    await page.keyboard.press('Escape');
    try {
      return await body();
    } catch (error) {
      await page?.screenshot({ path: path.join(artifacts, `vscode-e2e-issue18-${name}-failure.png`) }).catch(() => undefined);
      const history = page ? await statusHistory(page).catch(() => []) : [];
      throw new Error(`${(error as Error).message}\nstatus labels: ${JSON.stringify(history)}\nextension log:\n${extensionLog(root).slice(-6000)}`, {
        cause: error,
      });
    }
  }

  const file = (name: string) => path.join(server.workspace, name);
  const read = (name: string) => fs.readFileSync(file(name), 'utf8');
  const logCount = (pattern: RegExp) => (extensionLog(root).match(new RegExp(pattern.source, 'g')) ?? []).length;

  async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) {
        return value;
      }
      if (Date.now() > deadline) {
        throw new Error(`${what}: not within ${timeoutMs} ms`);
      }
      await page.waitForTimeout(200);
    }
  }

  /** Save the active editor and read the file once the save is on disk. */
  async function saveAndRead(name: string, previous: string): Promise<string> {
    const dirty = page.locator(`.tab.dirty[data-resource-name="${name}"]`);
    await dirty.waitFor({ timeout: 60_000 });
    await page.keyboard.press('Control+S');
    await dirty.waitFor({ state: 'detached', timeout: 10_000 });
    return until(`${name} saved`, () => (read(name) !== previous ? read(name) : undefined), 10_000);
  }

  async function toast(text: RegExp): Promise<string> {
    const found = page.locator('.notifications-toasts .notification-toast', { hasText: text });
    await found.first().waitFor({ timeout: 30_000 });
    return found.first().innerText();
  }

  async function announced(where: string, after: number): Promise<string> {
    // The label is read back from the page: the item shows for a few seconds after each insertion.
    return until(
      `the announcement for ${where}`,
      async () => {
        const label = await page.evaluate<string>(`(() => {
          const el = document.querySelector(${JSON.stringify(ANNOUNCE(where))});
          return el ? el.getAttribute('aria-label') : '';
        })()`);
        return label && Date.now() >= after ? label : undefined;
      },
      30_000,
    );
  }

  function micEnv(t: { skip(message: string): void }): Record<string, string> | undefined {
    if (typeof mic === 'string') {
      t.skip(`no virtual microphone: ${mic}`);
      return undefined;
    }
    return mic.env;
  }

  test('per-phrase commit: the first phrase lands while listening, stop inserts the tail, undo removes only the last phrase', async (t) => {
    const env = micEnv(t);
    if (!env) {
      return;
    }
    await evidence('per-phrase', async () => {
      await openFile(page, 'phrases.txt');
      await waitForStatus(page, 0, (label) => label.startsWith('Swictation: idle'), 180_000);
      await goTo(page, 1, 'Spoken: '.length + 1);
      const phrasesBefore = logCount(/: phrase \S* committed/);
      const mark = (await statusHistory(page)).length;
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, mark, (label) => label === 'Swictation: listening', 60_000);

      // The first phrase, then silence: the pause closes it and it goes into the document.
      await play(wav[FIRST], env);
      const withFirst = await saveAndRead('phrases.txt', PHRASES);
      const labels = await statusHistory(page);
      assert.equal(labels[labels.length - 1], 'Swictation: listening', `still listening when the first phrase is in: ${JSON.stringify(labels.slice(mark))}`);
      assert.ok(withFirst.startsWith('Spoken: ') && withFirst.endsWith('| tail\n'), JSON.stringify(withFirst));
      const first = withFirst.slice('Spoken: '.length, withFirst.length - '| tail\n'.length);
      assert.ok(wordErrorRate(FIRST, first) <= MAX_WER, `first phrase ${JSON.stringify(first)} (said: ${FIRST})`);
      assert.equal(logCount(/: phrase \S* committed/), phrasesBefore + 1, 'one phrase committed');
      const label = await announced('phrases.txt', 0);
      assert.ok(wordErrorRate(FIRST, label.replace(/^Swictation inserted into phrases\.txt: /, '')) <= MAX_WER, `announced: ${label}`);
      // The committed phrase is in the document, so no ghost text repeats it.
      for (const ghost of await ghostTexts(page)) {
        assert.ok(wordErrorRate(FIRST, ghost) > 0.5, `ghost text repeats the committed phrase: ${JSON.stringify(ghost)}`);
      }
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e-per-phrase.png') });

      // The second phrase, stopped right after it was said: it is the tail, inserted by the stop.
      await play(wav[SECOND], env);
      const stopMark = (await statusHistory(page)).length;
      const tailsBefore = logCount(/stopped \(perPhrase\): a tail of [1-9]\d* characters/);
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, stopMark, (l) => /^Swictation: idle · \d+ ms$/.test(l), 120_000);
      const withTail = await saveAndRead('phrases.txt', withFirst);
      assert.equal(logCount(/stopped \(perPhrase\): a tail of [1-9]\d* characters/), tailsBefore + 1, 'the stop carried the second phrase');
      assert.equal(logCount(/: phrase \S* committed/), phrasesBefore + 1, 'the second phrase was not committed before the stop');
      assert.ok(withTail.startsWith(`Spoken: ${first}`) && withTail.endsWith('| tail\n'), `the tail goes after the first phrase: ${JSON.stringify(withTail)}`);
      const tail = withTail.slice(`Spoken: ${first}`.length, withTail.length - '| tail\n'.length);
      assert.match(tail, /^\s\S/, `one space joins the phrases: ${JSON.stringify(withTail)}`);
      assert.ok(wordErrorRate(SECOND, tail) <= MAX_WER, `tail ${JSON.stringify(tail)} (said: ${SECOND})`);

      // Undo Last Utterance removes the tail only; the first phrase stays.
      await runCommand(page, 'Swictation: Undo Last Utterance');
      const undone = await saveAndRead('phrases.txt', withTail);
      assert.equal(undone, withFirst);
    });
  });

  test('Ctrl+Alt+D in the commit message box: the dictated words become the commit message; undo there says it cannot', async (t) => {
    const env = micEnv(t);
    if (!env) {
      return;
    }
    await evidence('commit-message', async () => {
      await waitForStatus(page, 0, (label) => label.startsWith('Swictation: idle'), 180_000);
      const input = page.locator('.scm-editor .monaco-editor').first();
      for (let attempt = 0; ; attempt++) {
        await page.keyboard.press('Control+Shift+G');
        try {
          await input.waitFor({ timeout: 10_000 });
          break;
        } catch (error) {
          if (attempt === 3) {
            throw error;
          }
        }
      }
      // The staged change is listed: the Git extension has the repository.
      await page.locator('.scm-view .monaco-list-row', { hasText: 'parser.py' }).first().waitFor({ timeout: 60_000 });
      await input.click();
      const mark = (await statusHistory(page)).length;
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, mark, (label) => label === 'Swictation: listening', 60_000);
      assert.match(extensionLog(root), /listening into the commit message box/);
      await play(wav[COMMIT], env);
      const stopMark = (await statusHistory(page)).length;
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, stopMark, (l) => /^Swictation: idle/.test(l), 120_000);
      const label = await announced('the commit message box', 0);
      const message = label.replace(/^Swictation inserted into the commit message box: /, '');
      assert.ok(wordErrorRate(COMMIT, message) <= MAX_WER, `dictated ${JSON.stringify(message)} (said: ${COMMIT})`);
      const shown = await until(
        'the text in the commit message box',
        async () => {
          const text = (await page.locator('.scm-editor .view-lines').first().innerText()).replace(/\u00a0/g, ' ');
          return words(text).length ? text : undefined;
        },
        15_000,
      );
      assert.ok(wordErrorRate(COMMIT, shown) <= MAX_WER, `the box shows ${JSON.stringify(shown)}`);
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e-commit-message.png') });

      // Undo there is refused with one clear message; the box keeps its text.
      await runCommand(page, 'Swictation: Undo Last Utterance');
      assert.match(await toast(/does not work in the commit message box/), /Nothing was changed/);
      await runCommand(page, 'Notifications: Clear All Notifications');

      // Commit with the box's own key: the dictated message is the commit's.
      await input.click();
      await page.keyboard.press('Control+Enter');
      const committed = await until(
        'the commit',
        () => {
          const body = git(server.workspace, 'log', '-1', '--format=%B').trim();
          return body !== 'Initial commit' ? body : undefined;
        },
        30_000,
      );
      assert.ok(wordErrorRate(COMMIT, committed) <= MAX_WER, `commit message ${JSON.stringify(committed)}`);
      assert.match(committed, /^[A-Z]/, `prose: the message begins with a capital letter: ${JSON.stringify(committed)}`);
      assert.equal(git(server.workspace, 'show', '--name-only', '--format=', 'HEAD').trim(), 'parser.py');
    });
  });

  test('Ctrl+Alt+D in the terminal: the words are typed, not run; a spoken "press enter" runs them; undo there says it cannot', async (t) => {
    const env = micEnv(t);
    if (!env) {
      return;
    }
    await evidence('terminal', async () => {
      await waitForStatus(page, 0, (label) => label.startsWith('Swictation: idle'), 180_000);
      await runCommand(page, 'Terminal: Create New Terminal');
      await page.locator('.terminal-wrapper.active .xterm, .terminal .xterm').first().waitFor({ timeout: 30_000 });
      // bash has started once it wrote its prompt.
      await page.waitForTimeout(2000);
      await page.locator('.terminal-wrapper.active .xterm').first().click();
      const mark = (await statusHistory(page)).length;
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, mark, (label) => label === 'Swictation: listening', 60_000);
      assert.match(extensionLog(root), /listening into the terminal/);

      // The command as a phrase of its own: typed into the shell while listening, not run.
      await play(wav[ECHO], env);
      const label = await announced('the terminal', 0);
      const typed = label.replace(/^Swictation inserted into the terminal: /, '');
      assert.ok(wordErrorRate(ECHO, typed) <= MAX_WER, `typed ${JSON.stringify(typed)} (said: ${ECHO})`);
      await page.waitForTimeout(1500);
      assert.equal(fs.readFileSync(histfile, 'utf8'), '', 'nothing ran yet');

      // "press enter", then stop: the line runs; bash writes it to its history file.
      await play(wav[ENTER], env);
      const stopMark = (await statusHistory(page)).length;
      await page.keyboard.press('Control+Alt+D');
      await waitForStatus(page, stopMark, (l) => /^Swictation: idle/.test(l), 120_000);
      const ran = await until('the command ran', () => fs.readFileSync(histfile, 'utf8').trim() || undefined, 30_000);
      const lines = ran.split('\n');
      assert.equal(lines.length, 1, `one command ran: ${JSON.stringify(ran)}`);
      assert.ok(wordErrorRate(ECHO, lines[0]) <= MAX_WER, `the command that ran: ${JSON.stringify(lines[0])} (said: ${ECHO})`);
      assert.doesNotMatch(lines[0], /press|enter/i, 'the spoken command is not typed as words');
      await page.screenshot({ path: path.join(artifacts, 'vscode-e2e-terminal.png') });

      await runCommand(page, 'Swictation: Undo Last Utterance');
      assert.match(await toast(/does not work in the terminal/), /Nothing was changed/);
      assert.equal(fs.readFileSync(histfile, 'utf8').trim(), ran, 'nothing else ran');
    });
  });
});

/** Driving the VS Code workbench in Chromium the way a user does: keys, the quick input, the status bar. */
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

export async function openWorkbench(chromiumPath: string, url: string, folder: string): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${url}/?folder=${encodeURIComponent(folder)}`);
    // The folder must hold a file: the explorer rows are the sign the workbench is up.
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 90_000 });
    await page.waitForTimeout(1500);
    return { browser, page };
  } catch (error) {
    await browser.close();
    throw error;
  }
}

/** Press `key` until the quick input shows (the workbench's keybindings load after its DOM). */
export async function openQuickInput(page: Page, key: string): Promise<void> {
  const widget = page.locator('.quick-input-widget');
  for (let attempt = 0; attempt < 30; attempt++) {
    await page.keyboard.press(key);
    try {
      await widget.waitFor({ state: 'visible', timeout: 1000 });
      return;
    } catch {
      await page.keyboard.press('Escape');
    }
  }
  throw new Error(`the quick input did not open with ${key}`);
}

export async function quickInputText(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await input.fill(text);
}

export async function runCommand(page: Page, title: string): Promise<void> {
  await openQuickInput(page, 'F1');
  await quickInputText(page, `>${title}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ timeout: 15_000 });
  await page.keyboard.press('Enter');
}

/**
 * Make `name` the active editor through Quick Open. Enter picks the focused row, which can still
 * be a recently opened file while the list filters: so it waits for `name` to be the active tab,
 * and tries again if another file opened instead.
 */
export async function openFile(page: Page, name: string): Promise<void> {
  const active = page.locator(`.tab.active[data-resource-name="${name}"]`);
  for (let attempt = 1; ; attempt++) {
    await openQuickInput(page, 'Control+P');
    await quickInputText(page, name);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 15_000 });
    await page.waitForTimeout(200);
    await page.keyboard.press('Enter');
    try {
      await active.waitFor({ timeout: 10_000 });
      break;
    } catch (error) {
      if (attempt === 3) {
        throw new Error(`Quick Open did not make ${name} the active editor`, { cause: error });
      }
      await page.keyboard.press('Escape');
    }
  }
  await page.locator('.monaco-editor .view-lines').first().waitFor();
}

/** Go to line:column (1-based) with Ctrl+G. */
export async function goTo(page: Page, line: number, column: number): Promise<void> {
  await openQuickInput(page, 'Control+G');
  await quickInputText(page, `:${line}:${column}`);
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
}

/** The status item's accessible label (`Swictation: <state>…`). */
export function statusItem(page: Page) {
  return page.locator(STATUS_SELECTOR).first();
}

const STATUS_SELECTOR = '.statusbar-item [aria-label^="Swictation:"], .statusbar-item[aria-label^="Swictation:"]';

/** Start recording every label the status item shows (read back with `statusHistory`). */
export async function recordStatus(page: Page): Promise<void> {
  // Runs in the page (a string: this project compiles without the DOM library).
  await page.evaluate(`(() => {
    window.__swictation = [];
    const read = () => {
      const el = document.querySelector(${JSON.stringify(STATUS_SELECTOR)});
      const label = el ? el.getAttribute('aria-label') || '' : '';
      const seen = window.__swictation;
      if (label && seen[seen.length - 1] !== label) {
        seen.push(label);
      }
    };
    read();
    new MutationObserver(read).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['aria-label'], childList: true });
  })()`);
}

export async function statusHistory(page: Page): Promise<string[]> {
  return page.evaluate('window.__swictation || []');
}

/** Wait until a status label recorded at or after `from` satisfies `predicate`; returns it. */
export async function waitForStatus(page: Page, from: number, predicate: (label: string) => boolean, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await statusHistory(page)).slice(from).find(predicate);
    if (found !== undefined) {
      return found;
    }
    if (Date.now() > deadline) {
      throw new Error(`no matching status label within ${timeoutMs} ms; seen: ${JSON.stringify((await statusHistory(page)).slice(from))}`);
    }
    await page.waitForTimeout(100);
  }
}

/**
 * The ghost texts on screen: the `content` of the decoration rules VS Code generated for
 * `after` attachments that are in use by an element in the editor right now.
 */
export async function ghostTexts(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const texts = [];
    for (const sheet of Array.from(document.styleSheets)) {
      let rules;
      try { rules = sheet.cssRules; } catch (e) { continue; }
      for (const rule of Array.from(rules)) {
        const selector = rule.selectorText || '';
        const content = rule.style && rule.style.content;
        if (!selector.includes('::after') || !content || content === 'none' || content === '""') continue;
        const className = (selector.match(/\\.([\\w-]+)::after/) || [])[1];
        if (!className || !document.querySelector('.monaco-editor .view-lines .' + CSS.escape(className))) continue;
        texts.push(content.replace(/^"|"$/g, '').replace(/\\\\a0 ?|\\u00a0/g, ' '));
      }
    }
    return texts;
  })()`);
}

/** Save the active editor (Ctrl+S) and wait until its tab is no longer dirty. */
export async function save(page: Page): Promise<void> {
  await page.keyboard.press('Control+S');
  await page.locator('.tab.active.dirty').waitFor({ state: 'detached', timeout: 10_000 });
}

/** Run Swictation: Transcribe Audio File… on `wav`, through code-server's simple file dialog. */
export async function transcribeFile(page: Page, wav: string): Promise<void> {
  await runCommand(page, 'Swictation: Transcribe Audio File');
  // code-server has no native dialog: the simple file dialog is a quick input holding a path.
  // It fills in the folder and lists it when ready, and may refresh once more: a path typed
  // before then is overwritten, so type it until it stays.
  const input = page.locator('.quick-input-widget input');
  const widget = page.locator('.quick-input-widget');
  await page.locator('.quick-input-list .monaco-list-row').first().waitFor({ timeout: 15_000 });
  // A refresh can also come after the path stayed, and Enter then meets the folder ("Please
  // select a file."): while the dialog is still up, type the path again and press Enter again
  // (never into the editor behind it).
  for (let round = 1; ; round++) {
    for (let attempt = 0; ; attempt++) {
      await quickInputText(page, wav);
      await page.waitForTimeout(300);
      if ((await input.inputValue()) === wav) {
        break;
      }
      if (attempt === 20) {
        throw new Error(`the file dialog does not keep the path: ${JSON.stringify(await input.inputValue())}`);
      }
    }
    await page.keyboard.press('Enter');
    try {
      await widget.waitFor({ state: 'hidden', timeout: 10_000 });
      return;
    } catch (error) {
      if (!(await widget.isVisible())) {
        return; // it closed just after the wait gave up
      }
      if (round === 3) {
        throw error;
      }
    }
  }
}


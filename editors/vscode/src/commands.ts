/**
 * The commands that are not dictation: choose the mode, show the server's status, download
 * models. Each takes what it needs; extension.ts registers them.
 */
import type { SwictationClient } from './client';
import type { Problem } from './errors';
import { isCancellation, problemFromError } from './errors';
import type { ModelPickItem } from './models';
import { DownloadProgress, downloadOutcome, modelPickItems, modelProblems, modelsToFix, servingLines } from './models';
import * as protocol from './protocol';
import type { Mode } from './protocol';
import type { ClientSettings } from './settings';
import { MODES, cliCommand, serverCommand } from './settings';
import type { StatusStore } from './status';
import * as api from './vscodeapi';

const MODE_DESCRIPTIONS: Record<Mode, string> = {
  fast: 'Lowest latency',
  accurate: 'Fewer errors, slower',
  auto: 'The engine chooses (long audio and final text use accurate)',
};

/** Quick pick of fast / accurate / auto; writes `swictation.defaultMode` (user settings). */
export async function selectMode(current: Mode): Promise<void> {
  const picked = await api.showQuickPick(
    MODES.map((mode) => ({ label: mode, description: MODE_DESCRIPTIONS[mode] + (mode === current ? ' (current)' : '') })),
    { title: 'Swictation: Select Mode', placeHolder: `Current: ${current}` },
  );
  if (picked) {
    await api.updateSetting('defaultMode', picked.label);
  }
}

/** The models problems and the models serving, for the status item (errors only logged). */
export async function refreshModels(client: SwictationClient, status: StatusStore, log: api.LogOutputChannel): Promise<void> {
  try {
    const s = await client.request(protocol.STATUS, {});
    status.update({ serving: servingLines(s) });
  } catch (error) {
    log.warn(`swictation/status: ${(error as Error).message}`);
  }
  if (!supportsModels(client)) {
    return;
  }
  try {
    const models = await client.request(protocol.MODELS, {});
    const problems = modelProblems(models);
    status.update({ modelProblems: problems });
    for (const problem of problems) {
      log.warn(problem);
    }
  } catch (error) {
    log.warn(`swictation/models: ${(error as Error).message}`);
  }
}

function supportsModels(client: SwictationClient): boolean {
  return client.serverMethods === undefined || client.serverMethods.includes(protocol.MODELS);
}

/** A one-line summary of swictation/status and of the configured models (full JSON in the log). */
export async function showStatus(
  client: SwictationClient,
  log: api.LogOutputChannel,
  report: (p: Problem) => void,
  download: (names?: string[]) => unknown,
): Promise<void> {
  try {
    const s = await client.request(protocol.STATUS, {});
    log.info(`swictation/status: ${JSON.stringify(s, null, 2)}`);
    let problems: string[] = [];
    let fix: string[] = [];
    if (supportsModels(client)) {
      try {
        const models = await client.request(protocol.MODELS, {});
        log.info(`swictation/models: ${JSON.stringify(models, null, 2)}`);
        problems = modelProblems(models);
        fix = modelsToFix(models);
      } catch (error) {
        log.warn(`swictation/models: ${(error as Error).message}`);
      }
    }
    // While the engine loads a model has no provider yet: say nothing rather than "on ".
    const models = s.engine.models.map((m) => `${m.mode}: ${m.name}${m.provider ? ` on ${m.provider}` : ''}${m.ready ? '' : ` (${m.problem ?? 'not ready'})`}`);
    const latency = Object.entries(s.metrics)
      .filter(([, m]) => m.p50Ms !== null && m.p50Ms !== undefined)
      .map(([mode, m]) => `${mode} p50 ${Math.round(m.p50Ms as number)} ms`);
    const language = s.engine.language ? [`language ${s.engine.language}`] : [];
    // The language before the models: a long model problem must not push it out of a cut-off toast.
    const message = [`Swictation: ${s.state}`, ...language, ...models, ...latency, `${s.inputDevices.length} input device(s)`, ...problems].join(' · ');
    const actions = problems.length ? ['Download models', 'Show logs'] : ['Show logs'];
    const picked = await api.showMessage(problems.length ? 'warning' : 'info', message, ...actions);
    if (picked === 'Download models') {
      await download(fix.length ? fix : undefined);
    } else if (picked === 'Show logs') {
      log.show();
    }
  } catch (error) {
    report(problemFromError(error));
  }
}

let downloadCounter = 0;

/**
 * Download models in the editor: `names`, or those picked from the catalogue (size and role),
 * each with a cancellable progress notification fed by the server's work-done progress. A server
 * without `swictation/models` gets `swictation-rpc models download` in a terminal instead.
 */
export async function downloadModels(
  names: string[] | undefined,
  client: SwictationClient,
  settings: ClientSettings,
  restart: () => unknown,
  log: api.LogOutputChannel,
  report: (p: Problem) => void,
  after: () => unknown,
): Promise<void> {
  if (!supportsModels(client)) {
    return downloadInTerminal(names, client, settings, restart, log);
  }
  let picks: { name: string; force: boolean }[];
  try {
    const catalogue = await client.request(protocol.MODELS, {});
    log.info(`swictation/models: ${JSON.stringify(catalogue)}`);
    const items = modelPickItems(catalogue);
    if (names?.length) {
      picks = names.map((name) => ({ name, force: items.find((i) => i.name === name)?.force ?? false }));
    } else {
      const picked: ModelPickItem | undefined = await api.showQuickPick(items, {
        title: 'Swictation: Download Models',
        placeHolder: `Pick a model to download (to ${catalogue.modelsDir})`,
        matchOnDescription: true,
        matchOnDetail: true,
      });
      picks = picked ? [{ name: picked.name, force: picked.force }] : [];
    }
  } catch (error) {
    if ((error as { code?: unknown }).code === -32601) {
      return downloadInTerminal(names, client, settings, restart, log);
    }
    report(problemFromError(error));
    return;
  }
  for (const { name, force } of picks) {
    if (!(await downloadOne(client, name, force, log, report))) {
      break;
    }
  }
  if (picks.length) {
    await after();
  }
}

/** One download with a cancellable progress notification; false when it failed or was cancelled. */
async function downloadOne(client: SwictationClient, name: string, force: boolean, log: api.LogOutputChannel, report: (p: Problem) => void): Promise<boolean> {
  const workDoneToken = `swictation-download-${process.pid}-${++downloadCounter}`;
  log.info(`Downloading ${name}${force ? ' again' : ''}`);
  try {
    const result = await api.withCancellableProgress(`Swictation: downloading ${name}`, async (progress, token) => {
      const bar = new DownloadProgress();
      const sub = client.onWorkDoneProgress(workDoneToken, (value) => {
        if (value.kind === 'end') {
          log.info(`${name}: ${value.message ?? 'done'}`);
          return;
        }
        const increment = bar.increment(value.percentage);
        progress.report({ message: value.message, increment });
      });
      const cancel = token.onCancellationRequested(() => {
        log.info(`Cancelling the download of ${name}`);
        void client.notify('window/workDoneProgress/cancel', { token: workDoneToken });
      });
      try {
        return await client.request(protocol.DOWNLOAD_MODEL, { name, force, workDoneToken });
      } finally {
        sub.dispose();
        cancel.dispose();
      }
    });
    const { level, message } = downloadOutcome(result);
    if (level === 'warning') {
      log.warn(message);
    } else {
      log.info(message);
    }
    void api.showMessage(level, message);
    return true;
  } catch (error) {
    if (isCancellation(error)) {
      const message = `The download of ${name} was cancelled; nothing was installed.`;
      log.info(message);
      void api.showMessage('info', message);
    } else {
      report(problemFromError(error));
    }
    return false;
  }
}

/**
 * Run `swictation-rpc models download NAME` in a task for each model (or the configured ones the
 * user picks), then restart the server so it loads them: for a server without `swictation/models`.
 */
async function downloadInTerminal(
  requested: string[] | undefined,
  client: SwictationClient,
  settings: ClientSettings,
  restart: () => unknown,
  log: api.LogOutputChannel,
): Promise<void> {
  const source = api.configSource();
  const configured = [source.get<string>('models.fast'), source.get<string>('models.accurate')].filter((m): m is string => !!m);
  let names = requested?.length ? requested : configured;
  if (names.length > 1) {
    names = (await api.showQuickPickMany(names, 'Swictation: download which models?')) ?? [];
  }
  const server = client.serverCommand ?? serverCommand(settings, { workspaceFolder: api.workspaceFolderPath() });
  let remaining = names.length;
  for (const name of names) {
    const { command, args } = cliCommand(server, ['models', 'download', name]);
    const execution = await api.runProcessTask(`Download ${name}`, command, args);
    const done = api.onDidEndTaskProcess((e) => {
      if (e.execution !== execution) {
        return;
      }
      done.dispose();
      if (e.exitCode === 0) {
        log.info(`Model ${name} downloaded`);
        if (--remaining === 0) {
          log.info('Restarting the server to load the downloaded models');
          void restart();
        }
      } else {
        log.error(`Downloading ${name} failed (exit code ${e.exitCode}); see the task's terminal`);
      }
    });
  }
}

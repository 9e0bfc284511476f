/**
 * The commands that are not dictation: choose the mode, show the server's status, download the
 * models a problem names. Each takes what it needs; extension.ts registers them.
 */
import type { SwictationClient } from './client';
import type { Problem } from './errors';
import { problemFromError } from './errors';
import * as protocol from './protocol';
import type { Mode } from './protocol';
import type { ClientSettings } from './settings';
import { MODES, cliCommand, serverCommand } from './settings';
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

/** A one-line summary of swictation/status (full JSON in the log). */
export async function showStatus(client: SwictationClient, log: api.LogOutputChannel, report: (p: Problem) => void): Promise<void> {
  try {
    const s = await client.request(protocol.STATUS, {});
    log.info(`swictation/status: ${JSON.stringify(s, null, 2)}`);
    const models = s.engine.models.map((m) => `${m.mode}: ${m.name} on ${m.provider}${m.ready ? '' : ` (${m.problem ?? 'not ready'})`}`);
    const latency = Object.entries(s.metrics)
      .filter(([, m]) => m.p50Ms !== null && m.p50Ms !== undefined)
      .map(([mode, m]) => `${mode} p50 ${Math.round(m.p50Ms as number)} ms`);
    const message = [`Swictation: ${s.state}`, ...models, ...latency, `${s.inputDevices.length} input device(s)`].join(' · ');
    if (await api.showMessage('info', message, 'Show logs')) {
      log.show();
    }
  } catch (error) {
    report(problemFromError(error));
  }
}

/**
 * Run `swictation-rpc models download NAME` in a task for the model the problem names (or the
 * configured ones the user picks), then restart the server so it loads them.
 */
export async function downloadModels(
  problem: Problem,
  client: SwictationClient,
  settings: ClientSettings,
  restart: () => unknown,
  log: api.LogOutputChannel,
): Promise<void> {
  const source = api.configSource();
  const configured = [source.get<string>('models.fast'), source.get<string>('models.accurate')].filter((m): m is string => !!m);
  let names = typeof problem.data.model === 'string' ? [problem.data.model] : configured;
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

/**
 * Entry point: builds the parts, connects them and registers the commands. No logic of its own.
 */
import { SwictationClient } from './client';
import { downloadModels, selectMode, showStatus } from './commands';
import { Dictation } from './dictation';
import { Notifier } from './notify';
import * as protocol from './protocol';
import type { ClientSettings } from './settings';
import { SECTION, readClientSettings, requiresRestart, sameJson, serverKeys, serverOptions } from './settings';
import { StatusStore, describeStatus, initialStatus } from './status';
import * as api from './vscodeapi';

let client: SwictationClient | undefined;

/** The part of package.json read here: the settings the extension contributes. */
interface Manifest {
  contributes?: { configuration?: { properties?: Record<string, unknown> } };
}

export function activate(context: api.ExtensionContext): void {
  const log = api.createLogOutputChannel('Swictation');
  const manifest = context.extension.packageJSON as Manifest | undefined;
  const keys = serverKeys(Object.keys(manifest?.contributes?.configuration?.properties ?? {}));
  let settings: ClientSettings = readClientSettings(api.configSource());
  let options = serverOptions(keys, api.configSource());

  const status = new StatusStore(initialStatus(settings.defaultMode));
  const item = api.createStatusItem('swictation.statusItemClicked');
  item.render(describeStatus(status.model));
  status.onChange((model) => {
    item.render(describeStatus(model));
    void api.setContext('swictation.state', model.phase === 'running' ? model.state : model.phase);
  });

  const start = () => swictation.start(settings, options);
  const notifier: Notifier = new Notifier(log, () => settings.notifications, {
    downloadModels: (_action, problem) => downloadModels(problem, swictation, settings, start, log),
    openSettings: (action) => api.openSettings(action.setting ?? SECTION),
    showLogs: () => log.show(),
    stopDictation: () => api.executeCommand('swictation.stopDictation'),
    restartServer: () => api.executeCommand('swictation.restartServer'),
    insertText: (_action, problem) => typeof problem.data.text === 'string' && dictation.insertText(problem.data.text),
    copyText: (_action, problem) => typeof problem.data.text === 'string' && api.copyToClipboard(problem.data.text),
    showDocument: (_action, problem) => typeof problem.data.uri === 'string' && api.showDocument(problem.data.uri),
  });
  const swictation = new SwictationClient(log, status, notifier);
  client = swictation;
  const report = notifier.problem.bind(notifier);
  const dictation = new Dictation({ client: swictation, status, settings: () => settings, report, log });

  swictation.onStateChanged((p) => status.update({ state: p.state, reason: p.reason ?? undefined }));
  swictation.onRunning(async () => {
    try {
      status.update({ state: (await swictation.request(protocol.STATUS, {})).state });
    } catch (error) {
      log.warn(`swictation/status: ${(error as Error).message}`);
    }
  });

  /** Commands start the server on first use when it is not running (startOnStartup off, or it failed). */
  const whenRunning =
    <A extends unknown[]>(run: (...args: A) => unknown) =>
    async (...args: A) =>
      (await swictation.ready(start)) ? run(...args) : undefined;

  context.subscriptions.push(
    log,
    item,
    swictation,
    dictation,
    api.registerCommand('swictation.startDictation', whenRunning(() => dictation.start())),
    api.registerCommand('swictation.stopDictation', () => dictation.stop()),
    api.registerCommand('swictation.toggleDictation', whenRunning(() => dictation.toggle())),
    api.registerCommand('swictation.cancelDictation', () => dictation.cancel()),
    api.registerCommand('swictation.transcribeFile', whenRunning((file?: unknown) => dictation.transcribeFile(file))),
    api.registerCommand('swictation.selectMode', () => selectMode(settings.defaultMode)),
    api.registerCommand('swictation.showHistory', whenRunning(() => dictation.showHistory())),
    api.registerCommand('swictation.undoUtterance', whenRunning(() => dictation.undoUtterance())),
    api.registerCommand('swictation.showStatus', whenRunning(() => showStatus(swictation, log, report))),
    api.registerCommand('swictation.restartServer', () => start()),
    api.registerCommand('swictation.showLogs', () => log.show()),
    api.registerCommand('swictation.statusItemClicked', () =>
      status.model.phase === 'failed' || status.model.phase === 'stopped' ? start() : whenRunning(() => dictation.toggle())(),
    ),
    api.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration(SECTION)) {
        return;
      }
      const previous = settings;
      const previousOptions = options;
      settings = readClientSettings(api.configSource());
      options = serverOptions(keys, api.configSource());
      status.update({ mode: settings.defaultMode });
      if (requiresRestart(previous, settings)) {
        log.info('The server command changed: restarting the server');
        void start();
      } else if (!sameJson(previousOptions, options)) {
        void swictation.pushConfiguration(options);
      }
    }),
  );

  if (settings.startOnStartup) {
    void start();
  }
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}

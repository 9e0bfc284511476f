/**
 * Entry point: builds the parts, connects them and registers the commands. No logic of its own.
 */
import { announcement } from './announce';
import { SwictationClient } from './client';
import { downloadModels, refreshModels, selectMode, showStatus } from './commands';
import { Installer, managedPython } from './installer';
import { misplacedSettingFailure } from './launch';
import { Dictation } from './dictation';
import { Notifier } from './notify';
import * as protocol from './protocol';
import type { ClientSettings } from './settings';
import { SECTION, readClientSettings, requiresRestart, sameJson, serverKeys, serverOptions } from './settings';
import type { ServerCommand } from './settings';
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
  const storage = context.globalStorageUri.fsPath;
  // While pip runs the item says installing, with the step and pip's latest line.
  const installer = new Installer(storage, log, (progress) => {
    if (progress) {
      status.update({ phase: 'installing', progress });
    }
  });
  /** Install (or upgrade) into the private environment, then start the server from it. */
  const install = async () => {
    // The "not found … Install" message, if still up (the install was started from the command
    // palette), would read as the outcome: the install's progress and result replace it.
    await notifier.installStarting();
    // An upgrade replaces the files of the server that runs from that environment: stop it first.
    const upgradingRunning = swictation.serverCommand?.source === 'managed' && swictation.isRunning;
    if (upgradingRunning) {
      await swictation.stop();
    }
    const before = { phase: status.model.phase, reason: status.model.reason };
    const installed = await installer.install(settings.packageSpec);
    if (installed || upgradingRunning) {
      await start();
    } else if (status.model.phase === 'installing') {
      // Failed or cancelled: the item says again why the server cannot start.
      status.update(before);
    }
  };
  const download = (names?: string[]) =>
    downloadModels(names, swictation, settings, start, log, (p) => notifier.problem(p), () => refreshModels(swictation, status, log));
  const notifier: Notifier = new Notifier(log, () => settings.notifications, {
    downloadModels: (_action, problem) => download(typeof problem.data.model === 'string' ? [problem.data.model] : undefined),
    installServer: () => install(),
    openSettings: (action) => api.openSettings(action.setting ?? SECTION),
    showLogs: () => log.show(),
    stopDictation: () => api.executeCommand('swictation.stopDictation'),
    restartServer: () => api.executeCommand('swictation.restartServer'),
    insertText: (_action, problem) => typeof problem.data.text === 'string' && dictation.insertText(problem.data.text),
    copyText: (_action, problem) => typeof problem.data.text === 'string' && api.copyToClipboard(problem.data.text),
    showDocument: (_action, problem) => typeof problem.data.uri === 'string' && api.showDocument(problem.data.uri),
  });
  /** A machine setting in the User settings of a remote window is ignored there: say so, do not guess. */
  const misplaced = (command: ServerCommand) => {
    const found = api.misplacedMachineSettings(storage).filter((m) => m.key.startsWith('server.'));
    for (const m of found) {
      log.warn(misplacedSettingFailure(m.key, m.value, api.remoteName() ?? 'remote').message);
    }
    // In effect only when no other setting chose the command: then it is why the server is not found.
    return found.length && (command.source === 'default' || command.source === 'managed')
      ? misplacedSettingFailure(found[0].key, found[0].value, api.remoteName() ?? 'remote')
      : undefined;
  };
  const swictation = new SwictationClient(
    log,
    status,
    notifier,
    () => ({ workspaceFolder: api.workspaceFolderPath(), managedPython: managedPython(storage) }),
    misplaced,
  );
  client = swictation;
  const report = notifier.problem.bind(notifier);
  const announcer = api.createAnnouncer();
  const announce = (inserted: string, where: string) => {
    const said = settings.announce ? announcement(inserted, where) : undefined;
    if (said) {
      announcer.announce(said);
    }
  };
  const dictation = new Dictation({ client: swictation, status, settings: () => settings, report, log, announce });

  swictation.onStateChanged((p) => {
    const previous = status.model.state;
    status.update({ state: p.state, reason: p.reason ?? undefined });
    // The engine (re)loaded: which models serve, which configured ones are missing.
    if (p.state === 'idle' && (previous === 'loading' || previous === 'error')) {
      void refreshModels(swictation, status, log);
    }
  });
  swictation.onRunning(async () => {
    status.update({ serving: undefined, modelProblems: undefined });
    try {
      status.update({ state: (await swictation.request(protocol.STATUS, {})).state });
    } catch (error) {
      log.warn(`swictation/status: ${(error as Error).message}`);
    }
    await refreshModels(swictation, status, log);
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
    announcer,
    api.registerCommand('swictation.startDictation', whenRunning(() => dictation.start())),
    api.registerCommand('swictation.toggleDictationInCommitMessage', whenRunning(() => dictation.toggle('commitMessage'))),
    api.registerCommand('swictation.toggleDictationInTerminal', whenRunning(() => dictation.toggle('terminal'))),
    api.registerCommand('swictation.stopDictation', () => dictation.stop()),
    api.registerCommand('swictation.toggleDictation', whenRunning(() => dictation.toggle())),
    api.registerCommand('swictation.cancelDictation', () => dictation.cancel()),
    api.registerCommand('swictation.transcribeFile', whenRunning((file?: unknown) => dictation.transcribeFile(file))),
    api.registerCommand('swictation.selectMode', () => selectMode(settings.defaultMode)),
    api.registerCommand('swictation.showHistory', whenRunning(() => dictation.showHistory())),
    api.registerCommand('swictation.undoUtterance', whenRunning(() => dictation.undoUtterance())),
    api.registerCommand('swictation.correctThat', whenRunning(() => dictation.correctThat())),
    api.registerCommand('swictation.showStatus', whenRunning(() => showStatus(swictation, log, report, download))),
    api.registerCommand('swictation.downloadModels', whenRunning(() => download())),
    api.registerCommand('swictation.restartServer', () => start()),
    api.registerCommand('swictation.installServer', () => install()),
    api.registerCommand('swictation.showLogs', () => log.show()),
    api.registerCommand('swictation.statusItemClicked', () =>
      status.model.phase === 'installing'
        ? log.show()
        : status.model.phase === 'failed' || status.model.phase === 'stopped'
          ? start()
          : whenRunning(() => dictation.toggle())(),
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

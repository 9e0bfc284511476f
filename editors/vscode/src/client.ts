/**
 * The language client: launches `swictation-rpc serve --stdio` (or the configured executable or
 * Python), checks first that it can, keeps it running, and offers typed requests and the
 * server's notifications to the rest of the extension.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  RevealOutputChannelOn,
  ShowMessageNotification,
  State as ClientState,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';
import type {
  CloseHandlerResult,
  ErrorHandlerResult,
  FeatureState,
  LanguageClientOptions,
  ServerCapabilities,
  StaticFeature,
  WorkDoneProgressBegin,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
} from 'vscode-languageclient/node';

import type { Problem } from './errors';
import { severityOfMessageType } from './errors';
import * as protocol from './protocol';
import type { PartialParams, PhraseCommittedParams, RefinedParams, RequestMap, RequestMethod, StateChangedParams } from './protocol';
import type { StartFailure } from './launch';
import { lastLine, notAServerMessage, preflight } from './launch';
import type { ClientSettings, PathContext, ServerCommand } from './settings';
import { SECTION, displayCommand, serverCommand } from './settings';
import type { StatusStore } from './status';
import * as api from './vscodeapi';


/** Lines of server stderr kept to explain a failed start. */
const STDERR_TAIL_LINES = 30;
/** Crashes within this window count toward giving up. */
const CRASH_WINDOW_MS = 3 * 60_000;
const MAX_CRASH_RESTARTS = 3;
/** A started command that has not answered `initialize` by then is not the server (it answers at once). */
const INITIALIZE_TIMEOUT_S = 60;

/**
 * The library's own error notifications (“couldn't create connection to server”, with a raw
 * JSON-RPC code) stay in the log: the user gets one message from this extension instead, which
 * says what happened and what to do.
 */
class QuietLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }
}

/** How the last spawned server process ended. */
interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Reports problems to the user; implemented by notify.ts. */
export interface ProblemSink {
  problem(problem: Problem): void;
  startFailure(failure: StartFailure): void;
}

/** An error the server never saw: it is not running. Shaped like a JSON-RPC error. */
export class ServerNotRunningError extends Error {
  readonly code = -32099;
  readonly data = { kind: 'server-not-running', remedy: 'Run “Swictation: Restart Server”, or see “Swictation: Show Logs”.' };
  constructor() {
    super('The Swictation server is not running');
  }
}

/**
 * Registered last, so it runs after the built-in features: status-bar progress for the server's
 * work-done progress (model loading) and server messages through the severity policy.
 */
class SwictationFeature implements StaticFeature {
  constructor(
    private readonly client: LanguageClient,
    private readonly owner: SwictationClient,
  ) {}

  getState(): FeatureState {
    return { kind: 'static' };
  }

  fillClientCapabilities(): void {}

  initialize(capabilities: ServerCapabilities): void {
    this.owner.serverMethods = (capabilities.experimental as { swictation?: { methods?: string[] } } | undefined)?.swictation?.methods;
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      const sub = this.client.onProgress(WorkDoneProgress.type, token, (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) => {
        this.owner.progress(value);
        if (value.kind === 'end') {
          sub.dispose();
        }
      });
    });
    this.client.onNotification(ShowMessageNotification.type, ({ type, message }) => {
      this.owner.serverMessage(type, message);
    });
  }

  clear(): void {}
}

class InitializeTimeout extends Error {
  constructor() {
    super(`no answer to initialize within ${INITIALIZE_TIMEOUT_S} s`);
  }
}

export class SwictationClient implements api.Disposable {
  private client: LanguageClient | undefined;
  private command: ServerCommand | undefined;
  private stderrTail: string[] = [];
  private child: ChildProcess | undefined;
  private childExit: Promise<Exit> | undefined;
  private stopping = false;
  private everRunning = false;
  private crashes: number[] = [];
  private starting: Promise<boolean> | undefined;
  private options: Record<string, unknown> = {};
  private readonly disposables: api.Disposable[] = [];
  /** The swictation methods the server advertises (initialize result `experimental.swictation`). */
  serverMethods: string[] | undefined;

  private readonly stateChanged = api.newEventEmitter<StateChangedParams>();
  private readonly partial = api.newEventEmitter<PartialParams>();
  private readonly refined = api.newEventEmitter<RefinedParams>();
  private readonly phraseCommitted = api.newEventEmitter<PhraseCommittedParams>();
  private readonly running = api.newEventEmitter<void>();
  private readonly stopped = api.newEventEmitter<void>();
  readonly onStateChanged = this.stateChanged.event;
  readonly onPartial = this.partial.event;
  readonly onRefined = this.refined.event;
  readonly onPhraseCommitted = this.phraseCommitted.event;
  /** Fires each time a server (re)started and answered initialize. */
  readonly onRunning = this.running.event;
  /**
   * Fires each time a running server stops: it crashed or was killed (and may be restarted), or it
   * was stopped or restarted on purpose. Whatever it held (a dictation session) is gone.
   */
  readonly onStopped = this.stopped.event;

  constructor(
    private readonly log: api.LogOutputChannel,
    private readonly status: StatusStore,
    private readonly problems: ProblemSink,
    /** Where the command comes from besides the settings (the private environment), read at each start. */
    private readonly pathContext: () => PathContext = () => ({ workspaceFolder: api.workspaceFolderPath() }),
    /** A check run before each start (settings in the wrong scope); a failure stops the start. */
    private readonly check: (command: ServerCommand) => StartFailure | undefined = () => undefined,
  ) {
    this.disposables.push(this.stateChanged, this.partial, this.refined, this.phraseCommitted, this.running, this.stopped);
  }

  get isRunning(): boolean {
    return this.client?.state === ClientState.Running;
  }

  /** The command the server runs with (also used to run `swictation-rpc models download`). */
  get serverCommand(): ServerCommand | undefined {
    return this.command;
  }

  /**
   * True once the server runs: waits for a start in progress, or runs `start` when none is
   * (the first command with `startOnStartup` off, or after a failure the user may have fixed).
   */
  async ready(start: () => Promise<boolean>): Promise<boolean> {
    if (this.isRunning) {
      return true;
    }
    return this.starting ?? start();
  }

  /** Start the server; false (after telling the user why) when it cannot. */
  start(settings: ClientSettings, options: Record<string, unknown>): Promise<boolean> {
    const starting = this.doStart(settings, options).finally(() => {
      if (this.starting === starting) {
        this.starting = undefined;
      }
    });
    this.starting = starting;
    return starting;
  }

  private async doStart(settings: ClientSettings, options: Record<string, unknown>): Promise<boolean> {
    if (this.client) {
      await this.stop();
    }
    this.options = options;
    this.stopping = false;
    this.everRunning = false;
    this.crashes = [];
    const command = serverCommand(settings, this.pathContext());
    this.command = command;
    const shown = displayCommand(command.command, command.args);
    this.status.update({ phase: 'starting', serverCommand: shown, reason: undefined });
    this.log.info(`Starting the server: ${shown}`);

    const failure = this.check(command) ?? (await preflight(command));
    if (failure) {
      this.fail(failure);
      return false;
    }

    const client = new QuietLanguageClient(SECTION, 'Swictation', () => this.spawnServer(command), this.clientOptions());
    client.registerFeature(new SwictationFeature(client, this));
    client.onNotification(protocol.STATE_CHANGED, (p: StateChangedParams) => this.stateChanged.fire(p));
    client.onNotification(protocol.PARTIAL, (p: PartialParams) => this.partial.fire(p));
    client.onNotification(protocol.REFINED, (p: RefinedParams) => this.refined.fire(p));
    client.onNotification(protocol.PHRASE_COMMITTED, (p: PhraseCommittedParams) => this.phraseCommitted.fire(p));
    this.disposables.push(
      client.onDidChangeState(({ oldState, newState }) => {
        if (oldState === ClientState.Running && newState !== ClientState.Running) {
          this.stopped.fire();
        }
        if (newState === ClientState.Running) {
          this.everRunning = true;
          this.status.update({ phase: 'running', state: 'loading', reason: undefined });
          this.running.fire();
        } else if (newState === ClientState.Starting) {
          this.status.update({ phase: 'starting' });
        } else if (this.status.model.phase !== 'failed' && this.everRunning) {
          // A start that fails is reported by doStart as `failed`: never `off` on the way there.
          this.status.update({ phase: 'stopped' });
        }
      }),
    );
    this.client = client;
    let silent: ReturnType<typeof setTimeout> | undefined;
    try {
      // Started is not enough: the command must answer `initialize`, or it is not the server.
      await Promise.race([
        client.start(),
        new Promise<never>((_, reject) => {
          silent = setTimeout(() => reject(new InitializeTimeout()), INITIALIZE_TIMEOUT_S * 1000);
        }),
      ]);
      // When the connection closes during initialize, vscode-languageclient's start() can resolve
      // anyway (it returns its cleared start promise): only the state tells.
      if (client.state !== ClientState.Running) {
        throw new Error(`the client is not running after start (state ${client.state})`);
      }
    } catch (error) {
      if (this.client !== client) {
        return false; // stopped or replaced meanwhile
      }
      this.client = undefined;
      const exit = error instanceof InitializeTimeout ? undefined : await this.exitOfChild();
      this.child?.kill();
      this.log.error(`The server did not start: ${(error as Error).message}`);
      this.fail(
        notAServerMessage({
          command: shown,
          exitCode: exit?.code ?? null,
          signal: exit?.signal ?? null,
          silentForS: error instanceof InitializeTimeout ? INITIALIZE_TIMEOUT_S : undefined,
          stderr: this.stderrTail.join('\n'),
          source: command.source,
        }),
      );
      void client.dispose().catch(() => undefined);
      return false;
    } finally {
      clearTimeout(silent);
    }
    this.log.info(`The server is running (${shown}, process ${this.child?.pid ?? '?'})`);
    return true;
  }

  /** How the server process ended: waits a little for it, since the pipe may close before it exits. */
  private async exitOfChild(): Promise<Exit | undefined> {
    const exit = this.childExit;
    if (!exit) {
      return undefined;
    }
    return Promise.race([exit, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3000))]);
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) {
      return;
    }
    this.stopping = true;
    try {
      if (client.state !== ClientState.Stopped) {
        await client.stop(3000);
      }
    } catch (error) {
      this.log.warn(`Stopping the server: ${(error as Error).message}`);
    } finally {
      await client.dispose().catch(() => undefined);
      this.status.update({ phase: 'stopped' });
    }
  }

  /** Typed request; rejects with the server's JSON-RPC error (see errors.ts) or ServerNotRunningError. */
  async request<M extends RequestMethod>(method: M, params: RequestMap[M][0], token?: api.CancellationToken): Promise<RequestMap[M][1]> {
    const client = this.client;
    if (!client || client.state !== ClientState.Running) {
      throw new ServerNotRunningError();
    }
    // No token argument at all when there is none: an `undefined` one would be sent as a
    // second by-position parameter.
    return token ? client.sendRequest<RequestMap[M][1]>(method, params, token) : client.sendRequest<RequestMap[M][1]>(method, params);
  }

  /** Work-done progress the server reports on `token` (a token the extension made for a request). */
  onWorkDoneProgress(
    token: string | number,
    handler: (value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) => void,
  ): api.Disposable {
    const client = this.client;
    if (!client) {
      return { dispose: () => undefined };
    }
    return client.onProgress(WorkDoneProgress.type, token, handler);
  }

  /** Send a notification (e.g. window/workDoneProgress/cancel); nothing when the server is not running. */
  async notify(method: string, params: unknown): Promise<void> {
    const client = this.client;
    if (client?.state === ClientState.Running) {
      await client.sendNotification(method, params);
    }
  }

  /** Push the server's settings tree (only the server's keys) with didChangeConfiguration. */
  async pushConfiguration(options: Record<string, unknown>): Promise<void> {
    this.options = options;
    const client = this.client;
    if (client?.state === ClientState.Running) {
      await client.sendNotification('workspace/didChangeConfiguration', { settings: { [SECTION]: options } });
    }
  }

  // -- called by SwictationFeature ---------------------------------------------------------------

  progress(value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd): void {
    const current = this.status.model.progress;
    if (value.kind === 'begin') {
      this.status.update({ progress: { title: value.title, message: value.message, percentage: value.percentage } });
    } else if (value.kind === 'report') {
      this.status.update({
        progress: {
          title: current?.title ?? 'Loading',
          message: value.message ?? current?.message,
          percentage: value.percentage ?? current?.percentage,
        },
      });
    } else {
      this.status.update({ progress: undefined });
    }
  }

  serverMessage(type: number, message: string): void {
    const severity = severityOfMessageType(type);
    this.log[severity === 'error' ? 'error' : severity === 'warning' ? 'warn' : 'info'](message);
    this.problems.problem({ kind: 'server-message', severity, message, actions: [], data: {} });
  }

  // -- internals ---------------------------------------------------------------------------------

  private clientOptions(): LanguageClientOptions {
    return {
      // No documents: the server needs only what each request carries.
      documentSelector: [],
      outputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => this.options,
      initializationFailedHandler: (error) => {
        this.log.error(`The server failed to initialize: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
      errorHandler: {
        error: (_error, _message, count): ErrorHandlerResult => ({
          action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
          handled: true,
        }),
        closed: (): CloseHandlerResult => this.onClosed(),
      },
      middleware: {
        workspace: {
          // A server that pulls its settings gets the server keys only (not the client's own).
          configuration: (params, token, next) => {
            if (params.items.every((item) => item.section === SECTION)) {
              return params.items.map(() => this.options);
            }
            return next(params, token);
          },
        },
      },
      stdioOptions: {
        stdout: () => undefined,
        stderr: () => undefined,
      },
    };
  }

  private onClosed(): CloseHandlerResult {
    if (this.stopping || !this.everRunning) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    const tail = lastLine(this.stderrTail.join('\n'));
    if (this.crashes.length <= MAX_CRASH_RESTARTS) {
      this.log.warn(`The server exited unexpectedly${tail ? ` (${tail})` : ''}; restarting it.`);
      return { action: CloseAction.Restart, handled: true };
    }
    this.fail({
      message: `The Swictation server stopped ${this.crashes.length} times in ${CRASH_WINDOW_MS / 60_000} minutes${tail ? ` (last: ${tail})` : ''}. Fix the cause (see “Swictation: Show Logs”), then run “Swictation: Restart Server”.`,
      detail: this.stderrTail.join('\n'),
    });
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  private fail(failure: StartFailure): void {
    this.log.error(failure.message);
    if (failure.detail) {
      this.log.error(failure.detail);
    }
    this.status.update({ phase: 'failed', reason: failure.message });
    this.problems.startFailure(failure);
  }

  private spawnServer(command: ServerCommand) {
    this.stderrTail = [];
    const child = spawn(command.command, command.args, {
      cwd: api.workspaceFolderPath(),
      env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' },
      stdio: 'pipe',
      windowsHide: true,
    });
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split(/\r?\n/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.stderrLine(line);
      }
    });
    child.stderr.on('end', () => partial && this.stderrLine(partial));
    child.on('error', (error) => this.log.error(`Cannot run ${command.command}: ${error.message}`));
    this.child = child;
    // Its stderr can end after 'exit' (the last line, without a newline, only then): the exit is
    // reported once stderr ended too, so the failure message quotes it; a descendant that keeps
    // stderr open does not hold it up for more than a second.
    const stderrEnded = new Promise<void>((resolve) => child.stderr.once('close', () => resolve()));
    this.childExit = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))).then(async (exit) => {
      await Promise.race([stderrEnded, new Promise((r) => setTimeout(r, 1000))]);
      return exit;
    });
    void this.childExit.then(({ code, signal }) => {
      if (!this.stopping) {
        this.log.info(`The server process ${child.pid ?? ''} exited (${code !== null ? `code ${code}` : `signal ${signal}`})`);
      }
    });
    return Promise.resolve(child);
  }

  private stderrLine(line: string): void {
    if (!line.trim()) {
      return;
    }
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) {
      this.stderrTail.shift();
    }
    // Once running, the server mirrors its log as window/logMessage; stderr then repeats it.
    if (this.isRunning) {
      this.log.debug(`[stderr] ${line}`);
    } else {
      this.log.info(`[stderr] ${line}`);
    }
  }

  dispose(): void {
    void this.stop();
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}


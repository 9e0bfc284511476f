/**
 * What the status bar item shows: the server's state (loading with progress, idle, listening,
 * transcribing, error), the last latency, the mode. `StatusStore` holds it; `describeStatus`
 * turns it into text, tooltip and colour; `vscodeapi.createStatusItem` renders that. Pure.
 */
import type { ConcreteMode, Mode, State } from './protocol';

/** Where the server process is; `state` only means something while it is `running`. */
export type ServerPhase = 'stopped' | 'starting' | 'running' | 'failed' | 'installing';

export interface Progress {
  title: string;
  message?: string;
  percentage?: number;
}

export interface StatusModel {
  phase: ServerPhase;
  state: State;
  /** The configured mode (`swictation.defaultMode`). */
  mode: Mode;
  progress?: Progress;
  /** From the end of the audio (request sent, or stop) to the text in the document. */
  lastLatencyMs?: number;
  /** The server's decode time for that utterance. */
  lastDecodeMs?: number;
  lastMode?: ConcreteMode;
  lastModel?: string;
  /** The language the last utterance was recognised in (`en`, `de`), when the model says. */
  lastLanguage?: string;
  /** Why the state is `error` or the server `failed`. */
  reason?: string;
  /** Shown in the tooltip: which command runs the server. */
  serverCommand?: string;
  /** The models the engine serves with now, one line each (`fast: whisper-tiny.en on CPU`). */
  serving?: string[];
  /** Configured models that are missing or broken (`swictation/models` `modes[].problem`), one sentence each. */
  modelProblems?: string[];
  /**
   * Utterances whose text has not landed yet. The server reports idle as soon as it has the
   * text; until the edit is in the document the item still says transcribing.
   */
  pending?: number;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** The status bar allows only these two backgrounds. */
  background?: 'warning' | 'error';
  /** Accessible label; end-to-end tests read it too (`Swictation: <state>`). */
  label: string;
  /** The word for the state, as in the label. */
  stateWord: string;
}

export function initialStatus(mode: Mode = 'auto'): StatusModel {
  return { phase: 'stopped', state: 'idle', mode };
}

function percent(progress: Progress | undefined): string {
  return progress?.percentage !== undefined ? ` ${Math.round(progress.percentage)}%` : '';
}

function latency(model: StatusModel): string {
  if (model.lastLatencyMs === undefined) {
    return '';
  }
  return ` · ${Math.round(model.lastLatencyMs)} ms`;
}

export function describeStatus(model: StatusModel): StatusView {
  const mode = model.mode;
  let icon: string;
  let word: string;
  let background: StatusView['background'];
  let detail: string;
  switch (model.phase) {
    case 'stopped':
      icon = '$(circle-slash)';
      word = 'off';
      detail = 'The server is not running. Click to start it.';
      break;
    case 'starting':
      icon = '$(loading~spin)';
      word = 'starting';
      detail = 'Starting the server…';
      break;
    case 'installing':
      icon = '$(loading~spin)';
      word = 'installing';
      detail = model.progress
        ? `${model.progress.title}${model.progress.message ? `: ${model.progress.message}` : ''}`
        : 'Installing swictation-rpc…';
      break;
    case 'failed':
      icon = '$(error)';
      word = 'failed';
      background = 'error';
      detail = model.reason ?? 'The server could not start.';
      break;
    default:
      switch (model.state === 'idle' && (model.pending ?? 0) > 0 ? 'transcribing' : model.state) {
        case 'loading':
          icon = '$(loading~spin)';
          word = 'loading';
          detail = model.progress
            ? `${model.progress.title}${model.progress.message ? `: ${model.progress.message}` : ''}${percent(model.progress)}`
            : 'Loading the speech models…';
          break;
        case 'listening':
          icon = '$(record)';
          word = 'listening';
          background = 'warning';
          detail = 'Listening. Click or press the Toggle Dictation key to stop; Escape cancels.';
          break;
        case 'transcribing':
          icon = '$(sync~spin)';
          word = 'transcribing';
          detail = 'Transcribing…';
          break;
        case 'error':
          icon = '$(error)';
          word = 'error';
          background = 'error';
          detail = model.reason ?? 'The speech engine failed.';
          break;
        default:
          icon = '$(mic)';
          word = 'idle';
          detail = 'Ready. Click to start dictation.';
      }
  }
  const suffix = word === 'loading' || word === 'installing' ? percent(model.progress) : word === 'idle' ? latency(model) : '';
  // Away from a running server the word alone would not say whose item this is.
  const name = model.phase === 'running' ? (word === 'idle' ? `Swictation: ${mode}` : word) : model.phase === 'installing' ? 'Swictation: installing' : 'Swictation';
  const text = `${icon} ${name}${suffix}`;
  const lines = [`Swictation: ${word}`, detail, `Mode: ${mode}`];
  if (model.lastLatencyMs !== undefined) {
    const details = [
      model.lastDecodeMs !== undefined ? `decode ${Math.round(model.lastDecodeMs)} ms` : undefined,
      model.lastMode,
      model.lastModel,
      model.lastLanguage ? `language ${model.lastLanguage}` : undefined,
    ].filter(Boolean);
    lines.push(`Last utterance: ${Math.round(model.lastLatencyMs)} ms to the text${details.length ? ` (${details.join(', ')})` : ''}`);
  }
  if (model.phase === 'running' && model.serving?.length) {
    lines.push(`Serving: ${model.serving.join('; ')}`);
  }
  if (model.phase === 'running' && model.modelProblems?.length) {
    lines.push(...model.modelProblems.map((p) => `⚠ ${p}`), 'Run “Swictation: Download Models…” to download them.');
  }
  if (model.serverCommand) {
    lines.push(`Server: ${model.serverCommand}`);
  }
  return {
    text,
    tooltip: lines.join('\n'),
    background,
    label: `Swictation: ${word}${suffix}`,
    stateWord: word,
  };
}

type Listener = (model: StatusModel) => void;

/** The status model and its listeners (the status item, context keys). */
export class StatusStore {
  private current: StatusModel;
  private readonly listeners = new Set<Listener>();

  constructor(initial: StatusModel = initialStatus()) {
    this.current = initial;
  }

  get model(): StatusModel {
    return this.current;
  }

  update(change: Partial<StatusModel>): void {
    const next = { ...this.current, ...change };
    // Progress belongs to a running server (it is shown while the state is `loading`) or to an
    // install in progress.
    if (next.phase !== 'running' && next.phase !== 'installing') {
      delete next.progress;
    }
    this.current = next;
    for (const listener of this.listeners) {
      listener(next);
    }
  }

  onChange(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }
}

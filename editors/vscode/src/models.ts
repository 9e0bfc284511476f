/**
 * Models from the editor, the pure parts: what `swictation/models` and `swictation/status` mean to
 * the user (which configured model is missing or broken, which models serve), the quick pick of
 * the catalogue with size and role, and the progress of a download. commands.ts shows them.
 */
import type { DownloadModelResult, ModelInfo, ModelsResult, StatusResult } from './protocol';

/** One sentence per configured model that is missing or broken (`modes[].problem`). */
export function modelProblems(result: ModelsResult): string[] {
  return result.modes
    .filter((m) => m.problem)
    .map((m) => {
      const problem = (m.problem ?? '').trim();
      const sentence = problem.toLowerCase().startsWith(m.model.toLowerCase()) || problem.includes(m.model) ? problem : `${m.model}: ${problem}`;
      return `${m.mode} mode: ${/[.!?]$/.test(sentence) ? sentence : `${sentence}.`}`;
    });
}

/**
 * What a finished download says: whether the engine serves the model now, truthfully. A model the
 * engine retired (it failed the check clip) or a failed reload is a warning with the engine's reason.
 */
export function downloadOutcome(result: DownloadModelResult): { level: 'info' | 'warning'; message: string } {
  const where = `${result.name} in ${result.path}`;
  if (result.problem) {
    return { level: 'warning', message: `Swictation: installed ${where}, but it cannot serve yet: ${result.problem.trim()}` };
  }
  const serving = result.serving ?? [];
  if (serving.length) {
    const modes = serving.length === 1 ? `the ${serving[0]} mode uses` : `the ${serving.join(' and ')} modes use`;
    return { level: 'info', message: `Swictation: installed ${where}; ${modes} it now.` };
  }
  return { level: 'info', message: `Swictation: installed ${where}.` };
}

/** The configured models that can be downloaded to fix a problem (catalogue names only). */
export function modelsToFix(result: ModelsResult): string[] {
  const names = new Set(result.models.filter((m) => m.inCatalogue).map((m) => m.name));
  return [...new Set(result.modes.filter((m) => m.problem && names.has(m.model)).map((m) => m.model))];
}

/** The models the loaded engine serves with, one line per mode (`fast: whisper-tiny.en on CPU`). */
export function servingLines(status: Pick<StatusResult, 'engine'>): string[] {
  return status.engine.models.filter((m) => m.ready).map((m) => `${m.mode}: ${m.name}${m.provider ? ` on ${m.provider}` : ''}`);
}

/** 487 200 000 -> "487.2 MB"; an estimate as published ("~460 MB"); "size unknown". */
export function formatSize(model: Pick<ModelInfo, 'size' | 'approxSize'>): string {
  if (typeof model.size === 'number') {
    const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
    let value = model.size;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit++;
    }
    return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
  }
  return model.approxSize ?? 'size unknown';
}

export interface ModelPickItem {
  label: string;
  description: string;
  detail: string;
  /** A configured model that is missing or broken: listed first. */
  fixes: boolean;
  name: string;
  /** Already installed and fine: downloading it again replaces it (`force`). */
  force: boolean;
}

/**
 * The quick pick of `Swictation: Download Models…`: every catalogue model with its size and
 * role, what it is now (installed, serving, broken, configured), the ones that fix a problem
 * first. One is picked: a download is hundreds of MB.
 */
export function modelPickItems(result: ModelsResult): ModelPickItem[] {
  const fix = new Set(modelsToFix(result));
  const configuredFor = (name: string) => result.modes.filter((m) => m.model === name).map((m) => m.mode);
  const items = result.models
    .filter((m) => m.inCatalogue)
    .map((m): ModelPickItem => {
      const roles = m.roles.length ? m.roles.join(' and ') : 'no role';
      const state = m.problem
        ? `broken: ${m.problem}`
        : m.installed
          ? m.serving.length
            ? `installed, serving ${m.serving.join(' and ')}`
            : 'installed'
          : 'not installed';
      const configured = configuredFor(m.name);
      return {
        label: m.name,
        description: `${formatSize(m)} · ${roles}`,
        detail: [m.title, state, configured.length ? `configured for ${configured.join(' and ')} mode` : ''].filter(Boolean).join(' · '),
        fixes: fix.has(m.name),
        name: m.name,
        force: m.installed && !m.problem,
      };
    });
  return items.sort((a, b) => Number(b.fixes) - Number(a.fixes) || a.name.localeCompare(b.name));
}

/** A download's progress as the notification shows it: the step since the last report. */
export class DownloadProgress {
  private last = 0;

  /** The increment to report for `percentage` (never negative; the notification's bar only grows). */
  increment(percentage: number | undefined): number | undefined {
    if (percentage === undefined || !Number.isFinite(percentage)) {
      return undefined;
    }
    const clamped = Math.max(0, Math.min(100, percentage));
    const step = clamped - this.last;
    if (step <= 0) {
      return undefined;
    }
    this.last = clamped;
    return step;
  }
}

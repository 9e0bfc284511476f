/**
 * Problems become notifications here, at the level the user chose (`swictation.notifications`),
 * with their actions wired to what they do. Every problem is logged whatever the level.
 */
import type { StartFailure } from './launch';
import type { Action, ActionId, Problem } from './errors';
import { shouldNotify } from './errors';
import type { NotificationLevel } from './settings';
import * as api from './vscodeapi';

export type ActionHandlers = Record<ActionId, (action: Action, problem: Problem) => unknown>;

export class Notifier {
  /** Messages on screen now: the same one is not stacked twice. */
  private readonly showing = new Set<string>();

  constructor(
    private readonly log: api.LogOutputChannel,
    private readonly level: () => NotificationLevel,
    private readonly handlers: ActionHandlers,
  ) {}

  problem(problem: Problem): void {
    const line = `[${problem.kind}] ${problem.message}`;
    if (problem.severity === 'error') {
      this.log.error(line);
    } else if (problem.severity === 'warning') {
      this.log.warn(line);
    } else {
      this.log.info(line);
    }
    if (shouldNotify(problem.severity, this.level())) {
      void this.show(problem);
    }
  }

  /** The server cannot start: one message with the fix, shown unless notifications are off. */
  startFailure(failure: StartFailure): void {
    const actions: Action[] = [
      ...(failure.offerInstall ? [{ id: 'installServer', label: 'Install swictation-rpc' } as const] : []),
      { id: 'openSettings', label: 'Open settings', setting: failure.setting ?? 'swictation.server' },
      { id: 'showLogs', label: 'Show logs' },
    ];
    const problem: Problem = { kind: 'server-start-failed', severity: 'error', message: failure.message, actions, data: {} };
    if (this.level() !== 'off') {
      void this.show(problem);
    }
  }

  private async show(problem: Problem): Promise<void> {
    if (this.showing.has(problem.message)) {
      return;
    }
    this.showing.add(problem.message);
    try {
      const picked = await api.showMessage(problem.severity, problem.message, ...problem.actions.map((a) => a.label));
      const action = problem.actions.find((a) => a.label === picked);
      if (action) {
        await this.handlers[action.id](action, problem);
      }
    } catch (error) {
      this.log.error(`Notification action failed: ${(error as Error).message}`);
    } finally {
      this.showing.delete(problem.message);
    }
  }
}

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
  /** Messages on screen now, or whose action still runs: the same one is not stacked twice. */
  private readonly showing = new Set<string>();
  /** Messages offering “Install swictation-rpc” that are on screen (not yet closed or clicked). */
  private readonly installOffers = new Set<string>();

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

  /**
   * An install starts. VS Code closes a message whose button was clicked, but one offering the
   * install that is still up (the install was started another way) cannot be closed by an
   * extension: the toasts are hidden (to the notification centre) so the install's progress and
   * outcome are not read next to a stale "not found".
   */
  async installStarting(): Promise<void> {
    if (this.installOffers.size === 0) {
      return;
    }
    this.installOffers.clear();
    try {
      await api.executeCommand('notifications.hideToasts');
    } catch (error) {
      this.log.warn(`Could not hide the earlier messages: ${(error as Error).message}`);
    }
  }

  private async show(problem: Problem): Promise<void> {
    if (this.showing.has(problem.message)) {
      return;
    }
    this.showing.add(problem.message);
    const offersInstall = problem.actions.some((a) => a.id === 'installServer');
    if (offersInstall) {
      this.installOffers.add(problem.message);
    }
    try {
      const picked = await api.showMessage(problem.severity, problem.message, ...problem.actions.map((a) => a.label));
      // Closed, or a button clicked (which closes it): no longer on screen.
      this.installOffers.delete(problem.message);
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

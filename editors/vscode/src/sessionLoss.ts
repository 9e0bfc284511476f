/**
 * A dictation session the server lost: it stopped or restarted while listening, or it answers a
 * stop with "no active session". The local session then ends (no ghost text, not listening) and
 * the user is told once what became of the text. Pure.
 */
import type { Problem } from './errors';
import { POLICY, problemFromError } from './errors';
import type { CommitMode } from './protocol';

/** The server's JSON-RPC code for "no active session" (swictation_rpc/errors.py). */
export const NO_ACTIVE_SESSION_CODE = -33007;

/** What the local session had when the server lost it. */
export interface LostSession {
  commit: CommitMode;
  /** Phrases the server committed (per-phrase): they were inserted and are in the history. */
  phrases: number;
  /** Where the text went ("notes.txt", "the terminal"). */
  where: string;
}

/** The one notice for a session the server lost when it stopped (crashed, killed, restarted). */
export function serverStoppedProblem(lost: LostSession): Problem {
  const kept =
    lost.phrases > 0
      ? ` The ${lost.phrases === 1 ? 'phrase' : `${lost.phrases} phrases`} already inserted into ${lost.where} stay${lost.phrases === 1 ? 's' : ''} (and ${lost.phrases === 1 ? 'is' : 'are'} in the transcript history); what was said after ${lost.phrases === 1 ? 'it' : 'them'} was lost.`
      : ' What was said in it was lost.';
  return {
    kind: 'session-lost',
    severity: POLICY['session-lost'].severity,
    message: `The Swictation server stopped while listening, so the dictation ended.${kept} Toggle Dictation starts a new one.`,
    actions: POLICY['session-lost'].actions,
    data: {},
  };
}

/**
 * Whether a stop (or cancel) failed because the server no longer has the session: no active
 * session, or no server at all. The local session must end then, or it stays stuck listening.
 */
export function serverLostSession(error: unknown): boolean {
  const kind = problemFromError(error).kind;
  const code = (error as { code?: unknown } | undefined)?.code;
  return kind === 'no-active-session' || kind === 'server-not-running' || code === NO_ACTIVE_SESSION_CODE;
}

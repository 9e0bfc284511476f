/**
 * "Correct that": the alternatives of an utterance (`swictation/alternatives`: its text now and
 * its audio decoded with the other mode) in a quick pick; the one chosen replaces the utterance
 * through the utterance-edit path (utteranceEdits.ts: the document the server names, at the
 * version it checked, one undo step, confirmed as kind `correct`). Opened by the command
 * Swictation: Correct That… and when the server reports a spoken "correct that".
 *
 * Pure: the quick pick, the server and the edit path are passed in, so it is unit-tested in plain Node.
 */
import type { Problem } from './errors';
import { isCancellation, problemFromError } from './errors';
import * as protocol from './protocol';
import type { Alternative, AlternativesResult, RequestMap, RequestMethod, RetranscribeResult } from './protocol';

/** One row of the quick pick. */
export interface AlternativePickItem {
  label: string;
  description: string;
  detail?: string;
  alternative: Alternative;
}

/** What each source is called in the list. */
export function sourceLabel(alternative: Alternative): string {
  return alternative.source === 'current' ? `now · ${alternative.mode} · ${alternative.model}` : `${alternative.mode} mode · ${alternative.model}`;
}

/** The quick pick rows: the text now first (marked), then the others. */
export function alternativePickItems(result: AlternativesResult): AlternativePickItem[] {
  return (result.alternatives ?? []).map((alternative) => ({
    label: `${alternative.source === 'current' ? '$(check) ' : ''}${alternative.text.trim() || '(no speech)'}`,
    description: sourceLabel(alternative),
    alternative,
  }));
}

export interface CorrectionsDeps {
  request: <M extends RequestMethod>(method: M, params: RequestMap[M][0]) => Promise<RequestMap[M][1]>;
  /** Shows the rows; undefined when the user dismissed the list. */
  pick: (items: AlternativePickItem[], title: string) => Promise<AlternativePickItem | undefined>;
  /** The utterance-edit path (UtteranceEdits.correct). */
  correct: (utteranceId: string, text: string, uri: string | null | undefined) => Promise<RetranscribeResult | undefined>;
  report: (problem: Problem) => void;
  log: { info(message: string): void };
}

function info(kind: string, message: string): Problem {
  return { kind, severity: 'info', message, actions: [], data: {} };
}

/** Ask for the alternatives of `utteranceId` (the last utterance when undefined), let the user choose, apply. */
export async function correctThat(deps: CorrectionsDeps, utteranceId?: string | null): Promise<RetranscribeResult | undefined> {
  let result: AlternativesResult;
  try {
    result = await deps.request(protocol.ALTERNATIVES, { utteranceId: utteranceId ?? null });
  } catch (error) {
    if (!isCancellation(error)) {
      deps.report(problemFromError(error));
    }
    return undefined;
  }
  const id = result.utteranceId;
  if (!id) {
    deps.report(info('correct-nothing', result.message ?? 'There is nothing to correct: no utterance was dictated yet.'));
    return undefined;
  }
  const items = alternativePickItems(result);
  if (items.length < 2) {
    const why = result.message ?? 'Both modes heard the same text.';
    deps.report(info('correct-no-alternatives', `No other text to offer for “${(result.text ?? '').trim()}”. ${why}`));
    return undefined;
  }
  const picked = await deps.pick(items, `Swictation: Correct “${(result.text ?? '').trim()}”`);
  if (!picked || picked.alternative.source === 'current') {
    deps.log.info(`Correct ${id}: ${picked ? 'kept the text it has' : 'dismissed'}`);
    return undefined;
  }
  return deps.correct(id, picked.alternative.text, result.uri);
}

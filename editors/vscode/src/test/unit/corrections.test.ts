/**
 * "Correct that": the quick pick rows, the choice applied through the utterance-edit path
 * (UtteranceEdits: the document the server names, at its version, confirmed as kind `correct`),
 * and what the user is told when there is nothing to choose. The server and the editor are fakes.
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { AlternativePickItem } from '../../corrections';
import { alternativePickItems, correctThat } from '../../corrections';
import type { Problem } from '../../errors';
import * as protocol from '../../protocol';
import type { AlternativesResult, RequestMap, RequestMethod, RetranscribeResult, TextEdit } from '../../protocol';
import { UtteranceEdits } from '../../utteranceEdits';

const DEMO = 'file:///work/demo.py';
const REPLACE: TextEdit = { range: { start: { line: 1, character: 2 }, end: { line: 1, character: 19 } }, newText: 'Print hello planet' };
const timings = { audioMs: 1, decodeMs: 1, totalMs: 1 };

const LISTED: AlternativesResult = {
  utteranceId: 'u1',
  text: 'Print hello world',
  uri: DEMO,
  message: null,
  alternatives: [
    { text: 'Print hello world', source: 'current', mode: 'fast', model: 'tones-fast' },
    { text: 'Print hello planet', source: 'other-mode', mode: 'accurate', model: 'tones-accurate' },
  ],
};

function corrected(extra: Partial<RetranscribeResult> = {}): RetranscribeResult {
  return { text: 'Print hello planet', mode: 'accurate', model: 'tones-accurate', timings, edits: [REPLACE], utteranceId: 'u1', uri: DEMO, version: 4, ...extra };
}

type Answers = { [M in RequestMethod]?: (params: RequestMap[M][0]) => RequestMap[M][1] };

/** The server (answers), one open document at version 4, and a pick that chooses row `choose`. */
function setup(answers: Answers, choose: number | undefined) {
  const sent: { method: string; params: unknown }[] = [];
  const applied: { uri: string; edits: readonly TextEdit[] }[] = [];
  const problems: Problem[] = [];
  const shown: AlternativePickItem[][] = [];
  let version = 4;
  const request = <M extends RequestMethod>(method: M, params: RequestMap[M][0]): Promise<RequestMap[M][1]> => {
    sent.push({ method, params });
    if (method === protocol.UTTERANCE_EDIT_APPLIED) {
      return Promise.resolve({ item: null } as RequestMap[M][1]);
    }
    const answer = answers[method];
    assert.ok(answer, `unexpected request ${method}`);
    return Promise.resolve(answer(params));
  };
  const edits = new UtteranceEdits({
    request,
    documents: {
      isOpen: () => true,
      open: () => Promise.resolve(version),
      apply: (uri, e) => {
        applied.push({ uri, edits: e });
        version++;
        return Promise.resolve(true);
      },
      isVisible: () => true,
    },
    report: (p) => problems.push(p),
    log: { info: () => undefined, warn: () => undefined },
    sleep: () => Promise.resolve(),
  });
  const deps = {
    request,
    pick: (items: AlternativePickItem[]) => {
      shown.push(items);
      return Promise.resolve(choose === undefined ? undefined : items[choose]);
    },
    correct: (id: string, text: string, uri: string | null | undefined) => edits.correct(id, text, uri),
    report: (p: Problem) => problems.push(p),
    log: { info: () => undefined },
  };
  return { deps, sent, applied, problems, shown };
}

describe('alternativePickItems', () => {
  test('the text now first and marked, each with where it comes from', () => {
    assert.deepEqual(
      alternativePickItems(LISTED).map((i) => [i.label, i.description]),
      [
        ['$(check) Print hello world', 'now · fast · tones-fast'],
        ['Print hello planet', 'accurate mode · tones-accurate'],
      ],
    );
  });
});

describe('correctThat', () => {
  test('the chosen alternative replaces the utterance in its document at the checked version, confirmed as correct', async () => {
    const t = setup({ [protocol.ALTERNATIVES]: () => LISTED, [protocol.CORRECT_UTTERANCE]: () => corrected() }, 1);
    const result = await correctThat(t.deps);
    assert.equal(result?.text, 'Print hello planet');
    assert.deepEqual(t.sent[0], { method: protocol.ALTERNATIVES, params: { utteranceId: null } });
    assert.deepEqual(t.sent[1], { method: protocol.CORRECT_UTTERANCE, params: { utteranceId: 'u1', text: 'Print hello planet' } });
    assert.deepEqual(t.applied, [{ uri: DEMO, edits: [REPLACE] }]);
    assert.deepEqual(t.sent[2], { method: protocol.UTTERANCE_EDIT_APPLIED, params: { utteranceId: 'u1', kind: 'correct', applied: true, failureReason: null } });
    assert.deepEqual(t.problems, []);
  });

  test('a spoken "correct that" asks for the utterance the server named', async () => {
    const t = setup({ [protocol.ALTERNATIVES]: () => LISTED, [protocol.CORRECT_UTTERANCE]: () => corrected() }, 1);
    await correctThat(t.deps, 'u1');
    assert.deepEqual(t.sent[0].params, { utteranceId: 'u1' });
  });

  test('an utterance the user edited is not overwritten: the chosen text is offered instead', async () => {
    const refused = corrected({ edits: [], reason: 'changed', message: 'The utterance was edited in demo.py since it was dictated, so the new text is offered instead of replacing it.' });
    const t = setup({ [protocol.ALTERNATIVES]: () => LISTED, [protocol.CORRECT_UTTERANCE]: () => refused }, 1);
    await correctThat(t.deps);
    assert.deepEqual(t.applied, []);
    assert.deepEqual(t.problems.map((p) => p.kind), ['utterance-offer']);
    assert.match(t.problems[0].message, /Print hello planet/);
  });

  test('keeping the text it has, or dismissing the list, changes nothing', async () => {
    for (const choose of [0, undefined]) {
      const t = setup({ [protocol.ALTERNATIVES]: () => LISTED }, choose);
      assert.equal(await correctThat(t.deps), undefined);
      assert.deepEqual(t.sent.map((s) => s.method), [protocol.ALTERNATIVES]);
      assert.deepEqual(t.applied, []);
    }
  });

  test('nothing to choose from: one message with the server\'s reason, no list', async () => {
    const noAudio: AlternativesResult = { ...LISTED, alternatives: [LISTED.alternatives![0]], message: 'The audio of this utterance was not kept.' };
    const t = setup({ [protocol.ALTERNATIVES]: () => noAudio }, 0);
    await correctThat(t.deps);
    assert.deepEqual(t.shown, []);
    assert.equal(t.problems.length, 1);
    assert.match(t.problems[0].message, /not kept/);

    // A later phrase's text starts with its joining space: the message quotes the words alone.
    const spaced = setup({ [protocol.ALTERNATIVES]: () => ({ ...noAudio, text: ' And runs away.' }) }, 0);
    await correctThat(spaced.deps);
    assert.match(spaced.problems[0].message, /^No other text to offer for “And runs away\.”/);

    const none = setup({ [protocol.ALTERNATIVES]: () => ({ utteranceId: null, alternatives: [], message: 'There is nothing to correct: no utterance was dictated yet.' }) }, 0);
    await correctThat(none.deps);
    assert.deepEqual(none.problems.map((p) => p.message), ['There is nothing to correct: no utterance was dictated yet.']);
  });
});

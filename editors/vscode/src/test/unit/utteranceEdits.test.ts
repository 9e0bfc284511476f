/**
 * Edits of earlier utterances: applied only to the document the server names, at the version it
 * checked, confirmed to the server either way; every refusal is one message and changes nothing.
 * The editor and the server are fakes behind the seam (EditorDocuments, request).
 */
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { Problem } from '../../errors';
import * as protocol from '../../protocol';
import type { HistoryItem, RequestMap, RequestMethod, TextEdit } from '../../protocol';
import type { EditorDocuments } from '../../utteranceEdits';
import { UtteranceEdits, documentName, refusalBeforeApply } from '../../utteranceEdits';

const DEMO = 'file:///work/demo.py';
const OTHER = 'file:///work/other.txt';
const DELETE: TextEdit = { range: { start: { line: 0, character: 4 }, end: { line: 0, character: 9 } }, newText: '' };

interface FakeDocument {
  version: number;
  /** VS Code refuses the edit (read-only). */
  readOnly?: boolean;
}

/** VS Code's documents: open ones, ones that can be opened, what was applied where. */
class FakeDocuments {
  readonly open = new Map<string, FakeDocument>();
  readonly onDisk = new Map<string, FakeDocument>();
  readonly visible = new Set<string>();
  readonly applied: { uri: string; edits: readonly TextEdit[] }[] = [];
  readonly opened: string[] = [];
  /** Called when a document is opened (the server's didOpen). */
  onOpen: (uri: string) => void = () => undefined;

  isOpen(uri: string): boolean {
    return this.open.has(uri);
  }
  openDocument = async (uri: string): Promise<number | undefined> => {
    let doc = this.open.get(uri);
    if (!doc) {
      doc = this.onDisk.get(uri);
      if (!doc) {
        return undefined;
      }
      this.open.set(uri, doc);
      this.opened.push(uri);
      this.onOpen(uri);
    }
    return Promise.resolve(doc.version);
  };
  apply(uri: string, edits: readonly TextEdit[]): Promise<boolean> {
    const doc = this.open.get(uri);
    if (!doc || doc.readOnly) {
      return Promise.resolve(false);
    }
    doc.version++;
    this.applied.push({ uri, edits });
    return Promise.resolve(true);
  }
  isVisible(uri: string): boolean {
    return this.visible.has(uri);
  }
}

type Answers = { [M in RequestMethod]?: (params: RequestMap[M][0]) => RequestMap[M][1] };

function setup(answers: Answers) {
  const documents = new FakeDocuments();
  const port: EditorDocuments = {
    isOpen: (uri) => documents.isOpen(uri),
    open: (uri) => documents.openDocument(uri),
    apply: (uri, edits) => documents.apply(uri, edits),
    isVisible: (uri) => documents.isVisible(uri),
  };
  const problems: Problem[] = [];
  const sent: { method: string; params: unknown }[] = [];
  const edits = new UtteranceEdits({
    request: <M extends RequestMethod>(method: M, params: RequestMap[M][0]) => {
      sent.push({ method, params });
      const answer = answers[method];
      if (method === protocol.UTTERANCE_EDIT_APPLIED && !answer) {
        return Promise.resolve({ item: null } as RequestMap[M][1]);
      }
      assert.ok(answer, `unexpected request ${method}`);
      return Promise.resolve(answer(params));
    },
    documents: port,
    report: (p) => problems.push(p),
    log: { info: () => undefined, warn: () => undefined },
    sleep: () => Promise.resolve(),
  });
  const confirmations = () => sent.filter((s) => s.method === protocol.UTTERANCE_EDIT_APPLIED).map((s) => s.params);
  return { documents, problems, sent, edits, confirmations };
}

const transcript = { text: 'new words', mode: 'accurate' as const, model: 'm', timings: { audioMs: 1, decodeMs: 1, totalMs: 1 } };

function historyItem(extra: Partial<HistoryItem> = {}): HistoryItem {
  return { id: 'u1', text: 'hello', uri: DEMO, range: DELETE.range, mode: 'fast', model: 'm', timings: transcript.timings, createdAt: '2026-01-01T00:00:00Z', ...extra };
}

describe('refusalBeforeApply', () => {
  test('the same version, or none given, applies', () => {
    assert.equal(refusalBeforeApply({ uri: DEMO, version: 3, edits: [DELETE] }, 3), undefined);
    assert.equal(refusalBeforeApply({ uri: DEMO, version: null, edits: [DELETE] }, 7), undefined);
  });
  test('a version that moved on, a document that cannot be opened, or no document: refused', () => {
    assert.equal(refusalBeforeApply({ uri: DEMO, version: 3, edits: [DELETE] }, 4)?.kind, 'utterance-version-mismatch');
    assert.equal(refusalBeforeApply({ uri: DEMO, version: 3, edits: [DELETE] }, undefined)?.kind, 'utterance-document-unavailable');
    assert.equal(refusalBeforeApply({ uri: null, version: 3, edits: [DELETE] }, 3)?.kind, 'utterance-gone');
  });
  test('documentName', () => {
    assert.equal(documentName('file:///work/my%20file.py'), 'my file.py');
    assert.equal(documentName(null), 'the document');
  });
});

describe('undo', () => {
  test('applies the deletion to the document the server names, not the active one, and confirms it', async () => {
    const t = setup({ [protocol.UNDO_UTTERANCE]: () => ({ id: 'u1', uri: DEMO, version: 5, edits: [DELETE] }) });
    t.documents.open.set(DEMO, { version: 5 });
    t.documents.open.set(OTHER, { version: 9 });
    t.documents.visible.add(OTHER);
    assert.equal(await t.edits.undo(), true);
    assert.deepEqual(t.documents.applied, [{ uri: DEMO, edits: [DELETE] }]);
    assert.deepEqual(t.confirmations(), [{ utteranceId: 'u1', kind: 'undo', applied: true, failureReason: null }]);
    // demo.py is not on screen: the user is told where the edit went.
    assert.deepEqual(
      t.problems.map((p) => [p.kind, p.message]),
      [['utterance-edited-elsewhere', 'Removed the utterance from demo.py.']],
    );
  });

  test('a document at another version than the server checked is left alone: one message, applied: false', async () => {
    const t = setup({ [protocol.UNDO_UTTERANCE]: () => ({ id: 'u1', uri: DEMO, version: 5, edits: [DELETE] }) });
    t.documents.open.set(DEMO, { version: 6 });
    t.documents.visible.add(DEMO);
    assert.equal(await t.edits.undo(), false);
    assert.deepEqual(t.documents.applied, []);
    assert.equal(t.problems.length, 1);
    assert.equal(t.problems[0].kind, 'utterance-version-mismatch');
    assert.equal(t.problems[0].severity, 'warning');
    assert.match(t.problems[0].message, /demo\.py changed/);
    const [confirmation] = t.confirmations() as { applied: boolean; failureReason: string }[];
    assert.equal(confirmation.applied, false);
    assert.match(confirmation.failureReason, /version-mismatch/);
  });

  test("a reason from the server is its one sentence; nothing applied, nothing confirmed", async () => {
    for (const reason of ['changed', 'gone', 'already-undone'] as const) {
      const message = `server says ${reason}`;
      const t = setup({ [protocol.UNDO_UTTERANCE]: () => ({ id: 'u1', uri: DEMO, version: 5, edits: [], reason, message }) });
      t.documents.open.set(DEMO, { version: 5 });
      assert.equal(await t.edits.undo(), false);
      assert.deepEqual(t.documents.applied, []);
      assert.deepEqual(t.confirmations(), []);
      assert.deepEqual(
        t.problems.map((p) => [p.kind, p.severity, p.message]),
        [[`utterance-${reason}`, 'warning', message]],
      );
    }
  });

  test('nothing to undo at all is said, not silent', async () => {
    const t = setup({ [protocol.UNDO_UTTERANCE]: () => ({ edits: [], message: 'There is nothing to undo: no utterance was dictated yet.' }) });
    assert.equal(await t.edits.undo(), false);
    assert.deepEqual(t.problems.map((p) => [p.kind, p.message]), [['utterance-none', 'There is nothing to undo: no utterance was dictated yet.']]);
  });

  test('not-synced: the document is opened in the background and the same utterance asked for again', async () => {
    let synced = false;
    const asked: unknown[] = [];
    const t = setup({
      [protocol.UNDO_UTTERANCE]: (params) => {
        asked.push(params.id);
        return synced
          ? { id: 'u7', uri: DEMO, version: 1, edits: [DELETE] }
          : { id: 'u7', uri: DEMO, version: null, edits: [], reason: 'not-synced', message: 'open demo.py' };
      },
    });
    t.documents.onDisk.set(DEMO, { version: 1 });
    t.documents.onOpen = () => {
      synced = true;
    };
    assert.equal(await t.edits.undo(), true);
    assert.deepEqual(asked, [null, 'u7'], 'undo last, then that utterance by id');
    assert.deepEqual(t.documents.opened, [DEMO]);
    assert.deepEqual(t.documents.applied, [{ uri: DEMO, edits: [DELETE] }]);
  });

  test('not-synced for a document that cannot be opened: the server sentence, nothing applied', async () => {
    const t = setup({
      [protocol.UNDO_UTTERANCE]: () => ({ id: 'u7', uri: DEMO, version: null, edits: [], reason: 'not-synced', message: 'open demo.py and try again' }),
    });
    assert.equal(await t.edits.undo(), false);
    assert.deepEqual(t.problems.map((p) => p.message), ['open demo.py and try again']);
    assert.equal(t.sent.filter((s) => s.method === protocol.UNDO_UTTERANCE).length, 1);
  });

  test('still not-synced after opening: asked a bounded number of times, then one message', async () => {
    const t = setup({
      [protocol.UNDO_UTTERANCE]: () => ({ id: 'u7', uri: DEMO, version: null, edits: [], reason: 'not-synced', message: 'not synced' }),
    });
    t.documents.onDisk.set(DEMO, { version: 1 });
    assert.equal(await t.edits.undo(), false);
    assert.equal(t.sent.filter((s) => s.method === protocol.UNDO_UTTERANCE).length, 3);
    assert.deepEqual(t.problems.map((p) => p.message), ['not synced']);
  });

  test('an edit VS Code refuses is reported and confirmed as not applied', async () => {
    const t = setup({ [protocol.UNDO_UTTERANCE]: () => ({ id: 'u1', uri: DEMO, version: 2, edits: [DELETE] }) });
    t.documents.open.set(DEMO, { version: 2, readOnly: true });
    assert.equal(await t.edits.undo(), false);
    assert.deepEqual(t.problems.map((p) => p.kind), ['utterance-edit-failed']);
    assert.equal((t.confirmations()[0] as { applied: boolean }).applied, false);
  });

  test('applied by the server: nothing more to do', async () => {
    const t = setup({ [protocol.UNDO_UTTERANCE]: () => ({ id: 'u1', uri: DEMO, version: 2, edits: [], appliedByServer: true }) });
    assert.equal(await t.edits.undo(), true);
    assert.deepEqual(t.problems, []);
    assert.deepEqual(t.confirmations(), []);
  });
});

describe('retranscribe and refine', () => {
  test('retranscribe opens the utterance document first, then replaces its text there', async () => {
    const replace: TextEdit = { range: DELETE.range, newText: 'new words' };
    const t = setup({
      [protocol.RETRANSCRIBE]: () => ({ ...transcript, edits: [replace], utteranceId: 'u1', uri: DEMO, version: 1 }),
    });
    t.documents.onDisk.set(DEMO, { version: 1 });
    t.documents.visible.add(DEMO);
    const result = await t.edits.retranscribe(historyItem(), 'accurate');
    assert.equal(result?.text, 'new words');
    assert.deepEqual(t.documents.opened, [DEMO]);
    assert.deepEqual(t.documents.applied, [{ uri: DEMO, edits: [replace] }]);
    assert.deepEqual(t.confirmations(), [{ utteranceId: 'u1', kind: 'retranscribe', applied: true, failureReason: null }]);
    assert.deepEqual(t.problems, []);
  });

  test('retranscribe of an edited utterance offers the new text (insert, copy) instead of overwriting', async () => {
    const t = setup({
      [protocol.RETRANSCRIBE]: () => ({ ...transcript, edits: [], utteranceId: 'u1', uri: DEMO, version: 4, reason: 'changed', message: 'It was edited.' }),
    });
    t.documents.open.set(DEMO, { version: 4 });
    await t.edits.retranscribe(historyItem(), 'accurate');
    assert.deepEqual(t.documents.applied, []);
    assert.equal(t.problems.length, 1);
    const [offer] = t.problems;
    assert.equal(offer.kind, 'utterance-offer');
    assert.equal(offer.message, 'It was edited. New text: “new words”');
    assert.deepEqual(offer.actions.map((a) => a.id), ['insertText', 'copyText']);
    assert.equal(offer.data.text, 'new words');
  });

  test('refine applies its edit at the version it names, to its document only', async () => {
    const edit: TextEdit = { range: DELETE.range, newText: 'Refined.' };
    const t = setup({});
    t.documents.open.set(DEMO, { version: 8 });
    t.documents.visible.add(DEMO);
    assert.equal(await t.edits.refined({ utteranceId: 'u2', uri: DEMO, edit, text: 'Refined.', version: 8 }), true);
    assert.deepEqual(t.documents.applied, [{ uri: DEMO, edits: [edit] }]);
    assert.deepEqual(t.confirmations(), [{ utteranceId: 'u2', kind: 'refine', applied: true, failureReason: null }]);

    // The user typed since the server checked: not applied, said once.
    assert.equal(await t.edits.refined({ utteranceId: 'u3', uri: DEMO, edit, text: 'Refined.', version: 8 }), false);
    assert.equal(t.documents.applied.length, 1);
    assert.deepEqual(t.problems.map((p) => p.kind), ['utterance-version-mismatch']);
  });

  test('refine with a reason offers the text; nothing is applied or confirmed', async () => {
    const t = setup({});
    t.documents.open.set(DEMO, { version: 8 });
    const refined = await t.edits.refined({ utteranceId: 'u2', uri: DEMO, edit: null, text: 'Better.', version: 8, reason: 'changed', message: 'Edited.' });
    assert.equal(refined, false);
    assert.deepEqual(t.documents.applied, []);
    assert.deepEqual(t.confirmations(), []);
    assert.deepEqual(t.problems.map((p) => [p.kind, p.message]), [['utterance-offer', 'Edited. New text: “Better.”']]);
  });
});

describe('utterances in the commit message box or a terminal (issue 18)', () => {
  const SCM = 'vscode-scm:/work/repo';
  const TERMINAL = 'vscode-terminal:/4242';

  test('undo says it does not work there: nothing opened, nothing applied, the proposal confirmed as not applied', async () => {
    for (const [uri, where] of [
      [TERMINAL, /does not work in the terminal/],
      [SCM, /does not work in the commit message box/],
    ] as const) {
      const t = setup({ [protocol.UNDO_UTTERANCE]: () => ({ id: 'u9', uri, version: null, edits: [DELETE] }) });
      assert.equal(await t.edits.undo(), false);
      assert.deepEqual(t.documents.opened, [], 'no document is opened for it');
      assert.deepEqual(t.documents.applied, []);
      assert.equal(t.problems.length, 1);
      assert.equal(t.problems[0].kind, 'utterance-not-supported');
      assert.equal(t.problems[0].severity, 'warning');
      assert.match(t.problems[0].message, where);
      assert.match(t.problems[0].message, /Nothing was changed\./);
      const name = uri === TERMINAL ? 'the terminal' : 'the commit message box';
      assert.deepEqual(t.confirmations(), [{ utteranceId: 'u9', kind: 'undo', applied: false, failureReason: `not supported in ${name}` }]);
    }
  });

  test('not-synced for a terminal utterance: asked once, never opened as a document, the same clear message', async () => {
    const t = setup({
      [protocol.UNDO_UTTERANCE]: () => ({ id: 'u9', uri: TERMINAL, version: null, edits: [], reason: 'not-synced', message: 'open vscode-terminal:/4242' }),
    });
    t.documents.onDisk.set(TERMINAL, { version: 1 }); // even if it could be "opened", it must not be
    assert.equal(await t.edits.undo(), false);
    assert.equal(t.sent.filter((s) => s.method === protocol.UNDO_UTTERANCE).length, 1);
    assert.deepEqual(t.documents.opened, []);
    assert.deepEqual(t.problems.map((p) => p.kind), ['utterance-not-supported']);
    assert.deepEqual(t.confirmations(), [], 'nothing was proposed, nothing to confirm');
  });

  test('an utterance already undone there is still the server sentence', async () => {
    const t = setup({ [protocol.UNDO_UTTERANCE]: () => ({ id: 'u9', uri: SCM, edits: [], reason: 'already-undone', message: 'The last utterance was already removed.' }) });
    assert.equal(await t.edits.undo(), false);
    assert.deepEqual(t.problems.map((p) => [p.kind, p.message]), [['utterance-already-undone', 'The last utterance was already removed.']]);
  });

  test('correct / retranscribe there offers the new text to copy instead of editing the box', async () => {
    const t = setup({
      [protocol.CORRECT_UTTERANCE]: () => ({ ...transcript, edits: [{ range: DELETE.range, newText: 'new words' }], utteranceId: 'u9', uri: SCM, version: null }),
    });
    await t.edits.correct('u9', 'new words', SCM);
    assert.deepEqual(t.documents.opened, []);
    assert.deepEqual(t.documents.applied, []);
    assert.equal(t.problems.length, 1);
    assert.equal(t.problems[0].kind, 'utterance-offer');
    assert.match(t.problems[0].message, /^Correct That does not work in the commit message box: .* New text: “new words”$/);
    assert.deepEqual(t.confirmations(), [{ utteranceId: 'u9', kind: 'correct', applied: false, failureReason: 'not supported in the commit message box' }]);
  });

  test('refine of a terminal utterance is skipped quietly (logged) and confirmed as not applied', async () => {
    const t = setup({});
    const refined = await t.edits.refined({ utteranceId: 'u9', uri: TERMINAL, edit: { range: DELETE.range, newText: 'ls -la' }, text: 'ls -la', version: null });
    assert.equal(refined, false);
    assert.deepEqual(t.documents.applied, []);
    assert.deepEqual(t.problems, []);
    assert.deepEqual(t.confirmations(), [{ utteranceId: 'u9', kind: 'refine', applied: false, failureReason: 'not supported in the terminal' }]);
  });
});

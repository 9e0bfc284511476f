"""The utterance pipeline with fakes for its collaborators: no server, no engine, no editor.

What it proves: an utterance is saved to the history *before* its edit goes to the client, the
server applies it only under ``applyEdits: "server"`` with a client that can, a refused edit
comes back in the result, "scratch that" deletes the previous utterance, and undo deletes an
utterance's text wherever it is now, in a document the editor syncs (the fake editor below
applies each edit and reports it), and marks it undone only once the deletion arrived.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import attrs
from lsprotocol import types
from lsprotocol.types import Position, Range

from swictation_rpc.options import Options
from swictation_rpc.protocol import HistoryItem, Timings, Transcript
from swictation_rpc.utterances.documents import DocumentTracking
from swictation_rpc.utterances.ports import Blocking
from swictation_rpc.utterances.service import UtteranceService

URI = "file:///tmp/notes.md"
TIMINGS = Timings(audio_ms=1000.0, decode_ms=10.0, total_ms=12.0)


@attrs.define
class _Entry:
    item: HistoryItem
    removed: bool = False
    has_audio: bool = False
    surroundings: tuple[str, str] | None = None


class FakeHistory:
    """Records every call in ``calls``, shared with the client so their order shows."""

    def __init__(self, calls: list[str]):
        self.calls = calls
        self.entries: dict[str, _Entry] = {}

    def add(self, text: str, audio: Any, *, uri: str, range: Range, **kwargs: Any) -> str:
        utterance_id = f"u{len(self.entries) + 1}"
        self.calls.append(f"history.add {text!r}")
        self.entries[utterance_id] = _Entry(HistoryItem(id=utterance_id, text=text, uri=uri, range=range, **_item()))
        return utterance_id

    def list(
        self, limit: int, *, include_removed: bool = False, owner_only: bool = False, not_running_others: bool = False
    ) -> list[HistoryItem]:
        live = [e.item for e in self.entries.values() if include_removed or not e.removed]
        return list(reversed(live))[:limit]

    def last(self) -> HistoryItem | None:
        items = self.list(1)
        return items[0] if items else None

    def entry(self, utterance_id: str) -> _Entry:
        return self.entries[utterance_id]

    def get(self, utterance_id: str) -> HistoryItem:
        return self.entries[utterance_id].item

    def mark_removed(self, utterance_id: str) -> None:
        self.calls.append(f"history.mark_removed {utterance_id}")
        self.entries[utterance_id].removed = True


def _item() -> dict[str, Any]:
    fields = {f.name for f in attrs.fields(HistoryItem)} - {"id", "text", "uri", "range"}
    defaults: dict[str, Any] = {"mode": "fast", "model": "fake", "timings": TIMINGS, "created_at": "now"}
    return {name: defaults[name] for name in fields if name in defaults}


class FakeClient:
    def __init__(self, calls: list[str], *, can_apply: bool = True, applies: bool = True):
        self.calls = calls
        self.can_apply = can_apply
        self.applies = applies
        self.notifications: list[tuple[str, Any]] = []

    def notify(self, method: str, params: Any) -> None:
        self.notifications.append((method, params))

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        self.calls.append(f"show_message {message}")

    def can_apply_edit(self) -> bool:
        return self.can_apply

    async def workspace_apply_edit_async(
        self, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        self.calls.append("workspace/applyEdit")
        return types.ApplyWorkspaceEditResult(applied=self.applies)

    def position_encoding(self) -> str:
        return "utf-16"

    def call_soon(self, func: Any, *args: Any) -> None:
        func(*args)

    def publish_state(self, reason: str | None = None, *, force: bool = False) -> None:
        pass


class NoEngine:
    async def ensure(self, wait: bool = True) -> Any:
        raise AssertionError("these tests deliver transcripts; nothing is decoded")

    engine = None


def make(apply_edits: str = "client", **client: Any) -> tuple[UtteranceService, FakeHistory, FakeClient, list[str]]:
    calls: list[str] = []
    history = FakeHistory(calls)
    fake_client = FakeClient(calls, **client)
    options = attrs.evolve(Options(), apply_edits=apply_edits)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    blocking = Blocking(lambda: pool)
    documents = DocumentTracking(lambda: history, blocking, fake_client.position_encoding)
    service = UtteranceService(
        engines=NoEngine(),
        client=fake_client,
        blocking=blocking,
        options=lambda: options,
        history=lambda: history,
        documents=documents,
    )
    return service, history, fake_client, calls


def said(text: str) -> Transcript:
    return Transcript(text=text, mode="fast", model="fake", timings=TIMINGS)


AT = Position(line=2, character=0)


def test_the_utterance_is_saved_before_the_server_applies_its_edit():
    service, _, _, calls = make("server")
    result = asyncio.run(service.deliver(said("hello world"), URI, AT, None))
    assert result.applied_by_server and result.edits == []
    assert calls == [f"history.add {result.text!r}", "workspace/applyEdit"]
    assert result.utterance_id == "u1"


def test_the_client_applies_the_edit_when_it_cannot_apply_workspace_edits():
    service, _, _, calls = make("server", can_apply=False)
    result = asyncio.run(service.deliver(said("hello world"), URI, AT, None))
    assert not result.applied_by_server
    assert [e.new_text for e in result.edits] == [result.text]
    assert calls == [f"history.add {result.text!r}"]


def test_a_refused_workspace_edit_comes_back_in_the_result():
    service, _, _, calls = make("server", applies=False)
    result = asyncio.run(service.deliver(said("hello world"), URI, AT, None))
    assert not result.applied_by_server
    assert result.edits[0].range == Range(start=AT, end=AT)
    assert calls == [f"history.add {result.text!r}", "workspace/applyEdit"]


def synced(service: UtteranceService, text: str = "# one\n# two\n\n") -> dict[str, Any]:
    """A document the fake editor syncs; ``apply`` applies edits to it and reports them (didChange)."""
    doc: dict[str, Any] = {"version": 1}
    service.documents.open(URI, text, 1, "markdown")

    def apply(edits: list[types.TextEdit]) -> None:
        for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
            doc["version"] += 1
            change = types.TextDocumentContentChangePartial(range=edit.range, text=edit.new_text)
            service.documents.change(URI, [change], doc["version"])

    doc["apply"] = apply
    return doc


def test_scratch_that_deletes_the_previous_utterance_of_the_document():
    service, history, _, _ = make()

    async def run() -> Any:
        doc = synced(service)
        first = await service.deliver(said("hello world"), URI, AT, None)
        doc["apply"](first.edits)
        end = first.edits[0].range.start
        after = Position(line=end.line, character=end.character + len(first.text))
        second = await service.deliver(said("scratch that"), URI, after, None)
        assert not history.entries[first.utterance_id].removed  # not before the deletion arrived
        doc["apply"](second.edits)
        await service.proposals.settled()
        return first, second

    first, second = asyncio.run(run())
    assert second.edits == [types.TextEdit(range=Range(start=AT, end=Position(line=2, character=11)), new_text="")]
    # The result names what it removes and the version its range holds at (issue 13).
    assert second.scratched_utterance_id == first.utterance_id and second.version == 2
    assert history.entries[first.utterance_id].removed


def test_undo_deletes_the_text_where_it_is_now_and_marks_it_removed_once_applied():
    service, history, _, calls = make()

    async def run() -> Any:
        doc = synced(service)
        doc["apply"]((await service.deliver(said("hello world"), URI, AT, None)).edits)
        undone = await service.undo(None)
        assert not history.entries["u1"].removed
        doc["apply"](undone.edits)
        await service.proposals.settled()
        return undone

    undone = asyncio.run(run())
    assert undone.id == "u1" and undone.uri == URI and undone.version == 2 and undone.reason is None
    assert undone.edits == [types.TextEdit(range=Range(start=AT, end=Position(line=2, character=11)), new_text="")]
    assert history.entries["u1"].removed
    assert calls[-1] == "history.mark_removed u1"


def test_undo_in_a_document_the_editor_does_not_sync_proposes_nothing():
    service, history, _, _ = make()

    async def run() -> Any:
        await service.deliver(said("hello world"), URI, AT, None)
        return await service.undo(None)

    undone = asyncio.run(run())
    assert undone.edits == [] and undone.reason == "not-synced" and undone.uri == URI and undone.version is None
    assert "notes.md" in (undone.message or "")
    assert not history.entries["u1"].removed

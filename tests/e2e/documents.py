"""An editor's side of document sync for the e2e tests: a document that applies the server's edits
and reports every change (``didOpen``/``didChange``) the way VS Code does, plus tone models whose
words are spoken commands (exact, known transcripts through the real engine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import soundfile
from lsprotocol.types import Position, Range

from swictation_rpc.text.ranges import apply_edit, offset_at, position_at

from .conftest import RpcClient

#: Spoken-command tone alphabet (``test_server_transcribe.SPOKEN_TOKENS``) plus "scratch that".
TOKENS = (
    "<unk>",
    "\u2581print",
    "\u2581hello",
    "\u2581comma",
    "\u2581world",
    "\u2581period",
    "\u2581camel",
    "\u2581case",
    "\u2581user",
    "\u2581count",
    "\u2581scratch",
    "\u2581that",
    "\u2581get",
    "\u2581by",
    "\u2581id",
)
#: The same tones, other words: an "accurate" model that hears "planet" where the fast one hears "world".
ACCURATE_TOKENS = tuple("\u2581planet" if t == "\u2581world" else t for t in TOKENS)


def write_model(root: Path, name: str, tokens: tuple[str, ...] = TOKENS) -> Path:
    from swictation_rpc.testing.synthetic import write_tone_model

    return write_tone_model(root, tokens=tokens, name=name)


def write_clip(root: Path, words: str, tokens: tuple[str, ...] = TOKENS) -> Path:
    """Tones the tone models decode to ``words`` (with ``tokens``; other tables read other words)."""
    from swictation_rpc.testing.synthetic import tone_audio

    path = root / ("clip-" + "-".join(words.split()) + ".wav")
    if not path.exists():
        soundfile.write(str(path), tone_audio(words, tokens=tokens), 16_000, subtype="PCM_16")
    return path


def pos(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def _range(wire: dict[str, Any]) -> Range:
    return Range(start=Position(**wire["start"]), end=Position(**wire["end"]))


class EditorDocument:
    """A document open in a pretend editor: edits are applied here and reported to the server."""

    def __init__(self, rpc: RpcClient, uri: str, text: str, language_id: str = "python"):
        self.rpc = rpc
        self.uri = uri
        self.text = text
        self.language_id = language_id
        self.version = 1
        rpc.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language_id, "version": self.version, "text": text}},
        )

    def context(self, line: int, character: int, **extra: Any) -> dict[str, Any]:
        """What a client sends as ``context`` for a cursor at (line, character)."""
        at = offset_at(self.text, Position(line=line, character=character))
        return {"before": self.text[:at][-200:], "after": self.text[at:][:200], "languageId": self.language_id, **extra}

    def cursor_at_end(self) -> tuple[int, int]:
        end = position_at(self.text, len(self.text))
        return end.line, end.character

    def apply(self, edits: list[dict[str, Any]]) -> None:
        """Apply LSP edits (all relative to the current text), reported as VS Code does: last first."""
        ordered = sorted(
            edits, key=lambda e: (e["range"]["start"]["line"], e["range"]["start"]["character"]), reverse=True
        )
        changes = []
        for edit in ordered:
            self.text = apply_edit(self.text, _range(edit["range"]), edit["newText"])
            changes.append({"range": edit["range"], "text": edit["newText"]})
        self._changed(changes)

    def changes(self, changes: list[dict[str, Any]]) -> None:
        """Several changes in one ``didChange``, each relative to the text the previous one left."""
        for change in changes:
            self.text = apply_edit(self.text, _range(change["range"]), change["newText"])
        self._changed([{"range": c["range"], "text": c["newText"]} for c in changes])

    def type(self, line: int, character: int, text: str, end: tuple[int, int] | None = None) -> None:
        """The user replaces (line, character)..end (default: nothing) with ``text``."""
        start = pos(line, character)
        stop = pos(*end) if end else start
        self.apply([{"range": {"start": start, "end": stop}, "newText": text}])

    def find(self, needle: str) -> tuple[int, int]:
        at = self.text.index(needle)
        p = position_at(self.text, at)
        return p.line, p.character

    def _changed(self, changes: list[dict[str, Any]]) -> None:
        self.version += 1
        self.rpc.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": changes},
        )

    def close(self) -> None:
        self.rpc.notify("textDocument/didClose", {"textDocument": {"uri": self.uri}})


def workspace_edits(params: dict[str, Any], uri: str) -> list[dict[str, Any]]:
    """The text edits for ``uri`` in a ``workspace/applyEdit`` request (``documentChanges``)."""
    return [
        edit
        for change in params["edit"]["documentChanges"]
        if change["textDocument"]["uri"] == uri
        for edit in change["edits"]
    ]


def transcribe(rpc: RpcClient, doc: EditorDocument, clip: Path, line: int, character: int, **extra: Any) -> dict:
    """``swictation/transcribe`` at a cursor in ``doc`` with its context; the edits are applied."""
    params = {
        "textDocument": {"uri": doc.uri},
        "position": pos(line, character),
        "audio": {"path": str(clip)},
        "context": doc.context(line, character, **extra.pop("context_extra", {})),
        **extra,
    }
    result = rpc.request("swictation/transcribe", params)
    doc.apply(result["edits"])
    return result

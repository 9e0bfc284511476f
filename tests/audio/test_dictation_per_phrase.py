"""Per-phrase commit (``dictation.commit: "perPhrase"``) over the real server and microphone.

Each phrase the silence closes is saved and sent as ``swictation/phraseCommitted`` while the
session goes on listening; stop returns only the tail; cancel keeps what was committed; a server
killed mid-session has every committed phrase in its history.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from swictation_rpc.testing.speech import word_error_rate as wer
from tests.audio.conftest import SENTENCES
from tests.audio.test_dictation_server import settings, silence, start
from tests.e2e.conftest import RpcClient
from tests.e2e.documents import EditorDocument, pos

pytestmark = pytest.mark.audio

PHRASE = "swictation/phraseCommitted"


#: A phrase closes after this much silence: long, so a test can stop before the last one closes.
PAUSE_MS = 2500


def per_phrase() -> dict[str, Any]:
    return {**settings(minSilenceDurationMs=PAUSE_MS), "dictation": {"commit": "perPhrase"}}


def pause() -> np.ndarray:
    return silence(PAUSE_MS / 1000 + 0.5)


def committed(rpc: RpcClient, count: int, timeout: float = 40) -> list[dict[str, Any]]:
    """The first ``count`` phraseCommitted notifications, waiting for them."""
    deadline = time.monotonic() + timeout
    while len(rpc.of(PHRASE)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    phrases = rpc.of(PHRASE)
    assert len(phrases) >= count, f"{len(phrases)} phrase(s) committed, wanted {count}: {rpc.stderr_tail()}"
    return phrases[:count]


def history_texts(rpc: RpcClient) -> list[str]:
    return [item["text"] for item in reversed(rpc.request("swictation/history", {"limit": 20})["items"])]


def test_phrases_land_while_listening_and_stop_inserts_only_the_tail(start_server, pipe_mic, speech):
    rpc = start_server(per_phrase())
    doc = EditorDocument(rpc, "file:///tmp/notes.md", "# Notes\n\nThe end.\n", language_id="markdown")
    at = pos(2, 0)
    started = rpc.request(
        "swictation/startDictation",
        {"textDocument": {"uri": doc.uri}, "position": at, "mode": "fast", "context": doc.context(2, 0)},
    )
    assert started["commit"] == "perPhrase"
    session_id = started["sessionId"]
    pipe_mic.feed(np.concatenate([silence(0.3), speech(SENTENCES[0]), pause()]))

    (first,) = committed(rpc, 1)
    assert rpc.request("swictation/status")["state"] == "listening"  # still listening: it landed mid-session
    assert first["sessionId"] == session_id and first["uri"] == doc.uri
    one = first["result"]
    assert wer(SENTENCES[0], one["text"]) <= 0.25, one["text"]
    assert one["edits"] == [{"range": {"start": at, "end": at}, "newText": one["text"]}]
    # Saved before it was sent: the history has it already.
    assert history_texts(rpc) == [one["text"]]
    doc.apply(one["edits"])  # as the editor does, while the session goes on
    doc.type(0, 0, "<!-- typed while listening -->\n")  # the user adds a line above: phrases move down

    pipe_mic.feed(np.concatenate([speech(SENTENCES[1]), pause()]))
    two = committed(rpc, 2)[1]["result"]
    assert wer(SENTENCES[1], two["text"]) <= 0.25, two["text"]
    # It goes right after the first phrase where that is now, spaced and capitalised as one text.
    after_one = pos(3, len(one["text"]))
    assert two["edits"] == [{"range": {"start": after_one, "end": after_one}, "newText": two["text"]}]
    joined = one["text"] + two["text"]
    assert ". Then" in joined and "  " not in joined, joined
    doc.apply(two["edits"])
    # Interim text after a commit is the open phrase only, never the committed ones again.
    partials = [p["text"] for p in rpc.of("swictation/partial") if p["sessionId"] == session_id]
    assert not any(SENTENCES[0].split()[2] in p for p in partials[1:]), partials

    pipe_mic.feed(np.concatenate([speech(SENTENCES[2]), silence(0.2)]))
    assert pipe_mic.idle.wait(30)
    time.sleep(0.8)  # heard (the pipe source reads what is written at once); its pause is not over
    tail = rpc.request("swictation/stopDictation", {"sessionId": session_id})
    assert wer(SENTENCES[2], tail["text"]) <= 0.25, tail["text"]
    after_two = pos(3, len(one["text"]) + len(two["text"]))
    assert tail["edits"] == [{"range": {"start": after_two, "end": after_two}, "newText": tail["text"]}]
    doc.apply(tail["edits"])
    assert len(rpc.of(PHRASE)) == 2
    assert (
        doc.text
        == "<!-- typed while listening -->\n# Notes\n\n" + one["text"] + two["text"] + tail["text"] + "The end.\n"
    )
    assert history_texts(rpc) == [one["text"], two["text"], tail["text"]]

    # Undo last removes the last phrase (the tail) only.
    undo = rpc.request("swictation/undoUtterance", {})
    assert undo["id"] == tail["utteranceId"], undo
    doc.apply(undo["edits"])
    assert doc.text == "<!-- typed while listening -->\n# Notes\n\n" + one["text"] + two["text"] + "The end.\n"


def test_cancel_keeps_the_committed_phrases(start_server, pipe_mic, speech):
    rpc = start_server(per_phrase())
    session_id = start(rpc)
    pipe_mic.feed(np.concatenate([silence(0.3), speech(SENTENCES[0]), pause(), speech(SENTENCES[1])]))
    (first,) = committed(rpc, 1)
    assert rpc.request("swictation/cancelDictation", {})["cancelled"] is True
    time.sleep(1.0)
    assert len(rpc.of(PHRASE)) == 1  # the open phrase was dropped, not committed
    assert history_texts(rpc) == [first["result"]["text"]]
    assert rpc.request("swictation/status")["state"] == "idle"
    assert session_id


def test_a_server_killed_mid_session_has_every_committed_phrase_in_its_history(start_server, pipe_mic, speech):
    rpc = start_server(per_phrase())
    start(rpc)
    pipe_mic.feed(np.concatenate([silence(0.3), speech(SENTENCES[0]), pause(), speech(SENTENCES[1]), pause()]))
    sent = [p["result"] for p in committed(rpc, 2)]
    pipe_mic.feed(speech(SENTENCES[2]))  # still talking when the process dies
    time.sleep(0.5)
    rpc.kill()  # SIGKILL: no shutdown, no flush, no save_unfinished

    again = start_server(per_phrase())
    items = {item["id"]: item for item in again.request("swictation/history", {"limit": 20})["items"]}
    for result in sent:
        item = items[result["utteranceId"]]
        assert item["text"] == result["text"]
    # Each phrase's own audio was kept: it decodes again to its words.
    redone = again.request("swictation/retranscribe", {"id": sent[0]["utteranceId"], "mode": "fast"})
    assert wer(SENTENCES[0], redone["text"]) <= 0.25, redone["text"]


def test_cancel_while_a_closed_phrase_is_decoding_keeps_it(start_server, pipe_mic, speech):
    """A phrase a pause closed is committed even when cancel comes while it is being decoded
    (found from outside: on a slow machine it was dropped with the open phrase)."""
    rpc = start_server(per_phrase())
    start(rpc)
    pipe_mic.feed(np.concatenate([silence(0.3), speech(SENTENCES[0]), pause(), speech(SENTENCES[1]), pause()]))
    assert pipe_mic.idle.wait(30)
    time.sleep(0.3)  # both pauses heard; the second phrase is closed and decoding
    assert rpc.request("swictation/cancelDictation", {})["cancelled"] is True
    phrases = [p["result"]["text"] for p in rpc.of(PHRASE)]  # all sent before the cancel's answer
    assert len(phrases) == 2, phrases
    assert wer(SENTENCES[1], phrases[1]) <= 0.25, phrases
    assert history_texts(rpc) == phrases


def test_a_phrase_the_user_undid_mid_session_no_longer_places_the_next(start_server, pipe_mic, speech):
    """The user removes phrase one with the editor's undo while listening: phrase two goes where
    phrase one was, and stays undoable (found from outside: "edited since it was dictated")."""
    rpc = start_server(per_phrase())
    doc = EditorDocument(rpc, "file:///tmp/undo.md", "Start.\n\nEnd.\n", language_id="markdown")
    at = pos(1, 0)
    rpc.request(
        "swictation/startDictation",
        {"textDocument": {"uri": doc.uri}, "position": at, "mode": "fast", "context": doc.context(1, 0)},
    )
    pipe_mic.feed(np.concatenate([silence(0.3), speech(SENTENCES[0]), pause()]))
    one = committed(rpc, 1)[0]["result"]
    doc.apply(one["edits"])
    doc.apply([{"range": {"start": at, "end": pos(1, len(one["text"]))}, "newText": ""}])  # the editor's undo
    pipe_mic.feed(np.concatenate([speech(SENTENCES[1]), pause()]))
    two = committed(rpc, 2)[1]["result"]
    assert two["edits"][0]["range"]["start"] == at, two["edits"]
    doc.apply(two["edits"])
    assert doc.text == "Start.\n" + two["text"] + "\nEnd.\n"
    undo = rpc.request("swictation/undoUtterance", {})
    assert undo["id"] == two["utteranceId"] and undo["edits"], undo
    doc.apply(undo["edits"])
    assert doc.text == "Start.\n\nEnd.\n"

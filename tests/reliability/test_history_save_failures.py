"""Any failure while saving an utterance still delivers its text and keeps its words (issue 19, item 2).

``history.maxItems`` of 2^63 used to raise ``OverflowError`` and a lone surrogate in the document's
uri ``UnicodeEncodeError`` on every request: -32603, no text, nothing saved, an orphan FLAC. Now
inputs like these are saved, and a failure nobody foresaw becomes a :class:`HistoryWriteError`
(the caller still returns the text and shows the message) with the words spooled to a private
file and replayed into the database the next time it opens; no audio file is left behind.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swictation_rpc.errors import HistoryWriteError
from swictation_rpc.history import HistoryStore
from swictation_rpc.options import HistoryOptions
from swictation_rpc.protocol import Timings
from swictation_rpc.testing.speech import word_error_rate
from tests.e2e.conftest import SENTENCE, transcribe_params

from .conftest import add_figure

TIMINGS = Timings(audio_ms=1000.0, decode_ms=40.0, total_ms=50.0)
SURROGATE_URI = "file:///tmp/caf\ud800.py"


def _saved(directory: Path) -> list:
    with HistoryStore(directory) as store:
        return store.list(50)


def _audio_files(directory: Path) -> list[str]:
    audio = directory / "audio"
    return sorted(p.name for p in audio.iterdir()) if audio.is_dir() else []


def test_huge_max_items_and_a_lone_surrogate_uri_still_return_and_save_the_words(spawn, sentence_wav: Path) -> None:
    server = spawn({"history": {"maxItems": 2**63}})
    plain = server.request("swictation/transcribe", transcribe_params(sentence_wav))
    assert word_error_rate(SENTENCE, plain["text"]) <= 0.25, plain["text"]

    params = transcribe_params(sentence_wav, 3, 1)
    params["textDocument"]["uri"] = SURROGATE_URI
    odd = server.request("swictation/transcribe", params)
    assert word_error_rate(SENTENCE, odd["text"]) <= 0.25, odd["text"]
    assert odd["edits"] and odd["edits"][0]["range"]["start"] == {"line": 3, "character": 1}
    server.probe()

    history = server.data_dir / "history"
    texts = [item.text for item in _saved(history)]
    assert texts == [odd["text"], plain["text"]], texts
    # No orphan audio: every FLAC belongs to a saved utterance.
    ids = {item.id for item in _saved(history)}
    assert {name.removesuffix(".flac") for name in _audio_files(history)} <= ids
    add_figure("faults_survived", 2)


@pytest.mark.parametrize(
    "failure",
    [OverflowError("Python int too large to convert to SQLite INTEGER"), ValueError("odd"), RuntimeError("boom")],
    ids=lambda e: type(e).__name__,
)
def test_any_failure_while_saving_is_a_history_write_error_and_the_words_are_spooled_then_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    directory = tmp_path / "history"
    with HistoryStore(directory, HistoryOptions()) as store:
        first = store.add(
            "before", np.zeros(1600, np.float32), uri=None, range=None, mode="fast", model="m", timings=TIMINGS
        )

        def fail(*args, **kwargs):
            raise failure

        monkeypatch.setattr(HistoryStore, "_rotate", fail)
        with pytest.raises(HistoryWriteError) as caught:
            store.add(
                "the words",
                np.zeros(1600, np.float32),
                uri="file:///a",
                range=None,
                mode="fast",
                model="m",
                timings=TIMINGS,
            )
        assert "the words" not in caught.value.message  # what was said stays out of messages…
        assert "spool" in str(caught.value).lower()  # …but the user learns it is kept
        assert store.wait_encoded(10)  # the first one's FLAC is written after add() returned
        assert _audio_files(directory) == [f"{first}.flac"]  # no orphan FLAC, no .tmp
        assert [item.text for item in store.list()] == ["before"]
        monkeypatch.undo()

    spools = [p for p in directory.iterdir() if "spool" in p.name]
    assert len(spools) == 1 and stat.S_IMODE(spools[0].stat().st_mode) == 0o600
    line = json.loads(spools[0].read_text().splitlines()[0])
    assert line["text"] == "the words"

    # The next time the history opens, the words go into the database and the spool goes away.
    assert [item.text for item in _saved(directory)] == ["the words", "before"]
    assert [p for p in directory.iterdir() if "spool" in p.name] == []
    assert [item.text for item in _saved(directory)] == ["the words", "before"]  # replayed once


def test_the_spool_is_replayed_by_the_same_store_after_its_next_successful_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HistoryStore(tmp_path / "history", HistoryOptions()) as store:
        store.add("one", None, uri=None, range=None, mode="fast", model="m", timings=TIMINGS)
        monkeypatch.setattr(HistoryStore, "_rotate", lambda *a, **k: (_ for _ in ()).throw(ValueError("x")))
        with pytest.raises(HistoryWriteError):
            store.add("two", None, uri=None, range=None, mode="fast", model="m", timings=TIMINGS)
        monkeypatch.undo()
        store.add("three", None, uri=None, range=None, mode="fast", model="m", timings=TIMINGS)
        assert sorted(item.text for item in store.list()) == ["one", "three", "two"]


@pytest.mark.parametrize("field", ["text", "uri", "model"])
def test_a_lone_surrogate_anywhere_is_saved_not_lost(tmp_path: Path, field: str) -> None:
    values = {"text": "caf\udce9 au lait", "uri": "file:///a", "model": "m"}
    values[field] = values[field] + "\ud800"
    with HistoryStore(tmp_path / "history", HistoryOptions()) as store:
        store.add(values["text"], np.zeros(1600, np.float32), uri=values["uri"], range=None, mode="fast",
                  model=values["model"], timings=TIMINGS)  # fmt: skip
        (item,) = store.list()
    assert item.text.startswith("caf") and item.text.endswith(("au lait", "au lait\ufffd"))
    assert json.dumps(item.text, ensure_ascii=False).encode("utf-8")  # now encodable


def _unchecked_options(max_items: int) -> HistoryOptions:
    """Options as a caller might pass them without the settings' bounds (the store must cope)."""
    from types import SimpleNamespace

    return SimpleNamespace(enabled=True, keep_audio=True, max_items=max_items)  # type: ignore[return-value]


def test_max_items_beyond_sqlite_integers_rotates_nothing_and_saves(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "history", _unchecked_options(2**63)) as store:
        for text in ("a", "b", "c"):
            store.add(text, None, uri=None, range=None, mode="fast", model="m", timings=TIMINGS)
        assert [item.text for item in store.list()] == ["c", "b", "a"]


_ODD_INTS = st.one_of(st.integers(-5, 5), st.integers(2**31 - 2, 2**31 + 2), st.integers(2**62, 2**70))
_ODD_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=_ODD_TEXT,
    uri=st.one_of(st.none(), _ODD_TEXT),
    line=_ODD_INTS,
    version=st.one_of(st.none(), _ODD_INTS),
    ms=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 10**6)),
    max_items=st.one_of(st.integers(1, 3), st.integers(2**62, 2**70)),
)
def test_whatever_is_saved_add_returns_an_id_or_a_history_write_error_and_the_words_survive(
    tmp_path_factory: pytest.TempPathFactory, text, uri, line, version, ms, max_items
) -> None:
    from types import SimpleNamespace

    directory = tmp_path_factory.mktemp("odd") / "history"
    # lsprotocol validates positions to 2^31 - 1; a range built without validation may carry more.
    where = SimpleNamespace(start=SimpleNamespace(line=line, character=0), end=SimpleNamespace(line=line, character=1))
    with HistoryStore(directory, _unchecked_options(max_items)) as store:
        try:
            store.add(text, np.zeros(160, np.float32), uri=uri, range=where, mode="fast", model="m",
                      timings=Timings(audio_ms=ms, decode_ms=ms, total_ms=ms), document_version=version)  # fmt: skip
        except HistoryWriteError:
            pass  # reported to the user; the words must still be kept
    with HistoryStore(directory) as store:
        texts = [item.text for item in store.list(5)]
    expected = "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    assert texts == [expected]
    assert {p.suffix for p in (directory / "audio").iterdir()} <= {".flac"} if (directory / "audio").exists() else True

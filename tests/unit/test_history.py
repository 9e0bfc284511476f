"""The history store: durable, private, size-capped, and honest about write failures."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from lsprotocol.types import Position, Range

from swictation_rpc.errors import HistoryWriteError, UtteranceNotFoundError
from swictation_rpc.history import DB_NAME, HistoryStore
from swictation_rpc.options import HistoryOptions
from swictation_rpc.protocol import Timings

TIMINGS = Timings(audio_ms=1000.0, decode_ms=42.0, total_ms=50.0)


def rng(a: int, b: int, c: int, d: int) -> Range:
    return Range(start=Position(line=a, character=b), end=Position(line=c, character=d))


def tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def add(store: HistoryStore, text: str, audio: np.ndarray | None = None, **kw) -> str:
    kw.setdefault("uri", "file:///tmp/a.py")
    kw.setdefault("range", rng(1, 2, 1, 2 + len(text)))
    return store.add(text, audio, mode=kw.pop("mode", "fast"), model="parakeet-tdt-110m", timings=TIMINGS, **kw)


@pytest.fixture
def store(tmp_path: Path):
    with HistoryStore(tmp_path / "history", HistoryOptions()) as s:
        yield s


def test_added_utterances_list_newest_first_with_everything_the_protocol_reports(store):
    first = add(store, "hello world", tone(), document_version=3)
    second = add(store, "second one", None, uri=None, range=None, mode="accurate")
    items = store.list(10)
    assert [i.id for i in items] == [second, first]
    newest, oldest = items
    assert oldest.text == "hello world" and oldest.uri == "file:///tmp/a.py"
    assert oldest.range == rng(1, 2, 1, 13) and oldest.mode == "fast" and oldest.model == "parakeet-tdt-110m"
    assert oldest.timings == TIMINGS
    assert oldest.created_at.endswith("Z") and oldest.created_at[:4].isdigit()
    assert newest.uri is None and newest.range is None and newest.mode == "accurate"
    assert store.list(1) == [newest]
    assert store.last() == newest
    assert store.get(first) == oldest
    assert store.entry(first).document_version == 3


def test_audio_is_kept_as_16_bit_and_read_back_at_16_khz(store):
    audio = tone(0.5)
    uid = add(store, "x", audio)
    back = store.audio(uid)
    assert back is not None and back.dtype == np.float32 and back.shape == audio.shape
    assert np.max(np.abs(back - audio)) < 2 / 32768
    assert store.audio(add(store, "no audio")) is None
    int16 = (audio * 32767).astype(np.int16)
    assert np.allclose(store.audio(add(store, "int16", int16)), audio, atol=2 / 32768)


def test_keep_audio_off_saves_text_only(tmp_path):
    with HistoryStore(tmp_path / "h", HistoryOptions(keep_audio=False)) as store:
        uid = add(store, "x", tone())
        assert store.audio(uid) is None and not store.entry(uid).has_audio
    assert not (tmp_path / "h" / "audio").exists() or not list((tmp_path / "h" / "audio").iterdir())


def test_disabled_history_keeps_utterances_in_memory_only(tmp_path):
    with HistoryStore(tmp_path / "h", HistoryOptions(enabled=False)) as store:
        uid = add(store, "x", tone())
        assert store.get(uid).text == "x"  # undo still works this session
    assert not (tmp_path / "h").exists()


def test_undone_utterances_leave_the_list_and_last_but_can_still_be_fetched(store):
    a = add(store, "a")
    b = add(store, "b")
    store.mark_removed(b)
    assert store.last().id == a
    assert [i.id for i in store.list(10)] == [a]
    assert [i.id for i in store.list(10, include_removed=True)] == [b, a]
    assert store.entry(b).removed and store.get(b).text == "b"
    store.mark_removed(a)
    assert store.last() is None


def test_refined_text_and_moved_range_are_saved(store):
    uid = add(store, "helo world", document_version=1)
    store.update_text_and_range(uid, "hello world", rng(4, 0, 4, 11), document_version=2)
    item = store.get(uid)
    assert item.text == "hello world" and item.range == rng(4, 0, 4, 11)
    assert store.entry(uid).document_version == 2
    store.update_range(uid, rng(5, 0, 5, 11))
    assert store.get(uid).range == rng(5, 0, 5, 11) and store.entry(uid).document_version == 2


def test_unknown_ids_raise_utterance_not_found(store):
    add(store, "x")
    for call in (store.get, store.audio, store.mark_removed, lambda i: store.update_text_and_range(i, "t", None)):
        with pytest.raises(UtteranceNotFoundError):
            call("nope")


def test_rotation_keeps_the_newest_max_items_and_deletes_their_audio(tmp_path):
    directory = tmp_path / "h"
    with HistoryStore(directory, HistoryOptions(max_items=3)) as store:
        ids = [add(store, f"u{n}", tone(0.1)) for n in range(7)]
        assert [i.id for i in store.list(100)] == ids[::-1][:3]
        assert store.wait_encoded(10)  # the FLACs are written after add() returns
        assert sorted(p.stem for p in (directory / "audio").iterdir()) == sorted(ids[-3:])
        with pytest.raises(UtteranceNotFoundError):
            store.get(ids[0])
        store.reconfigure(HistoryOptions(max_items=1))
        add(store, "last")  # no audio
        assert [i.text for i in store.list(100)] == ["last"]
        assert list((directory / "audio").iterdir()) == []


def test_files_are_private_to_the_user(tmp_path):
    directory = tmp_path / "h"
    with HistoryStore(directory, HistoryOptions()) as store:
        add(store, "secret", tone(0.1))
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE((directory / "audio").stat().st_mode) == 0o700
        for path in [directory / DB_NAME, *directory.glob(DB_NAME + "-*"), *(directory / "audio").iterdir()]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # An existing folder with loose permissions is tightened.
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    with HistoryStore(loose, HistoryOptions()) as store:
        add(store, "x")
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_reading_a_history_that_does_not_exist_creates_nothing(tmp_path):
    with HistoryStore(tmp_path / "none", HistoryOptions()) as store:
        assert store.list(5) == [] and store.last() is None and len(store) == 0
        with pytest.raises(UtteranceNotFoundError):
            store.get("x")
    assert not (tmp_path / "none").exists()


def test_adds_from_many_threads_all_land(store):
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for k in range(10):
            uid = add(store, f"t{n}-{k}", tone(0.05))
            with lock:
                ids.append(uid)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i.id for i in store.list(1000)} == set(ids) and len(ids) == 40


_CHILD_ADD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from pathlib import Path
    from swictation_rpc.history import HistoryStore
    from swictation_rpc.options import HistoryOptions
    from swictation_rpc.protocol import Timings
    store = HistoryStore(Path(sys.argv[1]), HistoryOptions())
    uid = store.add("said before the kill", np.full(8000, 0.25, np.float32), uri="file:///k.py", range=None,
                    mode="fast", model="m", timings=Timings(500.0, 10.0, 12.0))
    print(uid, flush=True)
    time.sleep(60)
    """
)


def test_an_utterance_survives_the_process_being_killed_right_after_add_returns(tmp_path):
    directory = tmp_path / "h"
    child = subprocess.Popen([sys.executable, "-c", _CHILD_ADD, str(directory)], stdout=subprocess.PIPE, text=True)
    try:
        uid = child.stdout.readline().strip()
        assert uid, "child did not add"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with HistoryStore(directory, HistoryOptions()) as store:
        item = store.get(uid)
        assert item.text == "said before the kill" and item.uri == "file:///k.py"
        audio = store.audio(uid)
        assert audio is not None and audio.shape == (8000,) and abs(float(audio[0]) - 0.25) < 1e-3


_CHILD_FULL = textwrap.dedent(
    """
    import json, resource, signal, sys
    import numpy as np
    from pathlib import Path
    from swictation_rpc.errors import HistoryWriteError
    from swictation_rpc.history import HistoryStore
    from swictation_rpc.options import HistoryOptions
    from swictation_rpc.protocol import Timings
    T = Timings(1.0, 1.0, 1.0)
    store = HistoryStore(Path(sys.argv[1]), HistoryOptions())
    first = store.add("fits", None, uri=None, range=None, mode="fast", model="m", timings=T)
    # A file may not grow past 256 KiB from now on: the disk is "full" for anything big.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
    noise = np.random.default_rng(0).uniform(-1, 1, 16000 * 30).astype(np.float32)
    results = {}
    for name, text, audio in [("audio", "big audio", noise), ("text", "x" * 2_000_000, None)]:
        try:
            store.add(text, audio, uri=None, range=None, mode="fast", model="m", timings=T)
            results[name] = "no error"
        except HistoryWriteError as exc:
            results[name] = exc.KIND
    results["first"] = store.get(first).text
    results["count"] = len(store)
    print(json.dumps(results), flush=True)
    """
)


def test_a_full_disk_raises_history_write_error_and_leaves_the_store_consistent(tmp_path):
    directory = tmp_path / "h"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD_FULL, str(directory)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results == {"audio": "history-write-failed", "text": "history-write-failed", "first": "fits", "count": 1}
    assert [p.name for p in (directory / "audio").iterdir()] == []  # no half-written audio left
    # The words whose audio did not fit were spooled (a short line fits) and replayed on the next
    # open, without audio; the 2 MB text fitted nowhere, and no half line of it was left behind.
    with HistoryStore(directory, HistoryOptions()) as store:
        assert [i.text for i in store.list(10)] == ["big audio", "fits"]
        assert store.audio(store.list(1)[0].id) is None
    assert not (directory / "spool.jsonl").exists()


def test_an_unwritable_location_raises_history_write_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with HistoryStore(blocker / "history", HistoryOptions()) as store:
        with pytest.raises(HistoryWriteError) as info:
            add(store, "x")
        assert str(blocker) in info.value.remedy
        assert store.list(5) == []


def test_cli_lists_the_history_as_text_and_json(tmp_path, monkeypatch, capsys):
    from swictation_rpc import paths
    from swictation_rpc.commands import history as history_command

    monkeypatch.setenv("SWICTATION_DATA_DIR", str(tmp_path / "data"))

    import argparse

    parser = argparse.ArgumentParser()
    history_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["history"])
    assert args.func(args) == 0
    assert "No utterances yet" in capsys.readouterr().out

    with HistoryStore(paths.history_dir(), HistoryOptions()) as store:
        add(store, "first line\nsecond")
        newest = add(store, "newest", mode="accurate")

    args = parser.parse_args(["history", "--limit", "1", "--json"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert [i["id"] for i in data["items"]] == [newest]
    assert set(data["items"][0]) == {"id", "text", "uri", "range", "mode", "model", "timings", "createdAt", "undone"}
    assert data["items"][0]["timings"] == {"audioMs": 1000.0, "decodeMs": 42.0, "totalMs": 50.0}

    args = parser.parse_args(["history"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.index("newest") < out.index("first line\u23ce second")
    with pytest.raises(SystemExit):
        parser.parse_args(["history", "--limit", "0"])

"""The heap is given back once decoding has been idle (engine/heap.py), never while it goes on."""

from __future__ import annotations

import time

import pytest

from swictation_rpc.engine.heap import HeapTrimmer, limit_arenas

pytestmark = pytest.mark.skipif(not HeapTrimmer().available, reason="not glibc: there is no malloc_trim")


def test_the_heap_is_trimmed_once_decoding_has_been_idle():
    trimmer = HeapTrimmer(after_s=0.2)
    for _ in range(5):  # decodes 50 ms apart: never idle long enough
        trimmer.decoded()
        time.sleep(0.05)
    assert trimmer.trims == 0
    time.sleep(0.5)
    assert trimmer.trims == 1
    trimmer.close()


def test_close_cancels_a_pending_trim():
    trimmer = HeapTrimmer(after_s=0.2)
    trimmer.decoded()
    trimmer.close()
    time.sleep(0.4)
    assert trimmer.trims == 0


def test_arenas_can_be_capped():
    assert limit_arenas() is True


def test_one_thread_waits_for_idle_whatever_the_number_of_decodes():
    """A decode only notes the time: no thread is started per decode (that was ~1 ms of an 11 ms
    transducer decode)."""
    import threading

    def trim_threads() -> set[threading.Thread]:  # objects, not idents: idents are reused
        return {t for t in threading.enumerate() if t.name == "heap-trim"}

    before = trim_threads()  # other engines' trimmers in this process keep theirs
    trimmer = HeapTrimmer(after_s=0.2)
    seen: set[threading.Thread] = set()
    for _ in range(20):
        trimmer.decoded()
        seen |= trim_threads() - before
    assert len(seen) == 1
    time.sleep(0.5)
    assert trimmer.trims == 1
    trimmer.decoded()  # decoding again after a trim: trimmed again once idle
    time.sleep(0.5)
    assert trimmer.trims == 2
    trimmer.close()

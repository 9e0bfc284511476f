"""Following utterances through document changes: follow_edit, DocumentText, UtteranceTracker."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol.types import Position, Range

from swictation_rpc.text.ranges import apply_edit, follow_edit, inserted_range, position_at
from swictation_rpc.text.tracking import DocumentText, UtteranceTracker

URI = "file:///tmp/a.py"


def P(line: int, character: int) -> Position:
    return Position(line=line, character=character)


def R(a: int, b: int, c: int, d: int) -> Range:
    return Range(start=P(a, b), end=P(c, d))


# -- follow_edit ----------------------------------------------------------------------------------


def test_edits_inside_keep_following_the_utterance_and_say_so():
    tracked = R(0, 4, 0, 10)
    assert follow_edit(tracked, R(0, 0, 0, 0), "x") == (R(0, 5, 0, 11), False)  # before: moved
    assert follow_edit(tracked, R(0, 10, 0, 10), "y") == (tracked, False)  # at its end: after
    assert follow_edit(tracked, R(0, 6, 0, 6), "abc") == (R(0, 4, 0, 13), True)  # typed inside: grows
    assert follow_edit(tracked, R(0, 4, 0, 6), "Q") == (R(0, 4, 0, 9), True)  # its first letters replaced
    assert follow_edit(tracked, R(0, 0, 0, 5), "") == (R(0, 0, 0, 5), True)  # cut across its start
    assert follow_edit(tracked, R(0, 8, 0, 12), "XY") == (R(0, 4, 0, 8), True)  # cut across its end
    assert follow_edit(tracked, R(0, 2, 0, 12), "Z") == (None, True)  # swallowed
    assert follow_edit(tracked, R(0, 4, 0, 10), "") == (None, True)  # deleted exactly
    assert follow_edit(R(1, 3, 1, 3), R(1, 0, 1, 5), "ab") == (R(1, 0, 1, 0), True)  # a point swallowed


def test_utf8_positions_count_bytes():
    assert inserted_range(P(0, 2), "café", "utf-8") == R(0, 2, 0, 7)
    assert inserted_range(P(0, 2), "café", "utf-16") == R(0, 2, 0, 6)
    assert follow_edit(R(0, 10, 0, 12), R(0, 0, 0, 0), "é", "utf-8") == (R(0, 12, 0, 14), False)


# -- DocumentText ---------------------------------------------------------------------------------


def test_document_text_applies_lsp_changes_like_an_editor():
    doc = DocumentText("one two\nthree\r\nfour")
    doc.apply(R(0, 4, 0, 4), "X y ")
    assert doc.text == "one X y two\nthree\r\nfour"
    doc.apply(R(0, 2, 1, 2), "Q\nZ")
    assert doc.text == "onQ\nZree\r\nfour"
    doc.apply(R(9, 0, 9, 9), "!")  # past the end: clamped to it
    assert doc.text == "onQ\nZree\r\nfour!"
    assert doc.text_in(R(0, 1, 1, 2)) == "nQ\nZr"
    assert doc.around(R(1, 1, 1, 2), 3) == ("Q\nZ", "ee\r")
    doc.apply(None, "all new")
    assert doc.text == "all new" and doc.size == 7


def test_document_text_counts_positions_in_the_agreed_encoding():
    doc = DocumentText("a\U0001f600b é", encoding="utf-16")
    assert doc.text_in(R(0, 1, 0, 3)) == "\U0001f600"
    doc8 = DocumentText("é=1", encoding="utf-8")
    doc8.apply(R(0, 2, 0, 3), "")
    assert doc8.text == "é1"


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="ab \n\u00e9\U0001f600", max_size=30),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6), st.text(alphabet="xy\n\u00e9", max_size=4)), max_size=8),
)
def test_document_text_matches_replacing_the_string(text, edits):
    doc = DocumentText(text)
    expected = text
    for offset, length, new in edits:
        offset = min(offset, len(expected))
        end = min(offset + length, len(expected))
        rng = Range(start=position_at(expected, offset), end=position_at(expected, end))
        expected = apply_edit(expected, rng, new)
        doc.apply(rng, new)
        assert doc.text == expected


# -- the tracker ----------------------------------------------------------------------------------


def opened(text: str) -> UtteranceTracker:
    tracker = UtteranceTracker()
    tracker.open(URI, text, 1, "python")
    return tracker


def test_the_editors_own_insertion_makes_the_utterance_live_and_later_edits_move_it():
    tracker = opened("one two")
    applied = []
    tracker.on_applied = lambda u: applied.append(u.id)
    u = tracker.track("u", URI, P(0, 4), "hello ")
    assert u.expect == "hello " and tracker.current_range(u) == R(0, 4, 0, 10)
    tracker.change(URI, [(R(0, 4, 0, 4), "hello ")], 2)
    assert (u.range, u.expect, applied) == (R(0, 4, 0, 10), None, ["u"])
    tracker.change(URI, [(R(0, 0, 0, 0), "zero ")], 3)
    assert u.range == R(0, 9, 0, 15) and not u.edited and tracker.version(URI) == 3
    assert tracker.text(URI) == "zero one hello two"
    tracker.change(URI, [(R(0, 11, 0, 11), "XX")], 4)
    assert u.edited and u.range == R(0, 9, 0, 17)


def test_an_insertion_reported_as_a_smaller_diff_is_still_recognised():
    # Neovim trims what old and new text share: " tw" typed before " two" shows as "tw " after " ".
    tracker = opened("one two")
    u = tracker.track("u", URI, P(0, 3), " tw")
    tracker.change(URI, [(R(0, 0, 0, 0), "Z")])  # unrelated typing first: the text was already there
    assert u.expect == " tw"
    tracker.change(URI, [(R(0, 5, 0, 5), "tw ")])
    assert (u.range, u.expect, u.edited) == (R(0, 4, 0, 7), None, False)
    assert tracker.text(URI) == "Zone tw two"


def test_touching_its_boundary_without_changing_it_is_not_an_edit():
    tracker = opened("ab")
    u = tracker.track("u", URI, P(0, 1), "XY")
    tracker.change(URI, [(R(0, 1, 0, 1), "XY")])
    # A diff that rewrites the last letter of the utterance and the next one with the same text.
    tracker.change(URI, [(R(0, 2, 0, 4), "Yb")])
    assert not u.edited and tracker.text(URI) == "aXYb"


def test_deleting_all_of_it_makes_it_gone_and_replacing_the_document_checks_the_text():
    tracker = opened("x = \ny = \n")
    gone = tracker.track("g", URI, P(0, 4), "1")
    kept = tracker.track("k", URI, P(1, 4), "2")
    tracker.change(URI, [(R(1, 4, 1, 4), "2"), (R(0, 4, 0, 4), "1")])
    tracker.change(URI, [(R(0, 4, 0, 5), "")])
    assert gone.gone and tracker.current_range(gone) is None
    assert tracker.latest(URI) is kept
    tracker.change(URI, [(None, "x = \ny = 2\n")])  # reloaded, same text around it
    assert not kept.edited and tracker.current_range(kept) == R(1, 4, 1, 5)
    tracker.change(URI, [(None, "totally different\n")])
    assert kept.edited


def test_text_put_back_where_a_deleted_utterance_was_is_never_taken_for_it():
    # The editor's undo, a paste, or `:e!` followed by typing the same words all look alike on
    # the wire: an insertion of the same text at the same spot. The words may be the user's own,
    # so the utterance stays gone and undo never deletes them (outside-user finding, issue 13).
    tracker = opened("a = \nb = \n")
    u = tracker.track("u", URI, P(1, 4), "user count")
    tracker.change(URI, [(R(1, 4, 1, 4), "user count")])
    tracker.change(URI, [(R(1, 4, 1, 14), "")])
    assert u.gone and tracker.latest(URI) is None
    tracker.change(URI, [(R(1, 4, 1, 4), "user count")])
    assert u.gone and tracker.current_range(u) is None and tracker.latest(URI) is None


def test_replacements_wait_for_the_editor_in_synced_documents_and_are_assumed_elsewhere():
    tracker = opened("# \n")
    u = tracker.track("u", URI, P(0, 2), "hello world")
    tracker.change(URI, [(R(0, 2, 0, 2), "hello world")])
    assert tracker.replace("u", "hello planet") == R(0, 2, 0, 14)
    assert u.expect == "hello planet" and tracker.current_range(u) == R(0, 2, 0, 13)
    tracker.change(URI, [(R(0, 2, 0, 13), "hello planet")])
    assert u.expect is None and u.range == R(0, 2, 0, 14) and u.text == "hello planet"
    # Not synced: the edit is taken as applied at once.
    plain = UtteranceTracker()
    v = plain.track("v", "file:///b.py", P(3, 0), "abc")
    assert v.expect is None and v.range == R(3, 0, 3, 3)
    plain.replace("v", "abcdef")
    assert v.range == R(3, 0, 3, 6) and v.text == "abcdef"


def test_a_replacement_the_user_beat_to_it_no_longer_applies():
    tracker = opened("")
    u = tracker.track("u", URI, P(0, 0), "hello world")
    tracker.change(URI, [(R(0, 0, 0, 0), "hello world")])
    tracker.replace("u", "hello planet")
    tracker.change(URI, [(R(0, 6, 0, 11), "there")])
    assert u.expect is None and u.edited


def test_reopening_checks_the_text_it_follows():
    tracker = opened("ab")
    u = tracker.track("u", URI, P(0, 1), "XY")
    tracker.change(URI, [(R(0, 1, 0, 1), "XY")])
    tracker.close(URI)
    assert not tracker.is_synced(URI)
    tracker.open(URI, "aXYb", 7)
    assert not u.edited
    tracker.close(URI)
    tracker.open(URI, "a--b", 8)
    assert u.edited


def test_tracking_is_bounded_per_document_and_in_documents():
    tracker = UtteranceTracker(max_documents=2, max_per_document=3)
    for i in range(5):
        tracker.track(f"a{i}", "file:///a", P(i, 0), "x")
    assert [i for i in ("a0", "a1", "a2", "a3", "a4") if i in tracker] == ["a2", "a3", "a4"]
    tracker.track("b0", "file:///b", P(0, 0), "x")
    tracker.track("c0", "file:///c", P(0, 0), "x")
    assert "a4" not in tracker and "b0" in tracker and "c0" in tracker
    assert len(tracker) == 2


def test_moved_ranges_are_handed_out_once_for_saving():
    tracker = opened("\n")
    u = tracker.track("u", URI, P(1, 0), "abc")
    tracker.change(URI, [(R(1, 0, 1, 0), "abc")])
    tracker.take_dirty()
    tracker.change(URI, [(R(0, 0, 0, 0), "\n")])
    assert tracker.take_dirty() == [u] and tracker.take_dirty() == []
    tracker.change(URI, [(R(2, 3, 2, 3), "!")])  # after it on its line: nothing moved, its surroundings did
    assert tracker.take_dirty() == [u] and u.range == R(2, 0, 2, 3)
    tracker.change(URI, [(R(0, 0, 0, 0), "x")])  # another line, before it: nothing of it changed
    assert tracker.take_dirty() == []


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="ab \n\u00e9\U0001f600", max_size=20),
    st.integers(0, 25),
    st.text(alphabet="UV \u00e9\n", min_size=1, max_size=6),
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 5), st.text(alphabet="xy\n\U0001f600", max_size=3)), max_size=6
    ),
)
def test_an_utterance_not_marked_edited_still_reads_as_written_wherever_edits_moved_it(text, at, said, edits):
    tracker = opened(text)
    insert_at = position_at(text, min(at, len(text)))
    u = tracker.track("u", URI, insert_at, said)
    current = apply_edit(text, Range(start=insert_at, end=insert_at), said)
    tracker.change(URI, [(Range(start=insert_at, end=insert_at), said)])
    for offset, length, new in edits:
        offset = min(offset, len(current))
        end = min(offset + length, len(current))
        rng = Range(start=position_at(current, offset), end=position_at(current, end))
        current = apply_edit(current, rng, new)
        tracker.change(URI, [(rng, new)])
        assert tracker.text(URI) == current
        if not u.edited and not u.gone:
            rng_now = tracker.current_range(u)
            assert DocumentText(current).text_in(rng_now) == said

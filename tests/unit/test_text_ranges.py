"""LSP ranges of tracked utterances: UTF-16 positions and moving ranges through edits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lsprotocol.types import Position, Range

from swictation_rpc.text.ranges import (
    apply_edit,
    end_position,
    inserted_range,
    offset_at,
    position_at,
    shift_range_after_edit,
    text_in_range,
    utf16_len,
)


def P(line: int, character: int) -> Position:
    return Position(line=line, character=character)


def R(a: int, b: int, c: int, d: int) -> Range:
    return Range(start=P(a, b), end=P(c, d))


def test_end_position_counts_utf16_code_units():
    assert end_position(P(3, 4), "hello") == P(3, 9)
    assert end_position(P(3, 4), "h\u00e9llo") == P(3, 9)  # BMP: one unit
    assert end_position(P(3, 4), "hi \U0001f600") == P(3, 9)  # astral: two units
    assert utf16_len("\U0001f600\U0001f600") == 4


def test_end_position_across_lines_in_every_lsp_line_ending():
    assert end_position(P(3, 4), "a\nbc") == P(4, 2)
    assert end_position(P(3, 4), "a\r\nbc\rd\n") == P(6, 0)
    assert end_position(P(0, 0), "") == P(0, 0)


def test_edits_before_move_the_range_edits_after_leave_it_edits_inside_void_it():
    tracked = R(2, 4, 2, 10)
    assert shift_range_after_edit(tracked, R(2, 0, 2, 0), "ab") == R(2, 6, 2, 12)  # typed before, same line
    assert shift_range_after_edit(tracked, R(0, 0, 0, 0), "x\ny\n") == R(4, 4, 4, 10)  # lines added above
    assert shift_range_after_edit(tracked, R(1, 3, 2, 1), "") == R(1, 6, 1, 12)  # joined with the line above
    assert shift_range_after_edit(tracked, R(2, 4, 2, 4), "!") == R(2, 5, 2, 11)  # insertion at its start
    assert shift_range_after_edit(tracked, R(2, 10, 2, 10), "!") == tracked  # insertion at its end
    assert shift_range_after_edit(tracked, R(3, 0, 3, 5), "zzz") == tracked
    assert shift_range_after_edit(tracked, R(2, 5, 2, 6), "Q") is None
    assert shift_range_after_edit(tracked, R(2, 0, 2, 5), "") is None  # overlaps its start


def test_offsets_and_positions_agree_with_astral_characters():
    text = "a\U0001f600b\nc\r\nd"
    assert offset_at(text, P(0, 3)) == 2  # after the emoji
    assert position_at(text, 2) == P(0, 3)
    assert offset_at(text, P(2, 1)) == len(text)
    assert offset_at(text, P(9, 0)) == len(text)


_texts = st.text(alphabet=st.sampled_from(list("ab \n\U0001f600\u00e9")), max_size=30)


@given(_texts, _texts, _texts, _texts, st.data())
def test_a_tracked_range_still_holds_its_text_after_any_edit_outside_it(prefix, utterance, suffix, new_text, data):
    doc = prefix + utterance + suffix
    start = position_at(doc, len(prefix))
    tracked = inserted_range(start, utterance)
    assert text_in_range(doc, tracked) == utterance
    a = data.draw(st.integers(0, len(doc)))
    b = data.draw(st.integers(a, len(doc)))
    edit = Range(start=position_at(doc, a), end=position_at(doc, b))
    moved = shift_range_after_edit(tracked, edit, new_text)
    edited = apply_edit(doc, edit, new_text)
    if moved is not None:
        assert text_in_range(edited, moved) == utterance
    else:
        # Only an edit that reached into the utterance voids it.
        assert a < len(prefix) + len(utterance) and b > len(prefix)

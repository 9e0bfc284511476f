"""``benchmarks.vocabulary``: the measurement's shape, its scoring, and what mapping guarantees.

No accuracy or timing thresholds (they belong to the benchmark's report); what is asserted is
that a run really decodes Piper speech with and without the identifiers, that the scores are
computed as documented, and that mapping spoken forms to identifiers (deterministic, on the very
same transcript) never finds fewer identifiers than the baseline.
"""

from __future__ import annotations

import pytest

from benchmarks.vocabulary import (
    CASES,
    VARIANTS,
    WORKSPACE,
    Case,
    CaseResult,
    identifiers_in,
    measure,
    reference_text,
    render,
    summarise,
)


def test_every_case_mentions_identifiers_of_the_workspace_and_the_reference_spells_them():
    assert len(CASES) >= 20
    for case in CASES:
        assert case.identifiers and set(case.identifiers) <= set(WORKSPACE)
        reference = reference_text(case)
        assert identifiers_in(reference, case.identifiers) == list(case.identifiers), (case, reference)
    assert reference_text(CASES[0]) == "call getUserById with the request"


def test_scores_count_words_exact_identifiers_and_identifier_hits():
    case = Case("call get user by id with the request", ("getUserById",))
    perfect = CaseResult(
        case.said, "x", "", "Call getUserById with the request.", ["getUserById"], ["getUserById"], 1.0
    )
    spoken = CaseResult(case.said, "x", "", "Call get user by ID with the request.", ["getUserById"], [], 1.0)
    wrong_case = CaseResult(case.said, "x", "", "call getUserByID with a request", ["getUserById"], [], 1.0)
    assert summarise("x", [case], [perfect]).wer_exact == 0.0
    assert summarise("x", [case], [perfect]).wer_words == 0.0
    assert summarise("x", [case], [spoken]).wer_words == 0.0  # the words were heard
    assert summarise("x", [case], [spoken]).wer_exact > 0.5  # but it is not the identifier
    assert summarise("x", [case], [wrong_case]).identifier_accuracy == 0.0
    assert identifiers_in("x = getUserByIdFast", ["getUserById"]) == []


@pytest.mark.timeout(240)
def test_a_run_decodes_piper_speech_with_and_without_identifiers_and_mapping_never_loses_any():
    cases = CASES[:3]
    report = measure(cases)
    assert report.model.startswith("whisper")
    assert report.cases == 3 and report.workspace_identifiers == len(WORKSPACE)
    assert report.hotwords and all(h == h.lower() for h in report.hotwords)
    assert [s.variant for s in report.summaries] == list(VARIANTS)
    assert len(report.results) == len(VARIANTS) * len(cases)
    for summary in report.summaries:
        assert 0.0 <= summary.identifier_accuracy <= 1.0
        assert summary.wer_words >= 0.0 and summary.wer_exact >= 0.0
        assert summary.identifiers_total == sum(len(c.identifiers) for c in cases)
    by = {(r.variant, r.said): r for r in report.results}
    for case in cases:
        baseline, mapping = by[("baseline", case.said)], by[("mapping", case.said)]
        assert baseline.transcript.strip(), "Whisper heard nothing in Piper's speech"
        assert mapping.transcript == baseline.transcript  # the same decode, formatted with identifiers
        assert set(baseline.found) <= set(mapping.found)
    assert report.summary("mapping").identifier_accuracy >= report.summary("baseline").identifier_accuracy
    text = render(report)
    assert "hotwords+mapping" in text and "WER (words)" in text

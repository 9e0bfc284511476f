"""A model that cannot transcribe its own check clip is retired, whether it says ``<unk>`` or nothing.

The reported case: a 6 KB tone model imported as ``parakeet-tdt-110m`` loaded, heard nothing in
the packaged speech sample (its check clip), and kept serving fast mode: ``transcribe --mode
fast`` printed "" with exit code 0. Now an empty check-clip text retires the model like the
``<unk>`` case, and the other model serves.
"""

from __future__ import annotations

import pytest

from swictation_rpc.engine.hybrid import HybridEngine
from swictation_rpc.models.store import ModelStore
from swictation_rpc.options import Options
from swictation_rpc.testing.speech import synthesize, word_error_rate

SENTENCE = "Open the settings file and change the port."


@pytest.fixture(scope="module")
def imported_tone_as_parakeet(tmp_path_factory):
    """The reported set-up: a tone model installed under the catalogue's fast-model name."""
    from swictation_rpc.testing.synthetic import write_tone_model

    root = tmp_path_factory.mktemp("check-clip")
    tone = write_tone_model(root / "src", name="tone")
    store = ModelStore(root / "models")
    store.import_(tone, name="parakeet-tdt-110m")
    return store.root


def test_a_model_that_hears_nothing_in_its_check_clip_is_retired_and_the_other_serves(imported_tone_as_parakeet):
    options = Options()
    options.models.models_dir = str(imported_tone_as_parakeet)
    options.models.fast, options.models.accurate = "parakeet-tdt-110m", "bundled"
    engine = HybridEngine(options)  # the default check clip: the packaged speech sample
    engine.load()
    try:
        fast = engine.status().models[0]
        assert "produced no text on its check clip" in fast.problem
        assert "models download parakeet-tdt-110m" in fast.problem  # the remedy names the command
        assert "serving fast mode with whisper-tiny.en" in fast.problem
        assert fast.ready and fast.backend == "faster-whisper"
        result = engine.transcribe(synthesize(SENTENCE), "fast")
        assert result.model == "whisper-tiny.en (bundled)"
        assert result.text and word_error_rate(SENTENCE, result.text) <= 0.25, result.text
    finally:
        engine.close()


def test_empty_and_unk_outputs_are_treated_alike(tone_model, tmp_path):
    """A ``<unk>``-only model and a deaf one both leave fast mode to the accurate model."""
    from swictation_rpc.testing.synthetic import UNK, WORD_START, expected_text, tone_audio, write_tone_model

    check = "return the value"
    # Knows only two tones ("hello", "world"), so it hears nothing in the check clip's three.
    deaf = write_tone_model(tmp_path, tokens=(UNK, WORD_START + "hello", WORD_START + "world"), name="deaf")
    accurate = tone_model(kind="rnnt")
    for fast, problem in ((tone_model(kind="tdt", unk_only=True), "outputs only <unk>"), (deaf, "produced no text")):
        options = Options()
        options.models.fast, options.models.accurate = str(fast), str(accurate)
        engine = HybridEngine(options, check_audio=tone_audio(check))
        engine.load()
        try:
            status = engine.status().models[0]
            assert problem in status.problem and f"serving fast mode with {accurate.name}" in status.problem
            assert status.name == accurate.name and status.ready
            result = engine.transcribe(tone_audio(check), "fast")
            assert (result.model, result.text) == (accurate.name, expected_text(check))
        finally:
            engine.close()

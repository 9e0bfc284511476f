"""Both transducer backends decode the tone-alphabet models to the exact text, and agree.

sherpa-onnx (the CPU backend) runs the sherpa layout; the onnxruntime greedy decoder (the GPU
path, on the CPU provider here) runs both layouts. Audio comes in at 8, 16 and 44.1 kHz and is
resampled to 16 kHz with soxr, as the engine's audio input does.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.engine.base import Recognizer
from swictation_rpc.engine.onnxruntime_tdt import OnnxruntimeTransducer, tokens_to_text
from swictation_rpc.engine.sherpa import SherpaTransducer
from swictation_rpc.models.layout import inspect_model_dir
from swictation_rpc.testing import synthetic as s

SENTENCES = [
    "hello world",
    "testing the function, return values.",
    "print the value",
    "hello hello hello code code",
]
KINDS = ["tdt", "rnnt"]
FEAT_DIMS = [80, 128]


def _audio(text: str, sample_rate: int) -> np.ndarray:
    audio = s.tone_audio(text, sample_rate)
    if sample_rate == SAMPLE_RATE:
        return audio
    return soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)


@pytest.fixture(scope="module")
def recognizers(tone_model):
    """``recognizers(backend, kind, feat_dim, layout, method="greedy_search", unk_only=False)``, cached."""
    cache: dict[tuple, Recognizer] = {}

    def _get(backend, kind, feat_dim, layout="sherpa", method="greedy_search", unk_only=False):
        key = (backend, kind, feat_dim, layout, method, unk_only)
        if key not in cache:
            files = inspect_model_dir(tone_model(kind=kind, feat_dim=feat_dim, layout=layout, unk_only=unk_only))
            name = files.folder.name
            if backend == "sherpa":
                cache[key] = SherpaTransducer.from_files(files, name=name, decoding_method=method, num_threads=1)
            else:
                cache[key] = OnnxruntimeTransducer.from_files(files, name=name, num_threads=1)
        return cache[key]

    yield _get
    for rec in cache.values():
        rec.close()


@pytest.mark.parametrize("sample_rate", [8000, 16000, 44100])
@pytest.mark.parametrize("feat_dim", FEAT_DIMS)
@pytest.mark.parametrize("kind", KINDS)
def test_sherpa_layout_decodes_exactly_in_both_backends(recognizers, kind, feat_dim, sample_rate):
    sherpa = recognizers("sherpa", kind, feat_dim)
    ort = recognizers("onnxruntime", kind, feat_dim)
    for text in SENTENCES:
        audio = _audio(text, sample_rate)
        expected = s.expected_text(text)
        got_sherpa, got_ort = sherpa.transcribe(audio), ort.transcribe(audio)
        assert got_sherpa == expected
        assert got_ort == expected
        assert got_ort == got_sherpa


@pytest.mark.parametrize("feat_dim", FEAT_DIMS)
@pytest.mark.parametrize("kind", KINDS)
def test_sherpa_modified_beam_search_agrees_with_greedy(recognizers, kind, feat_dim):
    beam = recognizers("sherpa", kind, feat_dim, method="modified_beam_search")
    greedy = recognizers("sherpa", kind, feat_dim)
    for text in SENTENCES:
        audio = _audio(text, SAMPLE_RATE)
        assert beam.transcribe(audio) == greedy.transcribe(audio) == s.expected_text(text)


@pytest.mark.parametrize("sample_rate", [8000, 44100])
@pytest.mark.parametrize("feat_dim", FEAT_DIMS)
@pytest.mark.parametrize("kind", KINDS)
def test_nemo_layout_decodes_through_onnxruntime_like_sherpa_decodes_the_sherpa_export(
    recognizers, kind, feat_dim, sample_rate
):
    nemo = recognizers("onnxruntime", kind, feat_dim, layout="nemo")
    sherpa = recognizers("sherpa", kind, feat_dim)
    for text in SENTENCES:
        audio = _audio(text, sample_rate)
        assert nemo.transcribe(audio) == sherpa.transcribe(audio) == s.expected_text(text)


@pytest.mark.parametrize("layout", ["sherpa", "nemo"])
def test_unk_model_output_keeps_unk_visible(recognizers, layout):
    audio = _audio("hello world", SAMPLE_RATE)
    ort = recognizers("onnxruntime", "tdt", 80, layout=layout, unk_only=True)
    assert ort.transcribe(audio) == "<unk><unk>"
    if layout == "sherpa":
        assert recognizers("sherpa", "tdt", 80, unk_only=True).transcribe(audio) == "<unk><unk>"


@pytest.mark.parametrize("backend", ["sherpa", "onnxruntime"])
@pytest.mark.parametrize("samples", [0, 1, 399, 1600, 16000])
def test_silence_and_very_short_audio_give_empty_text(recognizers, backend, samples):
    assert recognizers(backend, "tdt", 80).transcribe(np.zeros(samples, np.float32)) == ""


def test_long_audio_decodes_every_token(recognizers):
    text = " ".join(["hello world code"] * 12)  # ~22 s of tones
    audio = _audio(text, SAMPLE_RATE)
    for backend in ("sherpa", "onnxruntime"):
        assert recognizers(backend, "rnnt", 128).transcribe(audio) == s.expected_text(text)


def test_backends_implement_the_recognizer_protocol(recognizers):
    sherpa = recognizers("sherpa", "tdt", 80)
    ort = recognizers("onnxruntime", "tdt", 80)
    nemo = recognizers("onnxruntime", "tdt", 80, layout="nemo")
    for rec in (sherpa, ort, nemo):
        assert isinstance(rec, Recognizer)
    assert (sherpa.backend, sherpa.provider) == ("sherpa-onnx", "cpu")
    assert (ort.backend, ort.provider) == ("onnxruntime", "CPUExecutionProvider")
    assert nemo.name == "tone-tdt-80-nemo"


def test_onnxruntime_reports_the_provider_it_got_not_the_one_asked_for(tone_model):
    files = inspect_model_dir(tone_model())
    rec = OnnxruntimeTransducer.from_files(
        files, name="x", providers=["CUDAExecutionProvider", "CPUExecutionProvider"], num_threads=1
    )
    import onnxruntime

    expected = (
        "CUDAExecutionProvider"
        if "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        else ("CPUExecutionProvider")
    )
    assert rec.provider == expected
    rec.close()


def test_sherpa_refuses_the_nemo_layout(tone_model):
    files = inspect_model_dir(tone_model(layout="nemo"))
    with pytest.raises(ValueError, match="OnnxruntimeTransducer"):
        SherpaTransducer.from_files(files, name="x")


def test_hotwords_reach_sherpa_beam_search(tone_model):
    # The tones leave no doubt, so a normal bonus changes nothing; an absurd one makes the beam
    # search emit the hotword where there is only silence, which proves the words got through.
    files = inspect_model_dir(tone_model())
    audio = _audio("hello world", SAMPLE_RATE)
    normal = SherpaTransducer.from_files(files, name="x", decoding_method="modified_beam_search")
    assert normal.transcribe(audio, hotwords=["code", "return value"]) == "hello world"
    normal.close()
    strong = SherpaTransducer.from_files(files, name="x", decoding_method="modified_beam_search", hotwords_score=20)
    assert strong.transcribe(audio) == "hello world"
    assert "code" in strong.transcribe(audio, hotwords=["code"]).split()
    strong.close()


def test_hotwords_are_ignored_by_greedy_decoders(recognizers):
    audio = _audio("hello world", SAMPLE_RATE)
    assert recognizers("sherpa", "tdt", 80).transcribe(audio, hotwords=["code"]) == "hello world"
    assert recognizers("onnxruntime", "tdt", 80).transcribe(audio, hotwords=["code"]) == "hello world"


def test_external_data_encoder_decodes_in_both_backends(tmp_path):
    files = inspect_model_dir(s.write_tone_model(tmp_path, external_data=True))
    audio = _audio("run the code", SAMPLE_RATE)
    assert SherpaTransducer.from_files(files, name="x").transcribe(audio) == "run the code"
    assert OnnxruntimeTransducer.from_files(files, name="x").transcribe(audio) == "run the code"


def test_pieces_become_words():
    assert tokens_to_text(["▁test", "ing", "▁the", "▁code", "."]) == "testing the code."
    assert tokens_to_text(["<unk>", "<unk>"]) == "<unk><unk>"
    assert tokens_to_text([]) == ""


@pytest.mark.parametrize("hotwords", [["a :x"], [":"], ["#", ""], ["a/b\nc"], ["日本", "<unk>", "<blk>"]])
def test_odd_hotwords_never_break_a_decode(recognizers, hotwords):
    # "word :x" once made sherpa-onnx raise `stof`: user vocabulary must never fail a request.
    beam = recognizers("sherpa", "tdt", 80, method="modified_beam_search")
    assert beam.transcribe(_audio("hello world", SAMPLE_RATE), hotwords=hotwords) == "hello world"


def test_hotword_lines_strip_sherpa_syntax():
    from swictation_rpc.engine.sherpa import hotword_lines

    assert hotword_lines(["return value :2.5", "a/b", "  ", "#comment x"]) == ["return value", "a b", "x"]

"""onnx-asr as a second, independent decoder of NeMo-layout transducers.

onnx-asr (test extra) runs the NeMo/onnx-asr layout (``encoder-model.onnx``,
``decoder_joint-model.onnx``, ``vocab.txt``, ``config.json``) with NeMo's own preprocessor exported
to ONNX, which always applies ``per_feature`` normalisation, and its own greedy TDT / RNN-T loop.
The synthetic ``per_feature`` tone model (``write_tone_model(normalize_type="per_feature")``) is
built to decode under that normalisation, so the same folder and audio go through onnx-asr's code
and through ours (``engine/features.py`` + ``engine/onnxruntime_tdt.py``), and sherpa-onnx (third
opinion, its own features) reads the sherpa-layout twin. All must give the same tokens.
"""

from __future__ import annotations

import attrs
import pytest

from swictation_rpc.engine.onnxruntime_tdt import OnnxruntimeTransducer
from swictation_rpc.models.layout import inspect_model_dir
from swictation_rpc.testing.synthetic import WORD_START, expected_text, tone_audio, write_tone_model

onnx_asr = pytest.importorskip("onnx_asr", reason="onnx-asr (test extra) is the independent NeMo decoder")

TEXT = "hello world, return the value. def print testing code"


def _onnx_asr(folder, kind):
    model = onnx_asr.load_model(f"nemo-conformer-{kind}", folder, providers=["CPUExecutionProvider"])
    return model.with_timestamps()


@pytest.mark.parametrize("feat_dim", [80, 128])
@pytest.mark.parametrize("kind", ["tdt", "rnnt"])
def test_onnx_asr_and_our_onnxruntime_path_decode_the_same_tokens(tmp_path, kind, feat_dim):
    folder = write_tone_model(tmp_path, kind=kind, feat_dim=feat_dim, layout="nemo", normalize_type="per_feature")
    files = inspect_model_dir(folder)
    assert (files.layout, files.kind, files.normalize_type, files.feat_dim) == ("nemo", kind, "per_feature", feat_dim)
    audio = tone_audio(TEXT, calibrate=True)

    reference = _onnx_asr(folder, kind).recognize(audio)
    assert reference.text == expected_text(TEXT)

    ours = OnnxruntimeTransducer.from_files(files, name="tone", num_threads=1)
    timed = ours.timed_token_ids(audio)
    assert [files.tokens[i].replace(WORD_START, " ") for i, _ in timed] == reference.tokens
    assert ours.transcribe(audio) == reference.text
    # onnx-asr's timestamps are encoder frame x subsampling x 10 ms: each token must come out on
    # the same encoder frame through both decoders (the frame rules and durations agree).
    frame_s = files.subsampling_factor * 0.01
    assert [frame for _, frame in timed] == [round(ts / frame_s) for ts in reference.timestamps]


@pytest.mark.parametrize("kind", ["tdt", "rnnt"])
def test_sherpa_onnx_agrees_on_the_sherpa_layout_twin(tmp_path, kind):
    from swictation_rpc.engine.sherpa import SherpaTransducer

    nemo = write_tone_model(tmp_path, kind=kind, layout="nemo", normalize_type="per_feature", name="nemo")
    sherpa = write_tone_model(tmp_path, kind=kind, layout="sherpa", normalize_type="per_feature", name="sherpa")
    audio = tone_audio(TEXT, calibrate=True)
    files = inspect_model_dir(sherpa)
    assert files.normalize_type == "per_feature"
    recognizer = SherpaTransducer.from_files(files, name="tone", num_threads=1)
    try:
        assert recognizer.transcribe(audio) == _onnx_asr(nemo, kind).recognize(audio).text == expected_text(TEXT)
    finally:
        recognizer.close()


def test_the_per_feature_model_reads_any_per_bin_normalisation(tmp_path):
    """Its encoder min-max maps each bin first: unnormalised features give the same tokens."""
    folder = write_tone_model(tmp_path, layout="nemo", normalize_type="per_feature")
    files = inspect_model_dir(folder)
    audio = tone_audio(TEXT, calibrate=True)
    normalised = OnnxruntimeTransducer.from_files(files, name="pf", num_threads=1).token_ids(audio)
    raw = OnnxruntimeTransducer.from_files(attrs.evolve(files, normalize_type="NA"), name="na", num_threads=1)
    assert raw.token_ids(audio) == normalised


def test_without_the_calibration_chord_a_per_feature_model_misreads_absent_tones(tmp_path):
    """Why ``tone_audio(calibrate=True)``: a bin whose own tone is absent peaks on a neighbour's leakage."""
    folder = write_tone_model(tmp_path, layout="nemo", normalize_type="per_feature")
    text = "hello world, return the value."
    model = _onnx_asr(folder, "tdt")
    assert model.recognize(tone_audio(text, calibrate=True)).text == expected_text(text)
    assert model.recognize(tone_audio(text)).text != expected_text(text)

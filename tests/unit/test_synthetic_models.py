"""The synthetic tone-alphabet models: what they contain and what their test audio sounds like."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from swictation_rpc.engine.features import log_mel, mel_centers
from swictation_rpc.testing import synthetic as s


@pytest.mark.parametrize("kind", ["tdt", "rnnt"])
@pytest.mark.parametrize("feat_dim", [80, 128])
def test_sherpa_layout_has_the_files_and_metadata_sherpa_onnx_reads(tone_model, kind, feat_dim):
    folder = tone_model(kind=kind, feat_dim=feat_dim)
    assert sorted(p.name for p in folder.iterdir()) == ["decoder.onnx", "encoder.onnx", "joiner.onnx", "tokens.txt"]
    for name in ("encoder.onnx", "decoder.onnx", "joiner.onnx"):
        model = onnx.load(str(folder / name))
        onnx.checker.check_model(model)
        assert model.opset_import[0].version == 17
    meta = {p.key: p.value for p in onnx.load(str(folder / "encoder.onnx")).metadata_props}
    vocab = len(s.DEFAULT_TOKENS)
    assert meta["vocab_size"] == str(vocab)
    assert meta["feat_dim"] == str(feat_dim)
    assert {"subsampling_factor", "pred_rnn_layers", "pred_hidden", "normalize_type"} <= meta.keys()
    assert ("tdt" in meta["url"]) == (kind == "tdt")
    lines = (folder / "tokens.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == vocab + 1
    assert lines[-1] == f"<blk> {vocab}"
    assert lines[0] == "<unk> 0"
    joiner = onnx.load(str(folder / "joiner.onnx"))
    width = joiner.graph.output[0].type.tensor_type.shape.dim[-1].dim_value
    assert width == vocab + 1 + (len(s.DURATIONS) if kind == "tdt" else 0)


@pytest.mark.parametrize("kind", ["tdt", "rnnt"])
def test_nemo_layout_follows_the_onnx_asr_export_conventions(tone_model, kind):
    folder = tone_model(kind=kind, layout="nemo", feat_dim=128)
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "decoder_joint-model.onnx",
        "encoder-model.onnx",
        "vocab.txt",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == f"nemo-conformer-{kind}"
    assert config["features_size"] == 128
    assert config["subsampling_factor"] == 8
    dj = onnx.load(str(folder / "decoder_joint-model.onnx"))
    assert [i.name for i in dj.graph.input] == [
        "encoder_outputs",
        "targets",
        "target_length",
        "input_states_1",
        "input_states_2",
    ]
    assert [o.name for o in dj.graph.output] == ["outputs", "prednet_lengths", "output_states_1", "output_states_2"]
    encoder = onnx.load(str(folder / "encoder-model.onnx"))
    assert [i.name for i in encoder.graph.input] == ["audio_signal", "length"]
    assert [o.name for o in encoder.graph.output] == ["outputs", "encoded_lengths"]
    assert not encoder.metadata_props  # NeMo's export writes none: that is how sherpa-onnx tells it apart
    assert (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()[-1] == f"<blk> {len(s.DEFAULT_TOKENS)}"


def test_graphs_are_tiny(tone_model):
    folder = tone_model(kind="tdt", feat_dim=128)
    assert all(p.stat().st_size < 4096 for p in folder.glob("*.onnx"))


def test_text_is_spelled_with_sentencepiece_pieces_and_decodes_back():
    ids = s.encode_text("testing the function, return values.")
    pieces = [s.DEFAULT_TOKENS[i] for i in ids]
    assert pieces == ["▁test", "ing", "▁the", "▁function", ",", "▁return", "▁value", "s", "."]
    assert s.expected_text(ids) == "testing the function, return values."
    assert s.expected_text("hello world", unk_only=True) == "<unk><unk>"


def test_words_outside_the_alphabet_are_refused():
    with pytest.raises(ValueError, match="cannot spell"):
        s.encode_text("hello zebra")


def test_an_alphabet_larger_than_the_tone_slots_is_refused(tmp_path):
    tokens = ["<unk>", *(f"▁w{i}" for i in range(s.MAX_TONES + 1))]
    with pytest.raises(ValueError, match="room for"):
        s.write_tone_model(tmp_path, tokens=tokens)


def test_tone_audio_is_tones_between_digital_silence():
    audio = s.tone_audio("hello world")
    assert audio.dtype == np.float32
    n_tone, n_gap = int(s.TONE_S * 16000), int(s.GAP_S * 16000)
    assert audio.size == 2 * n_tone + 3 * n_gap
    assert not audio[:n_gap].any() and not audio[-n_gap:].any()
    assert not audio[n_gap + n_tone : 2 * n_gap + n_tone].any()
    assert np.abs(audio).max() == pytest.approx(s.AMPLITUDE, rel=0.01)


@pytest.mark.parametrize("sample_rate", [8000, 16000, 44100])
def test_each_token_has_its_own_frequency(sample_rate):
    freqs = s.tone_frequencies()
    assert len(set(np.round(freqs))) == s.MAX_TONES and freqs.max() < sample_rate / 2
    audio = s.tone_audio([3], sample_rate)  # "▁code": tone slot 2
    n_gap = int(s.GAP_S * sample_rate)
    tone = audio[n_gap : n_gap + int(s.TONE_S * sample_rate)]
    spectrum = np.abs(np.fft.rfft(tone))
    peak_hz = spectrum.argmax() * sample_rate / tone.size
    assert peak_hz == pytest.approx(freqs[2], abs=5)


@pytest.mark.parametrize("feat_dim", [80, 128])
def test_a_tone_lights_up_the_mel_band_of_its_token(feat_dim):
    freqs = s.tone_frequencies()
    feats = log_mel(s.tone_audio([5]), feat_dim=feat_dim, normalize_type="NA")  # "▁return": slot 4
    middle = feats[:, feats.shape[1] // 2]
    loudest_bin = int(middle.argmax())
    centres = mel_centers(feat_dim)
    assert abs(centres[loudest_bin] - freqs[4]) < abs(centres[loudest_bin] - freqs[3])
    assert abs(centres[loudest_bin] - freqs[4]) < abs(centres[loudest_bin] - freqs[5])


def test_unk_only_variant_maps_every_tone_to_unk(tmp_path):
    folder = s.write_tone_model(tmp_path, unk_only=True)
    joiner = onnx.load(str(folder / "joiner.onnx"))
    weights = next(onnx.numpy_helper.to_array(n.attribute[0].t) for n in joiner.graph.node if n.output[0] == "w")
    assert (weights[:, 0] > 0).all() and not weights[:, 1:].any()


def test_every_broken_case_can_be_written(tmp_path):
    for case, culprit in s.BROKEN_CASES.items():
        folder = s.write_broken_model(tmp_path, case, name=case)
        assert folder.is_dir()
        assert not (folder / "_nemo").exists() and not (folder / "_donor").exists()
        if case.endswith("missing"):
            assert not (folder / culprit).exists()


def test_unknown_broken_case_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown broken case"):
        s.write_broken_model(tmp_path, "no-such-case")


def test_external_data_encoder_keeps_its_weights_beside_it(tmp_path):
    folder = s.write_tone_model(tmp_path, external_data=True)
    assert (folder / "encoder.onnx.data").stat().st_size > 0
    model = onnx.load(str(folder / "encoder.onnx"), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)

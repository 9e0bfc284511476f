"""Model folder validation: every file that would abort sherpa-onnx is refused in Python first.

If any case here reached sherpa-onnx unchecked, it would ``_Exit`` this very pytest process; the
probe tests at the end show, in a child process, that each case really is fatal to an unchecked
load.
"""

from __future__ import annotations

import shutil

import pytest

from swictation_rpc.engine.probe import ABORT_EXIT_CODE, probe_load
from swictation_rpc.errors import ModelBrokenError, ModelNotInstalledError
from swictation_rpc.models.layout import ModelFiles, inspect_model_dir
from swictation_rpc.models.onnx_summary import read_onnx_summary
from swictation_rpc.testing import synthetic as s

VOCAB = len(s.DEFAULT_TOKENS)

#: Cases that end an unchecked process outright (sherpa-onnx ``_Exit(-1)``), per kind; the others
#: make sherpa-onnx raise (load or decode) instead.
ABORTS = {
    ("missing-metadata-key", "tdt"),
    ("tokens-no-blank-last", "tdt"),
    ("tokens-wrong-count", "tdt"),
    ("tokens-missing", "tdt"),
    ("tdt-url-rnnt-joiner", "rnnt"),
    ("vocab-joiner-mismatch", "rnnt"),
    ("nemo-encoder-in-sherpa-layout", "tdt"),
}


@pytest.mark.parametrize("kind", ["tdt", "rnnt"])
@pytest.mark.parametrize("feat_dim", [80, 128])
@pytest.mark.parametrize("layout", ["sherpa", "nemo"])
def test_good_models_are_described(tone_model, kind, feat_dim, layout):
    folder = tone_model(kind=kind, feat_dim=feat_dim, layout=layout)
    files = inspect_model_dir(folder)
    assert isinstance(files, ModelFiles)
    assert (files.layout, files.kind, files.feat_dim) == (layout, kind, feat_dim)
    assert files.vocab_size == VOCAB and files.blank_id == VOCAB
    assert files.tokens == (*s.DEFAULT_TOKENS, "<blk>")
    assert files.subsampling_factor == 8
    assert files.normalize_type == "NA"
    assert files.num_durations == (len(s.DURATIONS) if kind == "tdt" else 0)
    assert files.pred_rnn_layers == s.PRED_RNN_LAYERS and files.pred_hidden == s.PRED_HIDDEN
    assert all(p.is_file() for p in files.paths.values())
    if layout == "sherpa":
        assert files.paths.keys() == {"encoder", "decoder", "joiner", "tokens"}
        assert files.metadata["vocab_size"] == str(VOCAB)
    else:
        assert files.paths.keys() == {"encoder", "decoder_joint", "tokens", "config"}


@pytest.mark.parametrize("case", sorted(s.BROKEN_CASES))
@pytest.mark.parametrize("kind", ["tdt", "rnnt"])
def test_broken_models_are_refused_naming_the_file_and_the_fix(tmp_path, case, kind):
    folder = s.write_broken_model(tmp_path, case, kind=kind, name="parakeet-broken")
    with pytest.raises(ModelBrokenError) as caught:
        inspect_model_dir(folder)
    err = caught.value
    culprit = s.BROKEN_CASES[case]
    assert culprit in err.message
    assert err.data["file"].endswith(culprit)
    assert "swictation-rpc models download parakeet-broken" in err.remedy
    assert err.to_data()["kind"] == "model-broken"


def test_missing_folder_is_not_installed(tmp_path):
    with pytest.raises(ModelNotInstalledError) as caught:
        inspect_model_dir(tmp_path / "parakeet-tdt-110m")
    assert "parakeet-tdt-110m" in caught.value.message
    assert "swictation-rpc models download parakeet-tdt-110m" in caught.value.remedy


def test_folder_without_model_files_is_broken(tmp_path):
    (tmp_path / "README.md").write_text("not a model")
    with pytest.raises(ModelBrokenError, match="holds no model files"):
        inspect_model_dir(tmp_path)


def test_nemo_encoder_in_sherpa_layout_points_to_the_other_layout(tmp_path):
    folder = s.write_broken_model(tmp_path, "nemo-encoder-in-sherpa-layout")
    with pytest.raises(ModelBrokenError) as caught:
        inspect_model_dir(folder)
    assert "NeMo/onnx-asr export" in caught.value.message
    assert "decoder_joint-model.onnx" in caught.value.remedy


@pytest.mark.parametrize(
    ("victim", "culprit"),
    [("vocab.txt", "vocab.txt"), ("decoder_joint-model.onnx", "decoder_joint-model.onnx")],
)
def test_nemo_layout_missing_files_are_named(tone_model, tmp_path, victim, culprit):
    folder = shutil.copytree(tone_model(layout="nemo"), tmp_path / "nemo")
    (folder / victim).unlink()
    with pytest.raises(ModelBrokenError, match=culprit):
        inspect_model_dir(folder)


def test_nemo_layout_bad_config_is_named(tone_model, tmp_path):
    folder = shutil.copytree(tone_model(layout="nemo"), tmp_path / "nemo")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelBrokenError, match="config.json is not valid JSON"):
        inspect_model_dir(folder)


def test_nemo_layout_config_kind_must_match_the_joint(tone_model, tmp_path):
    folder = shutil.copytree(tone_model(layout="nemo", kind="rnnt"), tmp_path / "nemo")
    config = (folder / "config.json").read_text().replace("nemo-conformer-rnnt", "nemo-conformer-tdt")
    (folder / "config.json").write_text(config)
    with pytest.raises(ModelBrokenError, match="decoder_joint-model.onnx has no TDT duration outputs"):
        inspect_model_dir(folder)


def test_nemo_layout_without_config_uses_onnx_asr_defaults_and_the_joint_width(tone_model, tmp_path):
    folder = shutil.copytree(tone_model(layout="nemo", kind="tdt"), tmp_path / "nemo")
    (folder / "config.json").unlink()
    files = inspect_model_dir(folder)
    assert (files.kind, files.feat_dim, files.subsampling_factor) == ("tdt", 80, 8)
    assert files.normalize_type == "per_feature"  # what real NeMo exports need
    assert files.config_file is None


def test_feature_dim_disagreeing_with_the_encoder_is_refused(tmp_path):
    folder = s.write_tone_model(tmp_path, feat_dim=128, layout="nemo")
    config = (folder / "config.json").read_text().replace('"features_size": 128', '"features_size": 80')
    (folder / "config.json").write_text(config)
    with pytest.raises(ModelBrokenError, match="encoder-model.onnx takes 128 feature bins"):
        inspect_model_dir(folder)


def test_precision_suffixes_are_found_and_chosen(tone_model, tmp_path):
    folder = tmp_path / "int8"
    folder.mkdir()
    src = tone_model()
    for part in ("encoder", "decoder", "joiner"):
        shutil.copyfile(src / f"{part}.onnx", folder / f"{part}.int8.onnx")
    shutil.copyfile(src / "tokens.txt", folder / "tokens.txt")
    files = inspect_model_dir(folder)
    assert [p.name for p in (files.encoder, files.decoder, files.joiner)] == [
        "encoder.int8.onnx",
        "decoder.int8.onnx",
        "joiner.int8.onnx",
    ]
    for part in ("encoder", "decoder", "joiner"):
        shutil.copyfile(src / f"{part}.onnx", folder / f"{part}.onnx")
    assert inspect_model_dir(folder).encoder.name == "encoder.onnx"
    assert inspect_model_dir(folder, precision="int8").decoder.name == "decoder.int8.onnx"


@pytest.mark.parametrize("layout", ["sherpa", "nemo"])
def test_external_weights_must_be_present_and_whole(tmp_path, layout):
    folder = s.write_tone_model(tmp_path, layout=layout, external_data=True)
    files = inspect_model_dir(folder)
    data = files.encoder.with_name(files.encoder.name + ".data")
    data.write_bytes(data.read_bytes()[:10])
    with pytest.raises(ModelBrokenError, match=rf"{data.name} is truncated"):
        inspect_model_dir(folder)
    data.unlink()
    with pytest.raises(ModelBrokenError, match=rf"{data.name} is missing"):
        inspect_model_dir(folder)


def test_joiner_width_inferred_when_not_declared(tmp_path):
    # onnxruntime infers the width, so sherpa-onnx runs such a joiner: it must not be refused.
    folder = s.write_tone_model(tmp_path, kind="rnnt")
    s.set_joiner_width(folder, "V")
    assert inspect_model_dir(folder).joiner_width == VOCAB + 1


def test_onnx_summary_reads_metadata_and_interface_without_weights(tone_model):
    summary = read_onnx_summary(tone_model() / "encoder.onnx")
    assert summary.metadata["vocab_size"] == str(VOCAB)
    assert summary.input_names() == ["audio_signal", "length"]
    assert summary.output_names() == ["outputs", "encoded_lengths"]
    assert summary.external_data == ()


def test_every_truncation_point_of_an_encoder_is_caught(tone_model, tmp_path):
    data = (tone_model() / "encoder.onnx").read_bytes()
    folder = shutil.copytree(tone_model(), tmp_path / "cut")
    for cut in range(0, len(data), 97):
        (folder / "encoder.onnx").write_bytes(data[:cut])
        with pytest.raises(ModelBrokenError, match="encoder.onnx"):
            inspect_model_dir(folder)


# ---------------------------------------------------------------------------------------------
# Trial loads in a child process


@pytest.mark.parametrize("layout", ["sherpa", "nemo"])
def test_probe_load_passes_a_good_model(tone_model, layout):
    probe_load(inspect_model_dir(tone_model(layout=layout)))


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        (case, "rnnt" if case in ("tdt-url-rnnt-joiner", "vocab-joiner-mismatch") else "tdt")
        for case in sorted(s.BROKEN_CASES)
    ],
)
def test_unchecked_load_of_each_broken_case_fails_in_the_child_not_here(tmp_path, case, kind):
    # Describe a good folder, then break it behind the description's back: the child hands the
    # files to sherpa-onnx unchecked, as the engine would without inspect_model_dir.
    folder = s.write_tone_model(tmp_path, kind=kind, name="victim")
    files = inspect_model_dir(folder)
    s.write_broken_model(tmp_path, case, kind=kind, name="victim")
    with pytest.raises(ModelBrokenError) as caught:
        probe_load(files, timeout_s=60)
    exit_code = caught.value.data["exit_code"]
    assert exit_code != 0
    if (case, kind) in ABORTS:
        assert exit_code == ABORT_EXIT_CODE, caught.value.data["stderr"]
        assert "aborted the process" in caught.value.message
    # And this process is still here to say so.


def test_probe_load_reports_a_hang_as_broken(tone_model):
    with pytest.raises(ModelBrokenError, match="did not finish within"):
        probe_load(inspect_model_dir(tone_model()), timeout_s=0.01)

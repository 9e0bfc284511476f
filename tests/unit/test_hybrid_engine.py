"""The hybrid engine on real speech with the bundled model (what a fresh install runs)."""

from __future__ import annotations

import numpy as np
import pytest

from swictation_rpc.engine.hybrid import HybridEngine, _is_unk_output
from swictation_rpc.errors import ModelNotInstalledError
from swictation_rpc.options import ModelsOptions, Options
from swictation_rpc.testing.speech import silence, synthesize, word_error_rate

SENTENCES = [
    "Please open the settings file and rename the function to get user by ID.",
    "The quick brown fox jumps over the lazy dog.",
    "Add a comment above the loop that explains why we retry three times.",
]


@pytest.fixture(scope="module")
def engine():
    engine = HybridEngine(Options())
    engine.load()
    yield engine
    engine.close()


def test_fresh_install_serves_both_modes_with_the_bundled_model(engine):
    status = engine.status()
    assert status.ready
    for model in status.models:
        assert model.name == "whisper-tiny.en (bundled)" and model.ready
        # ...and says why, with the command that fixes it.
        assert "not installed" in model.problem and "models download" in model.problem


@pytest.mark.parametrize("sentence", SENTENCES)
def test_real_speech_is_transcribed_within_a_word_error_bound(engine, sentence):
    result = engine.transcribe(synthesize(sentence), "fast")
    assert word_error_rate(sentence, result.text) <= 0.15, result.text
    assert result.mode == "fast" and result.model == "whisper-tiny.en (bundled)"
    assert result.timings.audio_ms > 1000 and result.timings.decode_ms > 0
    assert result.timings.total_ms >= result.timings.decode_ms


def test_audio_longer_than_30_seconds_is_segmented_and_fully_transcribed(engine):
    # Seven sentences with pauses: well over 30 s, so the engine splits it at the pauses.
    parts = []
    for sentence in SENTENCES * 3:
        parts += [synthesize(sentence), silence(0.8)]
    audio = np.concatenate(parts)
    assert len(audio) / 16000 > 30
    result = engine.transcribe(audio, "accurate")
    reference = " ".join(SENTENCES * 3)
    assert word_error_rate(reference, result.text) <= 0.15, result.text


def test_auto_mode_picks_fast_for_interim_and_accurate_for_final_or_long(engine):
    assert engine.choose_mode("auto", 2.0, final=False) == "fast"
    assert engine.choose_mode("auto", 2.0, final=True) == "accurate"
    assert engine.choose_mode("auto", 60.0, final=False) == "accurate"
    assert engine.choose_mode("fast", 60.0, final=True) == "fast"


def test_metrics_are_recorded_per_mode(engine):
    engine.transcribe(synthesize("hello world"), "fast")
    metrics = engine.metrics()
    assert metrics["fast"].count >= 1 and metrics["fast"].p50_ms > 0
    assert metrics["fast"].p95_ms >= metrics["fast"].p50_ms


def test_missing_model_folder_is_reported_not_raised(tmp_path):
    options = Options()
    options.models.fast = str(tmp_path / "no-such-model")
    engine = HybridEngine(options)
    engine.load()
    fast = engine.status().models[0]
    assert fast.problem and "no-such-model" in fast.problem
    # Requests still get text, from the fallback.
    assert engine.transcribe(synthesize("good morning"), "fast").text


def test_unk_only_output_is_recognised_as_broken():
    assert _is_unk_output("<unk> <unk><unk>")
    assert _is_unk_output("<unk>.")
    assert not _is_unk_output("hello <unk> world")
    assert not _is_unk_output("")


def test_nothing_to_serve_is_a_typed_error(monkeypatch, tmp_path):
    import swictation_rpc.engine.hybrid as hybrid

    def no_bundled(**kwargs):
        raise ModelNotInstalledError("bundled model removed for this test")

    monkeypatch.setattr(hybrid.BundledWhisper, "bundled", staticmethod(no_bundled))
    options = Options()
    options.models.models_dir = str(tmp_path)
    engine = HybridEngine(options)
    engine.load()
    assert not any(m.ready for m in engine.status().models)
    with pytest.raises(ModelNotInstalledError, match="models download"):
        engine.transcribe(load_audio_silence())


def load_audio_silence() -> np.ndarray:
    return np.zeros(16000, dtype=np.float32)


# -- Parakeet-shaped models: the synthetic tone models through the real runtimes ------------

TONE_TEXT = "hello world"


def _tone_engine(fast: str, accurate: str, **engine_options) -> HybridEngine:
    from swictation_rpc.testing.synthetic import tone_audio

    options = Options()
    options.models.fast, options.models.accurate = fast, accurate
    for key, value in engine_options.items():
        setattr(options.engine, key, value)
    engine = HybridEngine(options, check_audio=tone_audio(TONE_TEXT))
    engine.load()
    return engine


def test_fast_and_accurate_models_load_on_their_runtimes_and_decode(tone_model):
    from swictation_rpc.testing.synthetic import expected_text, tone_audio

    engine = _tone_engine(str(tone_model(kind="tdt")), str(tone_model(kind="tdt", layout="nemo", feat_dim=128)))
    models = {m.mode: m for m in engine.status().models}
    assert models["fast"].backend == "sherpa-onnx" and models["fast"].problem is None  # no CUDA here
    assert models["accurate"].backend == "onnxruntime"  # the NeMo layout runs unconverted
    assert models["fast"].warmup_ms is not None and models["fast"].load_ms is not None
    audio = tone_audio("world hello")
    for mode in ("fast", "accurate"):
        result = engine.transcribe(audio, mode)
        assert result.text == expected_text("world hello")
        assert result.mode == mode and result.model == models[mode].name
    engine.close()


def test_a_model_that_outputs_unk_is_reported_broken_and_the_other_serves(tone_model):
    from swictation_rpc.testing.synthetic import tone_audio

    good = tone_model(kind="tdt")
    engine = _tone_engine(str(tone_model(kind="tdt", unk_only=True)), str(good))
    fast = engine.status().models[0]
    assert "<unk>" in fast.problem and "broken" in fast.problem
    result = engine.transcribe(tone_audio(TONE_TEXT), "fast")
    assert result.model == good.name and "<unk>" not in result.text
    engine.close()


@pytest.mark.parametrize(
    "case", ["missing-metadata-key", "tokens-no-blank-last", "tdt-url-rnnt-joiner", "encoder-truncated"]
)
def test_a_model_that_would_abort_sherpa_onnx_is_refused_and_the_process_lives(tmp_path, tone_model, case):
    from swictation_rpc.testing.synthetic import BROKEN_CASES, write_broken_model

    broken = write_broken_model(tmp_path, case, name=f"broken-{case}")
    engine = _tone_engine(str(broken), str(tone_model(kind="tdt")))
    fast = engine.status().models[0]
    assert fast.problem and BROKEN_CASES[case] in fast.problem, fast.problem
    assert engine.transcribe(np.zeros(16000, np.float32), "fast").model == tone_model(kind="tdt").name
    engine.close()


def test_reconfigure_reloads_only_the_model_that_changed(tone_model):
    from swictation_rpc.testing.synthetic import tone_audio

    engine = _tone_engine(str(tone_model(kind="tdt")), str(tone_model(kind="rnnt")))
    accurate_before = engine._slots["accurate"].recognizer
    options = Options()
    options.models.fast = str(tone_model(kind="tdt", feat_dim=128))
    options.models.accurate = engine.options.models.accurate
    engine.reconfigure(options)
    assert engine._slots["accurate"].recognizer is accurate_before
    assert engine.transcribe(tone_audio(TONE_TEXT), "fast").model == tone_model(kind="tdt", feat_dim=128).name
    engine.close()


def test_asking_for_cuda_without_it_falls_back_to_cpu_and_says_so(tone_model):
    from swictation_rpc.engine.gpu import cuda_available

    if cuda_available():
        pytest.skip("this machine has CUDA: the fallback cannot be provoked")
    engine = _tone_engine(str(tone_model(kind="tdt")), str(tone_model(kind="tdt")), device="cuda")
    fast = engine.status().models[0]
    assert fast.ready and "CUDA is not available" in fast.problem
    engine.close()


def test_long_audio_is_cut_into_few_chunks_at_pauses():
    from swictation_rpc.engine.vad import speech_chunks

    parts = []
    for sentence in SENTENCES * 4:
        parts += [synthesize(sentence), silence(0.8)]
    audio = np.concatenate(parts)
    chunks = speech_chunks(audio, Options().vad, max_chunk_s=25.0)
    assert all(end - start <= 25 * 16000 for start, end in chunks)
    # Twelve sentences, yet only as many chunks as 25 s windows need.
    assert len(chunks) <= int(len(audio) / 16000 / 25) + 2
    # Every chunk starts and ends at a pause: no speech is left out between chunks.
    covered = sum(end - start for start, end in chunks)
    assert covered >= 0.8 * sum(len(p) for p in parts[::2])


def test_status_names_the_model_that_really_serves_a_mode(tmp_path, tone_model):
    from swictation_rpc.testing.synthetic import tone_audio

    engine = _tone_engine(str(tone_model(kind="tdt")), str(tmp_path / "missing-accurate"))
    accurate = engine.status().models[1]
    served = engine.transcribe(tone_audio(TONE_TEXT), "accurate")
    assert accurate.name == served.model == tone_model(kind="tdt").name
    assert "serving accurate mode with" in accurate.problem
    engine.close()


def test_a_model_failing_at_runtime_is_retired_and_the_request_still_answered(tone_model):
    from swictation_rpc.testing.synthetic import expected_text, tone_audio

    engine = _tone_engine(str(tone_model(kind="tdt")), str(tone_model(kind="rnnt")))
    fast = engine._slots["fast"].recognizer

    def explode(audio, *, hotwords=None):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    fast.transcribe = explode
    result = engine.transcribe(tone_audio(TONE_TEXT), "fast")
    assert result.text == expected_text(TONE_TEXT)
    assert result.model == tone_model(kind="rnnt").name
    assert "failed while decoding" in engine.status().models[0].problem
    engine.close()


def test_a_gpu_failure_at_runtime_reloads_fast_mode_on_the_cpu(tone_model):
    from swictation_rpc.engine import gpu
    from swictation_rpc.testing.synthetic import expected_text, tone_audio

    engine = _tone_engine(str(tone_model(kind="tdt")), str(tone_model(kind="rnnt")))
    fast = engine._slots["fast"].recognizer
    fast.provider = gpu.CUDA  # stands for a model that was placed on the GPU

    def explode(audio, *, hotwords=None):
        raise RuntimeError("CUDA failure 999: unknown error")

    fast.transcribe = explode
    result = engine.transcribe(tone_audio(TONE_TEXT), "fast")
    assert result.text == expected_text(TONE_TEXT)
    assert result.model == tone_model(kind="tdt").name  # the same model, now on the CPU
    status = engine.status().models[0]
    assert status.provider != gpu.CUDA and "GPU failed at runtime" in status.problem
    engine.close()


def test_a_whisper_folder_the_user_installed_serves_its_mode(tmp_path):
    """A CTranslate2 Whisper export (a multilingual one, say) set as a mode's model folder is loaded
    with faster-whisper, named by its folder, and transcribes; the other mode keeps its model."""
    import shutil

    from swictation_rpc.engine.whisper import bundled_model_path

    folder = tmp_path / "my-whisper"
    shutil.copytree(bundled_model_path(), folder)  # a real CTranslate2 Whisper folder
    engine = HybridEngine(Options(models=ModelsOptions(fast=str(folder), accurate="bundled")))
    engine.load()
    fast = engine.status().models[0]
    assert fast.name == "my-whisper" and fast.backend == "faster-whisper" and fast.problem is None
    result = engine.transcribe(synthesize(SENTENCES[1]), "fast")
    assert result.model == "my-whisper" and word_error_rate(SENTENCES[1], result.text) <= 0.15, result.text
    engine.close()


def test_a_folder_with_no_model_says_which_files_it_wanted(tmp_path):
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "notes.txt").write_text("hello")
    engine = HybridEngine(Options(models=ModelsOptions(fast=str(tmp_path / "not-a-model"), accurate="bundled")))
    engine.load()
    problem = engine.status().models[0].problem
    assert "model.bin and config.json" in problem and "If it is a catalogue model" in problem, problem
    engine.close()

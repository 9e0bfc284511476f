"""``engine/features.py`` held to NeMo's own preprocessor, exported to ONNX and shipped in onnx-asr.

onnx-asr (test extra) packages ``nemo80.onnx`` and ``nemo128.onnx``: NeMo's
``AudioToMelSpectrogramPreprocessor`` with Parakeet's settings (``per_feature``), exported from
NeMo itself. Inputs ``waveforms [B, N]``, ``waveforms_lens [B]``; outputs ``features [B, F, T]``
(T = N // hop + 1, the last frame masked to 0) and ``features_lens`` (N // hop: NeMo's count of
valid frames). Our features must have exactly ``features_lens`` frames and match the valid part.

Measured on Piper speech (3.8, 4.8 and 8.9 s): max |Δ| 3.5e-5..4.3e-5 (80 bins), 5.3e-5..6.4e-5 (128 bins),
correlation 1 - 2e-12. Before the frame-count fix: one frame more, max |Δ| 0.008 (5 s) to 0.08 (1 s).
"""

from __future__ import annotations

import numpy as np
import pytest

from swictation_rpc.engine import features as f

onnx_asr = pytest.importorskip("onnx_asr", reason="onnx-asr (test extra) carries NeMo's exported preprocessors")

#: Tight: float32 round-off between two implementations of the same arithmetic (seen: <= 7.2e-5).
MAX_ABS_DIFF = 5e-4
MIN_CORRELATION = 0.999999

SENTENCES = (
    "Return the value of the function, then print it and run the tests again.",
    "The quick brown fox jumps over the lazy dog while the compiler checks every line of code.",
)


@pytest.fixture(scope="module")
def nemo_preprocessor():
    """``run(audio, feat_dim) -> (features [F, T_valid], features_lens)`` through NeMo's ONNX export."""
    from importlib.resources import files

    import onnxruntime as ort

    sessions = {}

    def run(audio: np.ndarray, feat_dim: int) -> tuple[np.ndarray, int]:
        if feat_dim not in sessions:
            blob = files("onnx_asr.preprocessors").joinpath("data", f"nemo{feat_dim}.onnx").read_bytes()
            sessions[feat_dim] = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
        feats, lens = sessions[feat_dim].run(
            ["features", "features_lens"],
            {"waveforms": audio[None].astype(np.float32), "waveforms_lens": np.array([audio.size], np.int64)},
        )
        n = int(lens[0])
        # Beyond features_lens NeMo masks to 0: nothing there to compare.
        assert not feats[0, :, n:].any()
        return feats[0, :, :n], n

    return run


@pytest.fixture(scope="module")
def speech_clips():
    """Real speech (Piper), one sentence each and both joined: 3 lengths, none a multiple of the hop."""
    from swictation_rpc.testing.speech import synthesize

    clips = [synthesize(s) for s in SENTENCES]
    clips.append(np.concatenate([clips[0], np.zeros(4321, np.float32), clips[1]]))
    return clips


@pytest.mark.parametrize("feat_dim", [80, 128])
def test_features_match_nemos_exported_preprocessor_on_speech(feat_dim, nemo_preprocessor, speech_clips):
    for audio in speech_clips:
        reference, n = nemo_preprocessor(audio, feat_dim)
        ours = f.log_mel(audio, feat_dim=feat_dim, normalize_type="per_feature")
        assert n == audio.size // f.HOP_LENGTH
        assert ours.shape == (feat_dim, n), f"{audio.size} samples: NeMo counts {n} frames, we made {ours.shape[1]}"
        diff = float(np.abs(ours - reference).max())
        corr = float(np.corrcoef(ours.ravel(), reference.ravel())[0, 1])
        assert diff < MAX_ABS_DIFF, f"{feat_dim} bins, {audio.size} samples: max |Δ| {diff:.2e}"
        assert corr > MIN_CORRELATION, f"{feat_dim} bins, {audio.size} samples: correlation {corr:.9f}"


@pytest.mark.parametrize("num_samples", [4000, 15999, 16000, 16001, 16159, 16160, 48_123])
def test_frame_count_is_nemos_for_any_length(num_samples, nemo_preprocessor):
    audio = (np.random.default_rng(num_samples).standard_normal(num_samples) * 0.05).astype(np.float32)
    reference, n = nemo_preprocessor(audio, 80)
    assert f.num_frames(num_samples) == n
    ours = f.log_mel(audio, feat_dim=80, normalize_type="per_feature")
    assert ours.shape[1] == n
    # Statistics over the valid frames only: an extra frame in the mean/std shifts every value.
    assert float(np.abs(ours - reference).max()) < MAX_ABS_DIFF

"""NeMo-style log-mel features (the onnxruntime path computes its own)."""

from __future__ import annotations

import numpy as np
import pytest

from swictation_rpc.engine import features as f


def test_mel_scale_is_slaney():
    assert float(f.hz_to_mel(1000.0)) == pytest.approx(15.0)
    assert float(f.hz_to_mel(500.0)) == pytest.approx(7.5)
    assert float(f.mel_to_hz(f.hz_to_mel(3456.0))) == pytest.approx(3456.0)


@pytest.mark.parametrize("n_mels", [80, 128])
def test_filterbank_has_slaney_area_normalisation(n_mels):
    fb = f.mel_filterbank(n_mels)
    assert fb.shape == (f.N_FFT // 2 + 1, n_mels)
    assert (fb >= 0).all()
    # Slaney norm: each triangle has area ~1 in Hz (height 2 / width); sum * bin width ~ 1.
    bin_hz = f.SAMPLE_RATE / f.N_FFT
    areas = fb.sum(axis=0) * bin_hz
    assert np.median(areas[n_mels // 4 :]) == pytest.approx(1.0, rel=0.05)
    edges = f.mel_band_edges(n_mels)
    assert edges[0] == 0 and edges[-1] == pytest.approx(8000)


def test_frame_count_and_shape_follow_nemo():
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    feats = f.log_mel(audio, feat_dim=80, normalize_type="NA")
    # NeMo's get_seq_len: len // hop, no + 1 (the centre-padded STFT's last frame is not counted).
    assert feats.shape == (80, 16000 // 160)
    assert feats.dtype == np.float32


def test_digital_silence_is_the_log_guard():
    feats = f.log_mel(np.zeros(8000, np.float32), feat_dim=128, normalize_type="NA")
    assert np.allclose(feats, np.log(np.float32(f.LOG_GUARD)))


def test_per_feature_normalisation_gives_zero_mean_unit_std_per_bin():
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(32000) * np.linspace(0.01, 0.5, 32000)).astype(np.float32)
    feats = f.log_mel(audio, feat_dim=80, normalize_type="per_feature")
    assert np.abs(feats.mean(axis=1)).max() < 1e-4
    assert np.allclose(feats.std(axis=1, ddof=1), 1.0, atol=1e-3)


def test_pre_emphasis_tilts_towards_high_frequencies():
    t = np.arange(16000) / 16000
    low = f.log_mel((0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), normalize_type="NA")
    high = f.log_mel((0.3 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32), normalize_type="NA")
    # Same amplitude, but 0.97 pre-emphasis attenuates 200 Hz by ~20 dB relative to 3 kHz.
    assert high[:, 50].max() - low[:, 50].max() > 2.0


def test_unknown_normalisation_is_refused():
    with pytest.raises(ValueError, match="normalize_type"):
        f.log_mel(np.zeros(1600, np.float32), normalize_type="all_features")


def test_short_audio_is_padded_with_silence():
    padded = f.pad_short(np.ones(10, np.float32))
    assert padded.size == f.MIN_SAMPLES and padded[:10].all() and not padded[10:].any()
    long = np.ones(f.MIN_SAMPLES + 5, np.float64)
    assert f.pad_short(long).dtype == np.float32 and f.pad_short(long).size == long.size

"""NeMo-style log-mel features in numpy, for the onnxruntime transducer path.

sherpa-onnx computes these itself (kaldi-native-fbank forced into NeMo's settings: Slaney mel from
0 Hz, Hann window, no DC removal, no dither); the onnxruntime path has no feature extractor, so it
uses this one. It follows NeMo's ``FilterbankFeatures`` as used by Parakeet: pre-emphasis 0.97,
25 ms Hann window (400 samples, symmetric) centred in a 512-point FFT, 10 ms hop, centre padding
with zeros, power spectrum, Slaney-normalised mel filters, ``log(x + 2**-24)`` and, when the model
says ``per_feature``, per-bin mean/std normalisation over the valid frames. No torch.

Held to NeMo's own preprocessor exported to ONNX (onnx-asr's ``nemo80.onnx``/``nemo128.onnx``) on
synthesised speech by ``tests/unit/test_nemo_features_reference.py``: the same frame count
(``len // hop``) and max |Δ| under 1e-4 after ``per_feature`` normalisation.
"""

from __future__ import annotations

import functools

import numpy as np

from swictation_rpc.audio import SAMPLE_RATE

N_FFT = 512
WIN_LENGTH = 400
HOP_LENGTH = 160
PREEMPHASIS = 0.97
LOG_GUARD = 2.0**-24
#: Added to the standard deviation by NeMo's per_feature normalisation.
NORMALIZE_EPS = 1e-5

_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    log_region = hz >= _MIN_LOG_HZ
    return np.where(log_region, _MIN_LOG_MEL + np.log(np.maximum(hz, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP, mel)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * _F_SP
    log_region = mel >= _MIN_LOG_MEL
    return np.where(log_region, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), hz)


def mel_band_edges(n_mels: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The ``n_mels + 2`` band edge frequencies (Hz); band ``i`` peaks at ``edges[i + 1]``."""
    return mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))


def mel_centers(n_mels: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Centre (peak) frequency in Hz of each mel band."""
    return mel_band_edges(n_mels, sample_rate)[1:-1]


@functools.lru_cache(maxsize=8)
def mel_filterbank(n_mels: int, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Slaney-normalised triangular filters, shape ``[n_fft // 2 + 1, n_mels]`` (float32).

    Same construction as ``librosa.filters.mel(sr, n_fft, n_mels, fmin=0, norm="slaney")``.
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_band_edges(n_mels, sample_rate)
    fdiff = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    fb = np.ascontiguousarray(weights.T.astype(np.float32))
    fb.setflags(write=False)
    return fb


@functools.lru_cache(maxsize=2)
def _window() -> np.ndarray:
    # torch.hann_window(400, periodic=False), zero-padded to the FFT size around the centre.
    pad = (N_FFT - WIN_LENGTH) // 2
    win = np.pad(np.hanning(WIN_LENGTH), (pad, N_FFT - WIN_LENGTH - pad)).astype(np.float32)
    win.setflags(write=False)
    return win


#: Shorter audio is padded with digital silence: encoders fail on (near) zero frames.
MIN_SAMPLES = SAMPLE_RATE // 4


def pad_short(audio: np.ndarray) -> np.ndarray:
    """``audio`` as contiguous float32, padded with trailing zeros to at least ``MIN_SAMPLES``."""
    x = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    if x.size < MIN_SAMPLES:
        x = np.concatenate([x, np.zeros(MIN_SAMPLES - x.size, dtype=np.float32)])
    return x


def num_frames(num_samples: int) -> int:
    """Frames NeMo counts as valid for ``num_samples``: ``num_samples // hop``.

    The centre-padded STFT makes one frame more (``// hop + 1``), but NeMo's ``get_seq_len`` is
    ``(len + 2 * (n_fft // 2) - n_fft) // hop`` with no ``+ 1``: that last frame is masked out,
    left out of the normalisation statistics and not counted in the length the encoder gets.
    """
    return num_samples // HOP_LENGTH


def log_mel(audio: np.ndarray, *, feat_dim: int = 80, normalize_type: str = "per_feature") -> np.ndarray:
    """Features ``[feat_dim, T]`` (float32) of 16 kHz mono ``audio``, as NeMo's preprocessor makes them.

    ``T`` is :func:`num_frames` (at least 1): the frames NeMo counts as valid, and the only ones
    the ``per_feature`` statistics are taken over. ``normalize_type``: ``"per_feature"``
    (Parakeet), or ``""``/``"NA"`` for none.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if x.size == 0:
        x = np.zeros(1, dtype=np.float32)
    emph = np.empty_like(x)
    emph[0] = x[0]
    emph[1:] = x[1:] - PREEMPHASIS * x[:-1]
    padded = np.pad(emph, (N_FFT // 2, N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    spectrum = np.fft.rfft(frames * _window(), n=N_FFT, axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel = power @ mel_filterbank(feat_dim)
    feats = np.log(mel + np.float32(LOG_GUARD)).T  # [F, T]
    valid = max(1, min(num_frames(x.size), feats.shape[1]))
    feats = feats[:, :valid]
    if normalize_type == "per_feature":
        feats = normalize_per_feature(feats)
    elif normalize_type not in ("", "NA", "none", None):
        raise ValueError(f"unsupported normalize_type {normalize_type!r}")
    return np.ascontiguousarray(feats, dtype=np.float32)


def normalize_per_feature(feats: np.ndarray) -> np.ndarray:
    """Each mel bin to zero mean and unit (unbiased) std over time, NeMo's ``per_feature``."""
    mean = feats.mean(axis=1, keepdims=True)
    n = feats.shape[1]
    var = ((feats - mean) ** 2).sum(axis=1, keepdims=True) / max(n - 1, 1)
    return ((feats - mean) / (np.sqrt(var) + NORMALIZE_EPS)).astype(np.float32)

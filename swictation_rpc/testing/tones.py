"""The tone alphabet: token ``i`` owns a pure tone; text to token ids to audio and back.

Token ``i`` owns tone slot ``j`` (every token but ``<unk>`` has one), at the centre of its own
group of mel bins (:func:`tone_groups`); :func:`tone_audio` plays one 300 ms tone per token with
300 ms of digital silence around each, and :func:`expected_text` is what a tone model decodes it
to. The models that decode it are built in :mod:`swictation_rpc.testing.tone_graphs` and written
by :mod:`swictation_rpc.testing.synthetic`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.engine.features import hz_to_mel, mel_centers, mel_to_hz

UNK = "<unk>"
BLANK = "<blk>"
WORD_START = "\u2581"  # SentencePiece's "▁"

#: The vocabulary (blank excluded; it is appended as the last id). ``<unk>`` has no tone.
DEFAULT_TOKENS: tuple[str, ...] = (
    UNK,
    "\u2581hello",
    "\u2581world",
    "\u2581code",
    "\u2581def",
    "\u2581return",
    "\u2581print",
    "\u2581test",
    "ing",
    "s",
    "\u2581the",
    "\u2581function",
    "\u2581value",
    "\u2581run",
    ".",
    ",",
)

#: How many tones the alphabet has room for (tokens other than ``<unk>``).
MAX_TONES = 20
_TONE_LOW_HZ = 200.0
_TONE_HIGH_HZ = 3400.0  # below 4 kHz: tones survive 8 kHz input

TONE_S = 0.3
GAP_S = 0.3
AMPLITUDE = 0.3
_FADE_S = 0.01


def tone_frequencies() -> np.ndarray:
    """Frequency (Hz) of tone slot ``j``; slots are evenly spaced on the Slaney mel scale."""
    lo, hi = hz_to_mel(_TONE_LOW_HZ), hz_to_mel(_TONE_HIGH_HZ)
    step = (hi - lo) / MAX_TONES
    return mel_to_hz(lo + (np.arange(MAX_TONES) + 0.5) * step)


def toned_tokens(tokens: Sequence[str] = DEFAULT_TOKENS) -> list[int]:
    """Ids of the tokens that own a tone, in slot order (every token but ``<unk>``)."""
    ids = [i for i, t in enumerate(tokens) if t != UNK]
    if len(ids) > MAX_TONES:
        raise ValueError(f"the tone alphabet has room for {MAX_TONES} tokens, got {len(ids)}")
    return ids


def tone_groups(feat_dim: int) -> list[list[int]]:
    """Mel bins of each tone slot: bins whose centre lies within the slot's mel interval."""
    lo, hi = hz_to_mel(_TONE_LOW_HZ), hz_to_mel(_TONE_HIGH_HZ)
    step = (hi - lo) / MAX_TONES
    centres = hz_to_mel(mel_centers(feat_dim))
    groups: list[list[int]] = []
    for j in range(MAX_TONES):
        a, b = lo + j * step, lo + (j + 1) * step
        members = [int(i) for i in np.flatnonzero((centres >= a) & (centres < b))]
        if len(members) < 2:
            raise ValueError(f"feat_dim {feat_dim} is too coarse for {MAX_TONES} tones")
        groups.append(members)
    return groups


def encode_text(text: str, tokens: Sequence[str] = DEFAULT_TOKENS) -> list[int]:
    """Token ids of ``text`` (greedy longest match of pieces, word starts marked with "▁")."""
    pieces = {t: i for i, t in enumerate(tokens) if t not in (UNK, BLANK)}
    ids: list[int] = []
    for word in text.split():
        rest = WORD_START + word
        while rest:
            for end in range(len(rest), 0, -1):
                if rest[:end] in pieces:
                    ids.append(pieces[rest[:end]])
                    rest = rest[end:]
                    break
            else:
                raise ValueError(f"cannot spell {word!r} with the tone alphabet's tokens")
    return ids


def _as_ids(what: str | Iterable[int], tokens: Sequence[str]) -> list[int]:
    return encode_text(what, tokens) if isinstance(what, str) else [int(i) for i in what]


def expected_text(what: str | Iterable[int], tokens: Sequence[str] = DEFAULT_TOKENS, *, unk_only: bool = False) -> str:
    """The text a tone model decodes ``tone_audio(what)`` to ("▁" becomes a space, then stripped)."""
    ids = _as_ids(what, tokens)
    pieces = [UNK if unk_only else tokens[i] for i in ids]
    return "".join(pieces).replace(WORD_START, " ").strip()


def tone_audio(
    what: str | Iterable[int],
    sample_rate: int = SAMPLE_RATE,
    *,
    tokens: Sequence[str] = DEFAULT_TOKENS,
    tone_s: float = TONE_S,
    gap_s: float = GAP_S,
    amplitude: float = AMPLITUDE,
    calibrate: bool = False,
) -> np.ndarray:
    """Float32 mono audio: one ``tone_s`` tone per token, ``gap_s`` of digital silence around each.

    ``what`` is text (spelled with ``encode_text``) or token ids. Tones have 10 ms raised-cosine
    ramps so their onsets do not splatter into other bands.

    ``calibrate``: for the ``per_feature`` models, start with the calibration chord (every tone
    slot at once, fixed phases, each at the lone tones' level); the whole clip is then scaled so
    that its peak is ``amplitude``. The chord decodes to nothing.
    """
    ids = _as_ids(what, tokens)
    slot_of = {tok_id: slot for slot, tok_id in enumerate(toned_tokens(tokens))}
    freqs = tone_frequencies()
    n_tone = round(tone_s * sample_rate)
    n_gap = round(gap_s * sample_rate)
    n_fade = max(1, round(_FADE_S * sample_rate))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n_fade))
    envelope = np.ones(n_tone)
    envelope[:n_fade] = ramp
    envelope[-n_fade:] = ramp[::-1]
    t = np.arange(n_tone) / sample_rate
    parts = [np.zeros(n_gap)]
    if calibrate:
        phases = np.random.default_rng(1).uniform(0.0, 2 * np.pi, freqs.size)
        chord = np.sin(2 * np.pi * freqs[:, None] * t[None, :] + phases[:, None]).sum(axis=0)
        parts += [amplitude * envelope * chord, np.zeros(n_gap)]
    for tok_id in ids:
        if tok_id not in slot_of:
            raise ValueError(f"token id {tok_id} has no tone")
        parts.append(amplitude * envelope * np.sin(2 * np.pi * freqs[slot_of[tok_id]] * t))
        parts.append(np.zeros(n_gap))
    audio = np.concatenate(parts)
    if calibrate:
        audio *= amplitude / np.abs(audio).max()
    return audio.astype(np.float32)

"""A tiny "tone alphabet" NeMo transducer that really decodes, written with ``onnx.helper``.

Why: the engine's model handling (routing, warmup, fallback, ``<unk>`` detection, the files that
abort sherpa-onnx) needs real transducer graphs in tests, and the Parakeet models are 0.5-2 GB.
These graphs are a few KB, load in sherpa-onnx (``model_type="nemo_transducer"``) and in plain
onnxruntime, and turn a WAV of pure tones into an exact, known text.

How it works: token ``i`` owns a pure tone (``tone_frequencies()``), at the centre of its own group
of mel bins. The encoder takes the loudest bin of each group, calls a frame *tonal* when that peak
stands far above the frame's mean (digital silence scores exactly 0), erodes the tonal mask by two
frames on each side (onset clicks never count), one-hot encodes the winning group, numbers the tone
segments with a cumulative sum of onsets and keeps every 8th frame (``subsampling_factor`` 8). The
decoder counts the tokens emitted so far. The joiner emits the segment's token in a tonal frame
whose segment number exceeds that count, blank otherwise; the TDT joiner adds duration logits
(durations 0..4) that always pick 1. Features are log-mel without normalisation (``NA``): NeMo's
``per_feature`` normalisation rescales every bin on its own, which makes a tone's bin and the bins
that only receive its leakage indistinguishable, so no per-frame rule could read them.

The ``per_feature`` variant (``write_tone_model(normalize_type="per_feature")``) decodes what real
NeMo exports get, so that NeMo's own preprocessor (onnx-asr's) can feed it: its encoder first maps
every bin to ``(x - min_t x) / (max_t x - min_t x)`` over the utterance, which any per-bin affine
normalisation leaves unchanged, so ``NA`` and ``per_feature`` features give the same input. That
needs each bin's maximum to come from its own tone, not from a neighbour's leakage: its audio
(``tone_audio(..., calibrate=True)``) starts with a *calibration chord* of every tone slot at once,
which sets each bin's maximum and is itself never tonal (every bin is at its maximum, so no group
stands out: contrast <= 0.32 where a lone tone gives ~0.9). Measured: every slot wins its own
tone's frames at 80 and 128 bins, with NeMo's preprocessor and with ``engine/features.py``.

Two layouts: ``sherpa`` (encoder/decoder/joiner.onnx + tokens.txt, metadata on the encoder, as the
sherpa-onnx release archives) and ``nemo`` (encoder-model.onnx + decoder_joint-model.onnx +
vocab.txt + config.json, as NeMo's ``export()`` / onnx-asr). ``config.json`` carries an extra
``normalize_type: "NA"`` key that swictation-rpc reads (onnx-asr would ignore it).

Test audio: ``tone_audio()`` gives 300 ms tones with 300 ms of digital silence around each; white
noise above ~1e-3 breaks the tonal test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.engine.features import hz_to_mel, mel_centers, mel_to_hz

Kind = Literal["tdt", "rnnt"]
Layout = Literal["sherpa", "nemo"]

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
SUBSAMPLING = 8
DURATIONS = (0, 1, 2, 3, 4)
PRED_RNN_LAYERS = 1
PRED_HIDDEN = 4
OPSET = 17
IR_VERSION = 8

TONE_S = 0.3
GAP_S = 0.3
AMPLITUDE = 0.3
_FADE_S = 0.01

# Tonal test: peak of the loudest group minus the frame's mean log-mel. Silence gives exactly 0,
# a 300 ms tone at amplitude 0.01..1 gives 15..25.
_TONAL_THRESHOLD = 6.0
# The same test after the per-bin min-max map of the per_feature variant (units of each bin's
# range): a lone tone gives ~0.9, the calibration chord at most ~0.32, silence 0.
_MINMAX_TONAL_THRESHOLD = 0.5
_MINMAX_EPS = 1e-6
_ERODE = 5  # frames; a tonal run shorter than this never counts
_TOKEN_LOGIT = 30.0
_BLANK_LOGIT = 15.0


# --------------------------------------------------------------------------------------------
# The alphabet


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


def _groups(feat_dim: int) -> list[list[int]]:
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


# --------------------------------------------------------------------------------------------
# Graphs


def _const(name: str, value: np.ndarray | float | int | Sequence[int], dtype=None) -> onnx.NodeProto:
    arr = np.asarray(value, dtype=dtype)
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(arr, name))


def _minmax_nodes() -> list[onnx.NodeProto]:
    """``audio_signal`` -> ``scaled``: each bin mapped to ``(x - min_t) / (max_t - min_t)`` over time.

    Invariant to any per-bin affine map with a positive scale, such as ``per_feature``.
    """
    return [
        _const("mm_eps", np.float32(_MINMAX_EPS)),
        helper.make_node("ReduceMax", ["audio_signal"], ["bin_max"], axes=[2], keepdims=1),  # [N,F,1]
        helper.make_node("ReduceMin", ["audio_signal"], ["bin_min"], axes=[2], keepdims=1),
        helper.make_node("Sub", ["audio_signal", "bin_min"], ["above_min"]),
        helper.make_node("Sub", ["bin_max", "bin_min"], ["bin_range"]),
        helper.make_node("Add", ["bin_range", "mm_eps"], ["bin_range_e"]),
        helper.make_node("Div", ["above_min", "bin_range_e"], ["scaled"]),
    ]


def _encoder_graph(
    feat_dim: int, num_tones: int, *, output_names: tuple[str, str], normalize_type: str = "NA"
) -> onnx.GraphProto:
    groups = _groups(feat_dim)[:num_tones]
    width = max(len(g) for g in groups)
    # Pad short groups by repeating a member (Gather accepts repeated indices).
    index = np.array([g[i] if i < len(g) else g[-1] for g in groups for i in range(width)], np.int64)
    out, out_len = output_names
    minmax = normalize_type == "per_feature"
    threshold = _MINMAX_TONAL_THRESHOLD if minmax else _TONAL_THRESHOLD
    nodes = [
        *(_minmax_nodes() if minmax else []),
        _const("idx", index),
        _const("gshape", [0, 0, num_tones, width], np.int64),
        _const("thr", np.float32(threshold)),
        _const("one", np.float32(1.0)),
        _const("pads", [0, 1, 0, 0, 0, 0], np.int64),
        _const("s0", [0], np.int64),
        _const("sm1", [-1], np.int64),
        _const("ax1", [1], np.int64),
        _const("ax1s", np.int64(1)),
        _const("big", [2**62], np.int64),
        _const("sub", [SUBSAMPLING], np.int64),
        _const("sub_m1", np.int64(SUBSAMPLING - 1)),
        _const("sub_s", np.int64(SUBSAMPLING)),
        helper.make_node("Transpose", ["scaled" if minmax else "audio_signal"], ["x"], perm=[0, 2, 1]),  # [N,T,F]
        helper.make_node("Gather", ["x", "idx"], ["sel"], axis=2),
        helper.make_node("Reshape", ["sel", "gshape"], ["sel4"]),
        helper.make_node("ReduceMax", ["sel4"], ["g"], axes=[3], keepdims=0),  # [N,T,K]
        helper.make_node("ReduceMax", ["g"], ["peak"], axes=[2], keepdims=1),  # [N,T,1]
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[2], keepdims=1),
        helper.make_node("Sub", ["peak", "mean"], ["contrast"]),
        helper.make_node("Greater", ["contrast", "thr"], ["tonal_b"]),
        helper.make_node("Cast", ["tonal_b"], ["tonal_raw"], to=TensorProto.FLOAT),
        # Erosion: tonal only where the whole 5-frame neighbourhood is tonal.
        helper.make_node("Sub", ["one", "tonal_raw"], ["quiet"]),
        helper.make_node("Transpose", ["quiet"], ["quiet_t"], perm=[0, 2, 1]),  # [N,1,T]
        helper.make_node(
            "MaxPool", ["quiet_t"], ["quiet_d"], kernel_shape=[_ERODE], pads=[_ERODE // 2] * 2, strides=[1]
        ),
        helper.make_node("Transpose", ["quiet_d"], ["quiet_n"], perm=[0, 2, 1]),
        helper.make_node("Sub", ["one", "quiet_n"], ["tonal"]),  # [N,T,1]
        helper.make_node("Equal", ["g", "peak"], ["win_b"]),
        helper.make_node("Cast", ["win_b"], ["win"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["win", "tonal"], ["onehot"]),  # [N,T,K]
        # Segment number: cumulative count of onsets (tonal now, not tonal one frame earlier).
        helper.make_node("Pad", ["tonal", "pads"], ["tonal_p"]),
        helper.make_node("Slice", ["tonal_p", "s0", "sm1", "ax1"], ["prev"]),
        helper.make_node("Sub", ["one", "prev"], ["not_prev"]),
        helper.make_node("Mul", ["tonal", "not_prev"], ["onset"]),
        helper.make_node("CumSum", ["onset", "ax1s"], ["seg"]),
        helper.make_node("Concat", ["onehot", "seg", "tonal"], ["feat"], axis=2),  # [N,T,K+2]
        helper.make_node("Slice", ["feat", "s0", "big", "ax1", "sub"], ["kept"]),
        helper.make_node("Transpose", ["kept"], [out], perm=[0, 2, 1]),  # [N,K+2,T']
        helper.make_node("Add", ["length", "sub_m1"], ["len_p"]),
        helper.make_node("Div", ["len_p", "sub_s"], [out_len]),
    ]
    d = num_tones + 2
    return helper.make_graph(
        nodes,
        "tone_encoder",
        [
            helper.make_tensor_value_info("audio_signal", TensorProto.FLOAT, ["N", feat_dim, "T"]),
            helper.make_tensor_value_info("length", TensorProto.INT64, ["N"]),
        ],
        [
            helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", d, "T_out"]),
            helper.make_tensor_value_info(out_len, TensorProto.INT64, ["N"]),
        ],
    )


def _decoder_nodes(blank: int, prefix: str = "") -> list[onnx.NodeProto]:
    """Counter: outputs/next state = tokens consumed so far (blank does not count)."""
    p = prefix
    return [
        _const(p + "blank", np.int32(blank)),
        _const(p + "zero_i", np.int64(0)),
        _const(p + "c0", [0], np.int64),
        _const(p + "c1", [1], np.int64),
        _const(p + "fz", np.float32(0.0)),
        _const(p + "ax2", [2], np.int64),
        helper.make_node("Equal", ["targets", p + "blank"], [p + "is_blank"]),
        helper.make_node("Not", [p + "is_blank"], [p + "non_blank_b"]),
        helper.make_node("Cast", [p + "non_blank_b"], [p + "non_blank"], to=TensorProto.FLOAT),  # [N,1]
        helper.make_node("Gather", [STATES_IN[0], p + "zero_i"], [p + "s0"], axis=0),  # [N,H]
        helper.make_node("Slice", [p + "s0", p + "c0", p + "c1", p + "c1"], [p + "count_in"]),  # [N,1]
        helper.make_node("Add", [p + "count_in", p + "non_blank"], [p + "count"]),
        helper.make_node("Mul", [p + "s0", p + "fz"], [p + "zeros_nh"]),
        helper.make_node("Add", [p + "zeros_nh", p + "count"], [p + "count_nh"]),  # [N,H]
        helper.make_node("Unsqueeze", [p + "count_nh", p + "ax2"], [p + "dec_out"]),  # [N,H,1]
        helper.make_node("Mul", [STATES_IN[0], p + "fz"], [p + "zeros_lnh"]),
        helper.make_node("Add", [p + "zeros_lnh", p + "count_nh"], [STATES_OUT[0]]),
        helper.make_node("Identity", [STATES_IN[1]], [STATES_OUT[1]]),
        helper.make_node("Identity", ["target_length"], [LENGTHS_OUT]),
    ]


STATES_IN = ("input_states_1", "input_states_2")
STATES_OUT = ("output_states_1", "output_states_2")
LENGTHS_OUT = "prednet_lengths"


def _decoder_inputs() -> list[onnx.ValueInfoProto]:
    return [
        helper.make_tensor_value_info("targets", TensorProto.INT32, ["N", 1]),
        helper.make_tensor_value_info("target_length", TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info(STATES_IN[0], TensorProto.FLOAT, [PRED_RNN_LAYERS, "N", PRED_HIDDEN]),
        helper.make_tensor_value_info(STATES_IN[1], TensorProto.FLOAT, [PRED_RNN_LAYERS, "N", PRED_HIDDEN]),
    ]


def _decoder_state_outputs() -> list[onnx.ValueInfoProto]:
    return [
        helper.make_tensor_value_info(LENGTHS_OUT, TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info(STATES_OUT[0], TensorProto.FLOAT, [PRED_RNN_LAYERS, "N", PRED_HIDDEN]),
        helper.make_tensor_value_info(STATES_OUT[1], TensorProto.FLOAT, [PRED_RNN_LAYERS, "N", PRED_HIDDEN]),
    ]


def _joiner_nodes(
    token_map: np.ndarray, kind: Kind, enc: str, dec: str, out: str, prefix: str = ""
) -> list[onnx.NodeProto]:
    """Logits ``[N,1,1,V_out]``: the segment's token while its count is due, blank otherwise."""
    p = prefix
    k = token_map.shape[0]
    nodes = [
        _const(p + "w", (token_map * _TOKEN_LOGIT).astype(np.float32)),
        _const(p + "one", np.float32(1.0)),
        _const(p + "half", np.float32(0.5)),
        _const(p + "blank_logit", np.float32(_BLANK_LOGIT)),
        _const(p + "fz", np.float32(0.0)),
        _const(p + "a2", [2], np.int64),
        _const(p + "a1", [1], np.int64),
        _const(p + "i0", [0], np.int64),
        _const(p + "ik", [k], np.int64),
        _const(p + "ik1", [k + 1], np.int64),
        _const(p + "ik2", [k + 2], np.int64),
        _const(p + "i1", [1], np.int64),
        helper.make_node("Transpose", [enc], [p + "e"], perm=[0, 2, 1]),  # [N,1,D]
        helper.make_node("Transpose", [dec], [p + "d"], perm=[0, 2, 1]),  # [N,1,P]
        helper.make_node("Slice", [p + "e", p + "i0", p + "ik", p + "a2"], [p + "onehot"]),
        helper.make_node("Slice", [p + "e", p + "ik", p + "ik1", p + "a2"], [p + "seg"]),
        helper.make_node("Slice", [p + "e", p + "ik1", p + "ik2", p + "a2"], [p + "tonal"]),
        helper.make_node("Slice", [p + "d", p + "i0", p + "i1", p + "a2"], [p + "count"]),
        helper.make_node("Sub", [p + "seg", p + "count"], [p + "due"]),
        helper.make_node("Greater", [p + "due", p + "half"], [p + "due_b"]),
        helper.make_node("Cast", [p + "due_b"], [p + "due_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [p + "due_f", p + "tonal"], [p + "need"]),  # [N,1,1]
        helper.make_node("Mul", [p + "onehot", p + "need"], [p + "emit"]),
        helper.make_node("MatMul", [p + "emit", p + "w"], [p + "tok"]),  # [N,1,V]
        helper.make_node("Sub", [p + "one", p + "need"], [p + "idle"]),
        helper.make_node("Mul", [p + "idle", p + "blank_logit"], [p + "blank"]),  # [N,1,1]
    ]
    parts = [p + "tok", p + "blank"]
    if kind == "tdt":
        dur = np.zeros((1, 1, len(DURATIONS)), np.float32)
        dur[..., DURATIONS.index(1)] = _TOKEN_LOGIT
        nodes += [
            _const(p + "dur_c", dur),
            helper.make_node("Mul", [p + "need", p + "fz"], [p + "z"]),
            helper.make_node("Add", [p + "z", p + "dur_c"], [p + "dur"]),  # [N,1,5]
        ]
        parts.append(p + "dur")
    nodes += [
        helper.make_node("Concat", parts, [p + "logits"], axis=2),
        helper.make_node("Unsqueeze", [p + "logits", p + "a1"], [out]),  # [N,1,1,V_out]
    ]
    return nodes


def _token_map(tokens: Sequence[str], unk_only: bool) -> np.ndarray:
    """``[K, V]``: tone slot ``j`` votes for its token (or for ``<unk>`` in the broken variant)."""
    toned = toned_tokens(tokens)
    m = np.zeros((len(toned), len(tokens)), np.float32)
    for slot, tok_id in enumerate(toned):
        m[slot, tokens.index(UNK) if unk_only else tok_id] = 1.0
    return m


def _out_width(vocab: int, kind: Kind) -> int:
    return vocab + 1 + (len(DURATIONS) if kind == "tdt" else 0)


def _model(graph: onnx.GraphProto, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION, producer_name="swictation-rpc"
    )
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def _save(model: onnx.ModelProto, path: Path, *, external_data: bool = False) -> None:
    """Write ``model``; with ``external_data`` its tensors go to ``<name>.data`` as large exports do."""
    if not external_data:
        path.write_bytes(model.SerializeToString())
        return
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    constants = [n for n in graph.node if n.op_type == "Constant"]
    for node in constants:
        tensor = onnx.TensorProto()
        tensor.CopyFrom(node.attribute[0].t)
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        graph.node.remove(node)
    data = path.with_name(path.name + ".data")
    data.unlink(missing_ok=True)
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data.name,
        size_threshold=128,
    )


# --------------------------------------------------------------------------------------------
# Model folders


def write_tone_model(
    dest: Path,
    *,
    kind: Kind = "tdt",
    feat_dim: int = 80,
    layout: Layout = "sherpa",
    tokens: Sequence[str] = DEFAULT_TOKENS,
    name: str | None = None,
    unk_only: bool = False,
    external_data: bool = False,
    normalize_type: Literal["NA", "per_feature"] = "NA",
) -> Path:
    """Write a tone-alphabet model folder and return it (``dest / name``, or ``dest`` itself).

    ``unk_only``: every tone decodes to ``<unk>`` (the symptom of the broken 0.6B-v2 fp16 export).
    ``normalize_type="per_feature"``: the model asks for NeMo's normalisation like real Parakeet
    exports (the nemo layout's config.json then has no ``normalize_type`` key, as NeMo writes it)
    and decodes ``tone_audio(..., calibrate=True)``, fed by any NeMo preprocessor.
    ``external_data``: the encoder keeps its tensors in ``<encoder>.onnx.data``, like the fp32
    Parakeet encoders (over protobuf's 2 GB limit) do.
    """
    tokens = list(tokens)
    if unk_only and UNK not in tokens:
        tokens = [UNK, *tokens]
    if BLANK in tokens:
        raise ValueError("tokens must not contain <blk>: it is appended as the last id")
    if normalize_type not in ("NA", "per_feature"):
        raise ValueError(f"normalize_type must be 'NA' or 'per_feature', got {normalize_type!r}")
    folder = Path(dest) / name if name else Path(dest)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = len(tokens)
    blank = vocab
    num_tones = len(toned_tokens(tokens))
    token_map = _token_map(tokens, unk_only)
    v_out = _out_width(vocab, kind)
    d = num_tones + 2

    if layout == "sherpa":
        url = (
            "https://example.invalid/swictation-rpc/synthetic-tone-tdt"
            if kind == "tdt"
            else "https://example.invalid/swictation-rpc/synthetic-tone-rnnt"
        )
        metadata = {
            "vocab_size": str(vocab),
            "subsampling_factor": str(SUBSAMPLING),
            "pred_rnn_layers": str(PRED_RNN_LAYERS),
            "pred_hidden": str(PRED_HIDDEN),
            "normalize_type": normalize_type,
            "feat_dim": str(feat_dim),
            "url": url,
            "model_type": "EncDecRNNTBPEModel",
            "comment": "swictation-rpc synthetic tone-alphabet model",
        }
        enc = _encoder_graph(
            feat_dim, num_tones, output_names=("outputs", "encoded_lengths"), normalize_type=normalize_type
        )
        _save(_model(enc, metadata), folder / "encoder.onnx", external_data=external_data)
        dec = helper.make_graph(
            _decoder_nodes(blank),
            "tone_decoder",
            _decoder_inputs(),
            [
                helper.make_tensor_value_info("dec_out", TensorProto.FLOAT, ["N", PRED_HIDDEN, 1]),
                *_decoder_state_outputs(),
            ],
        )
        _save(_model(dec), folder / "decoder.onnx")
        join = helper.make_graph(
            _joiner_nodes(token_map, kind, "encoder_outputs", "decoder_outputs", "outputs"),
            "tone_joiner",
            [
                helper.make_tensor_value_info("encoder_outputs", TensorProto.FLOAT, ["N", d, 1]),
                helper.make_tensor_value_info("decoder_outputs", TensorProto.FLOAT, ["N", PRED_HIDDEN, 1]),
            ],
            [helper.make_tensor_value_info("outputs", TensorProto.FLOAT, ["N", 1, 1, v_out])],
        )
        _save(_model(join), folder / "joiner.onnx")
        lines = [f"{t} {i}" for i, t in enumerate(tokens)] + [f"{BLANK} {blank}"]
        (folder / "tokens.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif layout == "nemo":
        enc = _encoder_graph(
            feat_dim, num_tones, output_names=("outputs", "encoded_lengths"), normalize_type=normalize_type
        )
        _save(_model(enc), folder / "encoder-model.onnx", external_data=external_data)
        nodes = _decoder_nodes(blank, prefix="dec_") + _joiner_nodes(
            token_map, kind, "encoder_outputs", "dec_dec_out", "outputs", prefix="join_"
        )
        dj = helper.make_graph(
            nodes,
            "tone_decoder_joint",
            [helper.make_tensor_value_info("encoder_outputs", TensorProto.FLOAT, ["N", d, 1]), *_decoder_inputs()],
            [
                helper.make_tensor_value_info("outputs", TensorProto.FLOAT, ["N", 1, 1, v_out]),
                *_decoder_state_outputs(),
            ],
        )
        _save(_model(dj), folder / "decoder_joint-model.onnx")
        lines = [f"{t} {i}" for i, t in enumerate(tokens)] + [f"{BLANK} {blank}"]
        (folder / "vocab.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        config = {
            "model_type": "nemo-conformer-tdt" if kind == "tdt" else "nemo-conformer-rnnt",
            "features_size": feat_dim,
            "subsampling_factor": SUBSAMPLING,
            "max_tokens_per_step": 10,
        }
        if normalize_type != "per_feature":
            config["normalize_type"] = normalize_type
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    else:
        raise ValueError(f"unknown layout {layout!r}")
    return folder


# --------------------------------------------------------------------------------------------
# Broken variants: each one aborts sherpa-onnx (or makes it raise) if handed over unchecked.

#: Broken case -> the file whose name the validation error must contain.
BROKEN_CASES: dict[str, str] = {
    "missing-metadata-key": "encoder.onnx",
    "tokens-no-blank-last": "tokens.txt",
    "tokens-wrong-count": "tokens.txt",
    "tokens-missing": "tokens.txt",
    "tdt-url-rnnt-joiner": "joiner.onnx",
    "vocab-joiner-mismatch": "joiner.onnx",
    "encoder-empty": "encoder.onnx",
    "encoder-truncated": "encoder.onnx",
    "encoder-not-onnx": "encoder.onnx",
    "decoder-missing": "decoder.onnx",
    "decoder-is-decoder-joint": "decoder.onnx",
    "nemo-encoder-in-sherpa-layout": "encoder.onnx",
}


def _set_metadata(path: Path, update: dict[str, str | None]) -> None:
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    for k, v in update.items():
        if v is None:
            props.pop(k, None)
        else:
            props[k] = v
    del model.metadata_props[:]
    helper.set_model_props(model, props)
    _save(model, path)


def set_joiner_width(folder: Path, width: int | str) -> None:
    """Declare another last dim on ``joiner.onnx``'s output (an int, or a name for a dynamic dim).

    onnxruntime re-infers the real width, so sherpa-onnx still runs such a joiner; the validation
    must not be stricter than that (see the tests).
    """
    path = folder / "joiner.onnx"
    model = onnx.load(str(path))
    dim = model.graph.output[0].type.tensor_type.shape.dim[-1]
    if isinstance(width, int):
        dim.dim_value = width
    else:
        dim.dim_param = width
    _save(model, path)


def write_broken_model(
    dest: Path, case: str, *, kind: Kind = "tdt", feat_dim: int = 80, name: str | None = None
) -> Path:
    """A sherpa-layout tone model broken the way ``case`` (a ``BROKEN_CASES`` key) says."""
    if case not in BROKEN_CASES:
        raise ValueError(f"unknown broken case {case!r}; one of {sorted(BROKEN_CASES)}")
    if case == "tdt-url-rnnt-joiner":
        folder = write_tone_model(dest, kind="rnnt", feat_dim=feat_dim, name=name)
        _set_metadata(folder / "encoder.onnx", {"url": "https://example.invalid/parakeet-tdt-broken"})
        return folder
    folder = write_tone_model(dest, kind=kind, feat_dim=feat_dim, name=name)
    enc, tokens_txt = folder / "encoder.onnx", folder / "tokens.txt"
    if case == "missing-metadata-key":
        _set_metadata(enc, {"pred_hidden": None})
    elif case == "tokens-no-blank-last":
        # <blk> first, as some other exporters write it.
        symbols = [ln.rsplit(maxsplit=1)[0] for ln in tokens_txt.read_text(encoding="utf-8").splitlines()]
        symbols = [symbols[-1], *symbols[:-1]]
        tokens_txt.write_text("".join(f"{t} {i}\n" for i, t in enumerate(symbols)), encoding="utf-8")
    elif case == "tokens-wrong-count":
        # One token more than the encoder's vocab_size, <blk> still last.
        symbols = [ln.rsplit(maxsplit=1)[0] for ln in tokens_txt.read_text(encoding="utf-8").splitlines()]
        symbols.insert(-1, "\u2581extra")
        tokens_txt.write_text("".join(f"{t} {i}\n" for i, t in enumerate(symbols)), encoding="utf-8")
    elif case == "tokens-missing":
        tokens_txt.unlink()
    elif case == "vocab-joiner-mismatch":
        # The joiner of a model with another vocabulary: 2 tokens more (RNN-T), or so many fewer
        # that no duration outputs remain beyond vocab + 1 (TDT).
        other = [*list(DEFAULT_TOKENS), "▁extra", "▁more"] if kind == "rnnt" else list(DEFAULT_TOKENS[:10])
        donor = write_tone_model(folder / "_donor", kind=kind, feat_dim=feat_dim, tokens=other)
        shutil.copyfile(donor / "joiner.onnx", folder / "joiner.onnx")
        shutil.rmtree(donor)
    elif case == "encoder-empty":
        enc.write_bytes(b"")
    elif case == "encoder-truncated":
        data = enc.read_bytes()
        enc.write_bytes(data[: len(data) // 2])
    elif case == "encoder-not-onnx":
        enc.write_text("<html><body>404 Not Found</body></html>\n", encoding="utf-8")
    elif case == "decoder-missing":
        (folder / "decoder.onnx").unlink()
    elif case in ("decoder-is-decoder-joint", "nemo-encoder-in-sherpa-layout"):
        nemo = write_tone_model(folder / "_nemo", kind=kind, feat_dim=feat_dim, layout="nemo")
        if case == "decoder-is-decoder-joint":
            shutil.copyfile(nemo / "decoder_joint-model.onnx", folder / "decoder.onnx")
        else:
            shutil.copyfile(nemo / "encoder-model.onnx", enc)
        shutil.rmtree(nemo)
    return folder

"""The tone models' ONNX graphs (encoder, decoder, joiner), built with ``onnx.helper``.

The encoder finds each frame's loudest tone group, keeps the frames where it stands far above
the frame's mean (eroded, so onset clicks never count), numbers the tone segments and subsamples
by 8; the decoder counts the tokens emitted so far; the joiner emits the segment's token when the
segment number exceeds that count, blank otherwise (the TDT joiner adds durations that pick 1).
The ``per_feature`` encoder first maps every bin to its min-max range over the utterance. The
full reasoning is in :mod:`swictation_rpc.testing.synthetic`'s docstring, which writes the folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from swictation_rpc.testing.tones import UNK, tone_groups, toned_tokens

Kind = Literal["tdt", "rnnt"]

SUBSAMPLING = 8
DURATIONS = (0, 1, 2, 3, 4)
PRED_RNN_LAYERS = 1
PRED_HIDDEN = 4
OPSET = 17
IR_VERSION = 8

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


def _const(
    name: str, value: np.ndarray | float | int | Sequence[int], dtype: npt.DTypeLike | None = None
) -> onnx.NodeProto:
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


def encoder_graph(
    feat_dim: int, num_tones: int, *, output_names: tuple[str, str], normalize_type: str = "NA"
) -> onnx.GraphProto:
    groups = tone_groups(feat_dim)[:num_tones]
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


def decoder_nodes(blank: int, prefix: str = "") -> list[onnx.NodeProto]:
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


def decoder_inputs() -> list[onnx.ValueInfoProto]:
    return [
        helper.make_tensor_value_info("targets", TensorProto.INT32, ["N", 1]),
        helper.make_tensor_value_info("target_length", TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info(STATES_IN[0], TensorProto.FLOAT, [PRED_RNN_LAYERS, "N", PRED_HIDDEN]),
        helper.make_tensor_value_info(STATES_IN[1], TensorProto.FLOAT, [PRED_RNN_LAYERS, "N", PRED_HIDDEN]),
    ]


def decoder_state_outputs() -> list[onnx.ValueInfoProto]:
    return [
        helper.make_tensor_value_info(LENGTHS_OUT, TensorProto.INT32, ["N"]),
        helper.make_tensor_value_info(STATES_OUT[0], TensorProto.FLOAT, [PRED_RNN_LAYERS, "N", PRED_HIDDEN]),
        helper.make_tensor_value_info(STATES_OUT[1], TensorProto.FLOAT, [PRED_RNN_LAYERS, "N", PRED_HIDDEN]),
    ]


def joiner_nodes(
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


def slot_token_map(tokens: Sequence[str], unk_only: bool) -> np.ndarray:
    """``[K, V]``: tone slot ``j`` votes for its token (or for ``<unk>`` in the broken variant)."""
    toned = toned_tokens(tokens)
    m = np.zeros((len(toned), len(tokens)), np.float32)
    for slot, tok_id in enumerate(toned):
        m[slot, tokens.index(UNK) if unk_only else tok_id] = 1.0
    return m


def out_width(vocab: int, kind: Kind) -> int:
    return vocab + 1 + (len(DURATIONS) if kind == "tdt" else 0)


def checked_model(graph: onnx.GraphProto, metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION, producer_name="swictation-rpc"
    )
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def save(model: onnx.ModelProto, path: Path, *, external_data: bool = False) -> None:
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

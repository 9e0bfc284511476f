"""NeMo transducers (TDT and RNN-T) on plain onnxruntime: the GPU path, and the NeMo-layout path.

The PyPI sherpa-onnx wheel is CPU-only; onnxruntime-gpu's CUDA execution provider is the
pip-installable way to run Parakeet on a GPU. This module does what sherpa-onnx does for a NeMo
transducer, over onnxruntime ``InferenceSession``\\ s: NeMo log-mel features
(:mod:`swictation_rpc.engine.features`), the encoder, then greedy decoding with sherpa-onnx's
rules (``offline-transducer-greedy-search-nemo-decoder.cc``):

- RNN-T: at most 10 symbols per encoder frame, a blank moves to the next frame.
- TDT: token = argmax over the first ``vocab + 1`` logits, duration = argmax over the rest (the
  index is the number of frames to skip; 0 stays on the frame); a blank with duration 0 moves
  one frame; at most 5 tokens on one frame.

Both layouts run here: ``sherpa`` (decoder.onnx and joiner.onnx, decoder re-run only after a
token) and ``nemo`` (decoder_joint-model.onnx: one call per step; its states are kept only when a
token is emitted, as onnx-asr does). Per-step inputs are preallocated arrays; the encoder output
is laid out once so that each frame is a contiguous ``[1, D, 1]`` block.

``provider`` is the execution provider the encoder session actually got
(``session.get_providers()[0]``), so a CUDA request that fell back to the CPU says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from swictation_rpc.engine import features
from swictation_rpc.errors import ModelBrokenError
from swictation_rpc.models.layout import ModelFiles

logger = logging.getLogger(__name__)

WORD_START = "\u2581"
MAX_SYMBOLS_PER_FRAME_RNNT = 10
MAX_TOKENS_PER_FRAME_TDT = 5
_CPU = "CPUExecutionProvider"


class _NodeArg(Protocol):
    """An input or output of an onnxruntime session (``onnxruntime.NodeArg``)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def shape(self) -> Sequence[int | str | None]: ...


class _Session(Protocol):
    """What this module calls on an ``onnxruntime.InferenceSession``."""

    def get_providers(self) -> list[str]: ...
    def get_inputs(self) -> list[_NodeArg]: ...
    def get_outputs(self) -> list[_NodeArg]: ...
    def run(self, output_names: list[str] | None, input_feed: dict[str, np.ndarray], /) -> list[np.ndarray]: ...


def _live(session: _Session | None, name: str) -> _Session:
    """``session``, or an error for a recognizer used after :meth:`OnnxruntimeTransducer.close`."""
    if session is None:
        raise RuntimeError(f"Model {name} was closed")
    return session


def _session(path: Path | None, providers: list[str], num_threads: int) -> _Session:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    available = ort.get_available_providers()
    usable = [p for p in providers if p in available] or [_CPU]
    if usable != list(providers):
        logger.info("onnxruntime providers %s not all available (have %s); using %s", providers, available, usable)
    return ort.InferenceSession(str(path), sess_options=opts, providers=usable)


def _float_type(onnx_type: str) -> type[np.float16] | type[np.float32]:
    return np.float16 if "float16" in onnx_type else np.float32


def tokens_to_text(pieces: list[str]) -> str:
    """SentencePiece pieces to text: "▁" starts a word; ``<unk>`` stays visible (broken-model check)."""
    return "".join(pieces).replace(WORD_START, " ").strip()


class OnnxruntimeTransducer:
    """Greedy TDT / RNN-T decoding of a NeMo transducer over onnxruntime sessions."""

    backend = "onnxruntime"

    def __init__(self, files: ModelFiles, *, name: str, providers: list[str], num_threads: int):
        self.files = files
        self.name = name
        self._encoder: _Session | None
        self._decoder: _Session | None
        self._joiner: _Session | None
        self._decoder_joint: _Session | None
        try:
            encoder = self._encoder = _session(files.encoder, providers, num_threads)
            if files.layout == "nemo":
                decoder_joint = self._decoder_joint = _session(files.decoder_joint, providers, num_threads)
                self._decoder = self._joiner = None
            else:
                decoder = self._decoder = _session(files.decoder, providers, num_threads)
                joiner = self._joiner = _session(files.joiner, providers, num_threads)
                self._decoder_joint = None
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelBrokenError(
                f"Model {name}: onnxruntime could not load {files.folder}: {exc}",
                remedy=f"Re-download it with `swictation-rpc models download {name}`.",
                model=name,
                file=str(files.encoder),
            ) from exc
        self.provider = encoder.get_providers()[0]
        enc_in = encoder.get_inputs()
        self._enc_feat_name = enc_in[0].name
        self._enc_len_name = enc_in[1].name
        self._enc_len_dtype: type[np.int32] | type[np.int64] = np.int32 if "int32" in enc_in[1].type else np.int64
        # fp16 exports may take float16 tensors: feed each input the type it declares.
        self._feat_dtype = _float_type(enc_in[0].type)
        self._blank = files.blank_id
        self._vocab_out = files.vocab_size + 1
        self._tdt = files.kind == "tdt"
        self._pieces = files.tokens
        # Preallocated per-step inputs.
        self._target = np.zeros((1, 1), dtype=np.int32)
        self._target_len = np.ones(1, dtype=np.int32)
        if files.layout == "nemo":
            ins = {i.name: i for i in decoder_joint.get_inputs()}
            self._state_shapes = [self._state_shape(ins[n].shape) for n in ("input_states_1", "input_states_2")]
            self._state_dtype = _float_type(ins["input_states_1"].type)
            self._frame_dtype = _float_type(ins["encoder_outputs"].type)
            self._dj_out = ["outputs", "output_states_1", "output_states_2"]
        else:
            dec_in = decoder.get_inputs()
            self._dec_names = [i.name for i in dec_in]
            self._state_shapes = [self._state_shape(dec_in[k].shape) for k in (2, 3)]
            self._state_dtype = _float_type(dec_in[2].type)
            self._dec_out = [o.name for o in decoder.get_outputs()]
            join_in = joiner.get_inputs()
            self._join_names = [i.name for i in join_in]
            self._join_out = [joiner.get_outputs()[0].name]
            self._frame_dtype = _float_type(join_in[0].type)

    def _state_shape(self, shape: Sequence[int | str | None]) -> tuple[int, int, int]:
        layers = shape[0] if isinstance(shape[0], int) else self.files.pred_rnn_layers
        hidden = shape[2] if isinstance(shape[2], int) else self.files.pred_hidden
        return (layers, 1, hidden)

    @classmethod
    def from_files(
        cls,
        files: ModelFiles,
        *,
        name: str,
        providers: list[str] | None = None,
        num_threads: int = 2,
    ) -> OnnxruntimeTransducer:
        """Load a validated model folder of either layout (``providers`` default: CPU only)."""
        return cls(files, name=name, providers=list(providers or [_CPU]), num_threads=num_threads)

    # -- decoding ------------------------------------------------------------------------------

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Encoder frames ``[T', 1, D, 1]`` (each frame ready to feed the joint) for 16 kHz audio."""
        feats = features.log_mel(
            features.pad_short(audio), feat_dim=self.files.feat_dim, normalize_type=self.files.normalize_type
        )
        enc_out, enc_len = _live(self._encoder, self.name).run(
            None,
            {
                self._enc_feat_name: feats[None].astype(self._feat_dtype, copy=False),
                self._enc_len_name: np.array([feats.shape[1]], dtype=self._enc_len_dtype),
            },
        )[:2]
        n = int(np.asarray(enc_len).reshape(-1)[0])
        enc = enc_out[0, :, :n]  # [D, T']
        return np.ascontiguousarray(enc.T[:, None, :, None], dtype=self._frame_dtype)

    def token_ids(self, audio: np.ndarray) -> list[int]:
        return [token for token, _frame in self.timed_token_ids(audio)]

    def timed_token_ids(self, audio: np.ndarray) -> list[tuple[int, int]]:
        """``(token id, encoder frame it was emitted on)`` pairs: the frame is what onnx-asr and
        sherpa-onnx report as a timestamp (``frame * subsampling_factor * 10 ms``)."""
        frames = self.encode(audio)
        if self._decoder_joint is not None:
            return self._greedy_decoder_joint(frames)
        return self._greedy_split(frames)

    def transcribe(self, audio: np.ndarray, *, hotwords: list[str] | None = None) -> str:
        """Text of 16 kHz mono float32 ``audio``. ``hotwords`` are ignored (greedy decoding only)."""
        ids = self.token_ids(audio)
        return tokens_to_text([self._pieces[i] for i in ids])

    def _pick(self, logits: np.ndarray) -> tuple[int, int]:
        """(token, frames to skip) from one joint output; skip is -1 for RNN-T."""
        flat = logits.reshape(-1)
        if self._tdt:
            return int(flat[: self._vocab_out].argmax()), int(flat[self._vocab_out :].argmax())
        return int(flat.argmax()), -1

    def _advance(self, token: int, skip: int, emitted: int) -> tuple[int, int]:
        """sherpa-onnx's frame rules: returns (frames to move, tokens emitted on this frame)."""
        if self._tdt:
            if skip > 0:
                return skip, 0
            if token == self._blank or emitted >= MAX_TOKENS_PER_FRAME_TDT:
                return 1, 0
            return 0, emitted
        if token == self._blank or emitted >= MAX_SYMBOLS_PER_FRAME_RNNT:
            return 1, 0
        return 0, emitted

    def _greedy_split(self, frames: np.ndarray) -> list[tuple[int, int]]:
        dec, join = _live(self._decoder, self.name), _live(self._joiner, self.name)
        d_tgt, d_len, d_s1, d_s2 = self._dec_names
        j_enc, j_dec = self._join_names
        states = [np.zeros(s, dtype=self._state_dtype) for s in self._state_shapes]
        self._target[0, 0] = self._blank
        dec_out, _, s1, s2 = dec.run(
            self._dec_out, {d_tgt: self._target, d_len: self._target_len, d_s1: states[0], d_s2: states[1]}
        )
        ids: list[tuple[int, int]] = []
        t, emitted, n = 0, 0, frames.shape[0]
        while t < n:
            (logits,) = join.run(self._join_out, {j_enc: frames[t], j_dec: dec_out})
            token, skip = self._pick(logits)
            if token != self._blank:
                ids.append((token, t))
                emitted += 1
                self._target[0, 0] = token
                dec_out, _, s1, s2 = dec.run(
                    self._dec_out, {d_tgt: self._target, d_len: self._target_len, d_s1: s1, d_s2: s2}
                )
            step, emitted = self._advance(token, skip, emitted)
            t += step
        return ids

    def _greedy_decoder_joint(self, frames: np.ndarray) -> list[tuple[int, int]]:
        dj = _live(self._decoder_joint, self.name)
        s1, s2 = (np.zeros(s, dtype=self._state_dtype) for s in self._state_shapes)
        last = self._blank
        ids: list[tuple[int, int]] = []
        t, emitted, n = 0, 0, frames.shape[0]
        while t < n:
            self._target[0, 0] = last
            logits, n1, n2 = dj.run(
                self._dj_out,
                {
                    "encoder_outputs": frames[t],
                    "targets": self._target,
                    "target_length": self._target_len,
                    "input_states_1": s1,
                    "input_states_2": s2,
                },
            )
            token, skip = self._pick(logits)
            if token != self._blank:
                ids.append((token, t))
                emitted += 1
                last, s1, s2 = token, n1, n2
            step, emitted = self._advance(token, skip, emitted)
            t += step
        return ids

    def close(self) -> None:
        self._encoder = self._decoder = self._joiner = self._decoder_joint = None

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

This module writes the model folders (and their broken variants); the alphabet and its audio live
in :mod:`.tones`, the ONNX graphs in :mod:`.tone_graphs`, and both are re-exported here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import onnx
from onnx import TensorProto, helper

from swictation_rpc.testing.tone_graphs import (
    DURATIONS,
    IR_VERSION,
    OPSET,
    PRED_HIDDEN,
    PRED_RNN_LAYERS,
    SUBSAMPLING,
    Kind,
    checked_model,
    decoder_inputs,
    decoder_nodes,
    decoder_state_outputs,
    encoder_graph,
    joiner_nodes,
    out_width,
    save,
    slot_token_map,
)
from swictation_rpc.testing.tones import (
    AMPLITUDE,
    BLANK,
    DEFAULT_TOKENS,
    GAP_S,
    MAX_TONES,
    TONE_S,
    UNK,
    WORD_START,
    encode_text,
    expected_text,
    tone_audio,
    tone_frequencies,
    toned_tokens,
)

#: The alphabet, its audio and the graph constants are re-exported: tests and benchmarks import
#: everything about the tone models from here.
__all__ = [
    "AMPLITUDE",
    "BLANK",
    "BROKEN_CASES",
    "DEFAULT_TOKENS",
    "DURATIONS",
    "GAP_S",
    "IR_VERSION",
    "MAX_TONES",
    "OPSET",
    "PRED_HIDDEN",
    "PRED_RNN_LAYERS",
    "SUBSAMPLING",
    "TONE_S",
    "UNK",
    "WORD_START",
    "Kind",
    "Layout",
    "encode_text",
    "expected_text",
    "set_joiner_width",
    "tone_audio",
    "tone_frequencies",
    "toned_tokens",
    "write_broken_model",
    "write_tone_model",
]

Layout = Literal["sherpa", "nemo"]


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
    token_map = slot_token_map(tokens, unk_only)
    v_out = out_width(vocab, kind)
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
        enc = encoder_graph(
            feat_dim, num_tones, output_names=("outputs", "encoded_lengths"), normalize_type=normalize_type
        )
        save(checked_model(enc, metadata), folder / "encoder.onnx", external_data=external_data)
        dec = helper.make_graph(
            decoder_nodes(blank),
            "tone_decoder",
            decoder_inputs(),
            [
                helper.make_tensor_value_info("dec_out", TensorProto.FLOAT, ["N", PRED_HIDDEN, 1]),
                *decoder_state_outputs(),
            ],
        )
        save(checked_model(dec), folder / "decoder.onnx")
        join = helper.make_graph(
            joiner_nodes(token_map, kind, "encoder_outputs", "decoder_outputs", "outputs"),
            "tone_joiner",
            [
                helper.make_tensor_value_info("encoder_outputs", TensorProto.FLOAT, ["N", d, 1]),
                helper.make_tensor_value_info("decoder_outputs", TensorProto.FLOAT, ["N", PRED_HIDDEN, 1]),
            ],
            [helper.make_tensor_value_info("outputs", TensorProto.FLOAT, ["N", 1, 1, v_out])],
        )
        save(checked_model(join), folder / "joiner.onnx")
        lines = [f"{t} {i}" for i, t in enumerate(tokens)] + [f"{BLANK} {blank}"]
        (folder / "tokens.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif layout == "nemo":
        enc = encoder_graph(
            feat_dim, num_tones, output_names=("outputs", "encoded_lengths"), normalize_type=normalize_type
        )
        save(checked_model(enc), folder / "encoder-model.onnx", external_data=external_data)
        nodes = decoder_nodes(blank, prefix="dec_") + joiner_nodes(
            token_map, kind, "encoder_outputs", "dec_dec_out", "outputs", prefix="join_"
        )
        dj = helper.make_graph(
            nodes,
            "tone_decoder_joint",
            [helper.make_tensor_value_info("encoder_outputs", TensorProto.FLOAT, ["N", d, 1]), *decoder_inputs()],
            [
                helper.make_tensor_value_info("outputs", TensorProto.FLOAT, ["N", 1, 1, v_out]),
                *decoder_state_outputs(),
            ],
        )
        save(checked_model(dj), folder / "decoder_joint-model.onnx")
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
    save(model, path)


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
    save(model, path)


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

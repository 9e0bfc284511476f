"""Model folder validation: everything that would make sherpa-onnx abort is caught here, in Python.

sherpa-onnx ends the whole process (C++ ``_Exit(-1)``, no Python exception) on a missing metadata
key, a tokens.txt without ``<blk>`` last or of the wrong length, or a joiner whose width does not
fit the vocabulary. The engine must survive any model folder, so ``inspect_model_dir`` reads the
files first and raises a typed error that names the file and the fix.

ONNX files are read without loading weights (:mod:`swictation_rpc.models.onnx_summary`), which
also proves each file is ONNX and not truncated.

Two layouts are recognised:

- ``sherpa``: ``encoder[.P].onnx``, ``decoder[.P].onnx``, ``joiner[.P].onnx``, ``tokens.txt``
  (``P`` = ``int8``/``fp16``/...), metadata on the encoder; the sherpa-onnx release archives.
- ``nemo``: ``encoder-model[.P].onnx``, ``decoder_joint-model[.P].onnx``, ``vocab.txt`` and an
  optional ``config.json`` (``features_size``, ``subsampling_factor``, ``model_type``); NeMo's own
  ``export()`` as onnx-asr reads it. sherpa-onnx cannot read it: the engine runs it through
  :mod:`swictation_rpc.engine.onnxruntime_tdt`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

import attrs
import onnx

from swictation_rpc.errors import ModelBrokenError, ModelNotInstalledError
from swictation_rpc.models.files import read_regular
from swictation_rpc.models.onnx_summary import (
    OnnxReadError,
    OnnxSummary,
    dims,
    elem_type,
    output_width,
    read_onnx_summary,
)
from swictation_rpc.models.tokens import BLANK, TokenFileError, check_tokens

#: What the engine and the store use (``BLANK`` lives in :mod:`.tokens`, imported here for them).
__all__ = ["BLANK", "KindName", "LayoutName", "ModelFiles", "inspect_model_dir"]

LayoutName = Literal["sherpa", "nemo"]
KindName = Literal["tdt", "rnnt"]

SHERPA_REQUIRED_METADATA = ("vocab_size", "subsampling_factor", "pred_rnn_layers", "pred_hidden")
NORMALIZE_TYPES = ("", "NA", "per_feature")
#: Precision suffixes, in order of preference when a folder holds several.
PRECISIONS = ("", "int8", "fp16")
#: config.json is small; a larger one is not a model's.
MAX_CONFIG_BYTES = 1 << 20


@attrs.frozen
class ModelFiles:
    """A validated model folder: what the backends need to load it without further checks."""

    folder: Path
    layout: LayoutName
    kind: KindName
    feat_dim: int
    normalize_type: str
    """``"per_feature"`` or ``""``/``"NA"`` (none)."""
    subsampling_factor: int
    vocab_size: int
    """Without the blank; the blank id equals ``vocab_size``."""
    tokens: tuple[str, ...]
    """Index = token id, ``<blk>`` last."""
    encoder: Path
    tokens_file: Path
    """tokens.txt (sherpa) or vocab.txt (nemo)."""
    decoder: Path | None = None
    joiner: Path | None = None
    decoder_joint: Path | None = None
    config_file: Path | None = None
    joiner_width: int = 0
    """Last dim of the joint output: vocab + 1, plus the number of durations for TDT."""
    pred_rnn_layers: int = 1
    pred_hidden: int = 0
    metadata: dict[str, str] = attrs.field(factory=dict)

    @property
    def blank_id(self) -> int:
        return self.vocab_size

    @property
    def num_durations(self) -> int:
        return self.joiner_width - self.vocab_size - 1 if self.kind == "tdt" else 0

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def paths(self) -> dict[str, Path]:
        """Every file the model is made of, by role."""
        roles = {
            "encoder": self.encoder,
            "decoder": self.decoder,
            "joiner": self.joiner,
            "decoder_joint": self.decoder_joint,
            "tokens": self.tokens_file,
            "config": self.config_file,
        }
        return {k: v for k, v in roles.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# Errors


def _remedy(folder: Path) -> str:
    return (
        f"If it is a catalogue model (`swictation-rpc models list`), re-download it with "
        f"`swictation-rpc models download {folder.name} --force`; otherwise re-import the original archive "
        "(`swictation-rpc models import PATH`) or point the setting at a folder that holds a model."
    )


def is_whisper_dir(path: str | Path) -> bool:
    """A CTranslate2 Whisper export, as faster-whisper loads it (``model.bin`` + ``config.json``):
    a multilingual Whisper the user installed, served instead of a transducer."""
    folder = Path(path).expanduser()
    return (folder / "model.bin").is_file() and (folder / "config.json").is_file()


def _broken(path: Path, problem: str, *, folder: Path, remedy: str | None = None) -> ModelBrokenError:
    return ModelBrokenError(
        f"Model {folder.name}: {path.name} {problem} ({path})",
        remedy=remedy or _remedy(folder),
        model=folder.name,
        file=str(path),
    )


def _summary(path: Path, folder: Path) -> OnnxSummary:
    if not path.is_file():
        raise _broken(path, "is missing", folder=folder)
    try:
        summary = read_onnx_summary(path)
    except OnnxReadError as exc:
        raise _broken(path, exc.problem, folder=folder) from None
    except OSError as exc:
        raise _broken(path, f"cannot be read ({exc.strerror or exc})", folder=folder) from None
    ends: dict[str, int] = {}
    for location, offset, length in summary.external_data:
        data = path.parent / location
        if location and location not in ends:
            if not data.is_file():
                raise _broken(data, f"is missing (it holds {path.name}'s weights)", folder=folder)
            ends[location] = data.stat().st_size
        if length is not None and location and offset + length > ends[location]:
            raise _broken(
                path.parent / location,
                f"is truncated ({ends[location]} bytes, {path.name} needs {offset + length})",
                folder=folder,
            )
    return summary


# ---------------------------------------------------------------------------------------------
# Token files (read and checked in tokens.py)


def _check_tokens(path: Path, folder: Path, vocab_size: int | None) -> tuple[str, ...]:
    """The symbols of tokens.txt / vocab.txt, checked (see :func:`~.tokens.check_tokens`)."""
    try:
        return check_tokens(path, vocab_size)
    except TokenFileError as exc:
        raise _broken(path, exc.problem, folder=folder) from None


# ---------------------------------------------------------------------------------------------
# Layout detection


def _find(folder: Path, stem: str, precision: str | None) -> Path | None:
    """``stem.onnx`` or ``stem.<precision>.onnx``, the preferred precision first."""
    order = [precision] if precision is not None else list(PRECISIONS)
    for p in order:
        candidate = folder / (f"{stem}.{p}.onnx" if p else f"{stem}.onnx")
        if candidate.is_file():
            return candidate
    if precision is None:
        others = sorted(folder.glob(f"{stem}.*.onnx"))
        if others:
            return others[0]
    return None


def _precision_of(path: Path, stem: str) -> str:
    middle = path.name[len(stem) : -len(".onnx")]
    return middle.lstrip(".")


def _detect(folder: Path) -> LayoutName | None:
    names = {p.name for p in folder.iterdir()}
    sherpa = any(re.fullmatch(r"(encoder|decoder|joiner)(\.[\w-]+)?\.onnx", n) for n in names) or (
        "tokens.txt" in names
    )
    nemo = any(re.fullmatch(r"(encoder-model|decoder_joint-model)(\.[\w-]+)?\.onnx", n) for n in names) or (
        "vocab.txt" in names
    )
    if sherpa and nemo:
        # A complete sherpa set wins; otherwise the one with its encoder.
        if _find(folder, "encoder", None) and "tokens.txt" in names:
            return "sherpa"
        return "nemo" if _find(folder, "encoder-model", None) else "sherpa"
    return "sherpa" if sherpa else "nemo" if nemo else None


def inspect_model_dir(path: str | Path, *, precision: str | None = None) -> ModelFiles:
    """Validate a model folder and describe it; raise before any runtime sees a bad file.

    Raises ``ModelNotInstalledError`` when the folder does not exist, ``ModelBrokenError`` (the
    message names the file, the remedy says how to get a good copy) for anything that is there
    but unusable. ``precision`` picks ``int8``/``fp16``/``""`` when a folder holds several.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelNotInstalledError(
            f"Model folder {folder} does not exist",
            remedy=f"Download it with `swictation-rpc models download {folder.name}` "
            "or point the setting at an existing model folder.",
            model=folder.name,
            file=str(folder),
        )
    layout = _detect(folder)
    if layout is None:
        raise ModelBrokenError(
            f"Model {folder.name}: {folder} holds no model files (expected encoder.onnx, decoder.onnx, "
            "joiner.onnx and tokens.txt, or encoder-model.onnx, decoder_joint-model.onnx and vocab.txt, "
            "or a CTranslate2 Whisper export: model.bin and config.json)",
            remedy=_remedy(folder),
            model=folder.name,
            file=str(folder),
        )
    if layout == "sherpa":
        return _inspect_sherpa(folder, precision)
    return _inspect_nemo(folder, precision)


def _int_meta(meta: dict[str, str], key: str, path: Path, folder: Path) -> int:
    try:
        return int(meta[key])
    except ValueError:
        raise _broken(path, f"metadata {key}={meta[key]!r} is not an integer", folder=folder) from None


def _inspect_sherpa(folder: Path, precision: str | None) -> ModelFiles:
    encoder = _find(folder, "encoder", precision)
    if encoder is None:
        raise _broken(folder / "encoder.onnx", "is missing", folder=folder)
    # Decoder and joiner in the encoder's precision when present (archives ship matching sets).
    prec = _precision_of(encoder, "encoder")
    decoder = _find(folder, "decoder", prec) or _find(folder, "decoder", None) or folder / "decoder.onnx"
    joiner = _find(folder, "joiner", prec) or _find(folder, "joiner", None) or folder / "joiner.onnx"
    tokens_file = folder / "tokens.txt"
    for f in (encoder, decoder, joiner, tokens_file):
        if not f.is_file():
            raise _broken(f, "is missing", folder=folder)

    enc = _summary(encoder, folder)
    meta = enc.metadata
    missing = [k for k in SHERPA_REQUIRED_METADATA if k not in meta]
    if missing:
        if not meta or (folder / "vocab.txt").exists():
            raise _broken(
                encoder,
                "has none of the metadata sherpa-onnx needs "
                f"({', '.join(SHERPA_REQUIRED_METADATA)}): it looks like a NeMo/onnx-asr export "
                "(encoder-model.onnx), not a sherpa-onnx one",
                folder=folder,
                remedy="Keep a NeMo export in its own layout (encoder-model.onnx, decoder_joint-model.onnx, "
                "vocab.txt, config.json), which swictation-rpc runs through onnxruntime; for the sherpa-onnx "
                f"files run `swictation-rpc models download {folder.name}`.",
            )
        raise _broken(encoder, f"lacks the metadata key(s) {', '.join(missing)}", folder=folder)
    vocab_size = _int_meta(meta, "vocab_size", encoder, folder)
    subsampling = _int_meta(meta, "subsampling_factor", encoder, folder)
    layers = _int_meta(meta, "pred_rnn_layers", encoder, folder)
    hidden = _int_meta(meta, "pred_hidden", encoder, folder)
    feat_dim = _int_meta(meta, "feat_dim", encoder, folder) if "feat_dim" in meta else 80
    normalize_type = meta.get("normalize_type", "")
    if normalize_type not in NORMALIZE_TYPES:
        raise _broken(encoder, f"has an unsupported normalize_type {normalize_type!r}", folder=folder)
    if vocab_size <= 0 or subsampling <= 0 or layers <= 0 or hidden <= 0 or feat_dim <= 0:
        raise _broken(encoder, "has non-positive sizes in its metadata", folder=folder)
    kind: KindName = "tdt" if "tdt" in meta.get("url", "") else "rnnt"
    if len(enc.inputs) < 2 or len(enc.outputs) < 2:
        raise _broken(encoder, "does not have the encoder's inputs/outputs (features, length)", folder=folder)
    _check_feature_dim(enc, feat_dim, encoder, folder)

    tokens = _check_tokens(tokens_file, folder, vocab_size)

    dec = _summary(decoder, folder)
    if "encoder_outputs" in dec.input_names() or len(dec.inputs) != 4:
        raise _broken(
            decoder,
            "is not a NeMo transducer decoder (4 inputs: targets, target_length and two states)"
            + (": it is a NeMo decoder_joint-model.onnx" if "encoder_outputs" in dec.input_names() else ""),
            folder=folder,
        )
    if elem_type(dec.inputs[0]) not in (0, onnx.TensorProto.INT32):
        raise _broken(decoder, "takes targets that are not int32", folder=folder)
    if len(dec.outputs) < 3:
        raise _broken(decoder, "does not return the next decoder states", folder=folder)

    join = _summary(joiner, folder)
    if len(join.inputs) != 2 or not join.outputs:
        raise _broken(joiner, "is not a transducer joiner (2 inputs: encoder and decoder outputs)", folder=folder)
    width = _joiner_width(join, joiner, folder)
    _check_width(kind, width, vocab_size, joiner, folder, tdt_source="the encoder's url metadata names a TDT model")
    return ModelFiles(
        folder=folder,
        layout="sherpa",
        kind=kind,
        feat_dim=feat_dim,
        normalize_type=normalize_type,
        subsampling_factor=subsampling,
        vocab_size=vocab_size,
        tokens=tokens,
        encoder=encoder,
        tokens_file=tokens_file,
        decoder=decoder,
        joiner=joiner,
        joiner_width=width,
        pred_rnn_layers=layers,
        pred_hidden=hidden,
        metadata=dict(meta),
    )


def _check_feature_dim(enc: OnnxSummary, feat_dim: int, path: Path, folder: Path) -> None:
    shape = dims(enc.inputs[0])
    if len(shape) == 3 and isinstance(shape[1], int) and shape[1] != feat_dim:
        raise _broken(path, f"takes {shape[1]} feature bins but its metadata/config says {feat_dim}", folder=folder)


def _joiner_width(summary: OnnxSummary, path: Path, folder: Path) -> int:
    """Last dim of the joint's logits: declared, or inferred from the graph as onnxruntime does."""
    width = output_width(summary, path)
    if width is None:
        raise _broken(path, "has no fixed vocabulary size on its output (last dim)", folder=folder)
    return width


def _check_width(kind: KindName, width: int, vocab: int, path: Path, folder: Path, *, tdt_source: str) -> None:
    if kind == "rnnt" and width != vocab + 1:
        raise _broken(
            path,
            f"outputs {width} logits but the vocabulary has {vocab} tokens + blank = {vocab + 1}",
            folder=folder,
        )
    if kind == "tdt" and width <= vocab + 1:
        raise _broken(
            path,
            f"has no TDT duration outputs ({width} logits for {vocab} tokens + blank) although {tdt_source}",
            folder=folder,
        )


def _inspect_nemo(folder: Path, precision: str | None) -> ModelFiles:
    encoder = _find(folder, "encoder-model", precision)
    if encoder is None:
        raise _broken(folder / "encoder-model.onnx", "is missing", folder=folder)
    prec = _precision_of(encoder, "encoder-model")
    decoder_joint = (
        _find(folder, "decoder_joint-model", prec)
        or _find(folder, "decoder_joint-model", None)
        or folder / "decoder_joint-model.onnx"
    )
    vocab_file = folder / "vocab.txt"
    config_file = folder / "config.json"
    for f in (encoder, decoder_joint, vocab_file):
        if not f.is_file():
            raise _broken(f, "is missing", folder=folder)
    config: dict = {}
    if config_file.is_file():
        try:
            config = json.loads(read_regular(config_file, MAX_CONFIG_BYTES).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _broken(config_file, f"is not valid JSON ({exc})", folder=folder) from None
        except OSError as exc:
            raise _broken(config_file, f"cannot be read ({exc})", folder=folder) from None
        if not isinstance(config, dict):
            raise _broken(config_file, "is not a JSON object", folder=folder)

    def cfg_int(key: str, default: int) -> int:
        value = config.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise _broken(config_file, f"has {key}={value!r}, expected a positive integer", folder=folder)
        return value

    feat_dim = cfg_int("features_size", 80)
    subsampling = cfg_int("subsampling_factor", 8)
    # Real NeMo exports always want per_feature; the synthetic test models say "NA" here.
    normalize_type = str(config.get("normalize_type", "per_feature"))
    if normalize_type not in NORMALIZE_TYPES:
        raise _broken(config_file, f"has an unsupported normalize_type {normalize_type!r}", folder=folder)

    tokens = _check_tokens(vocab_file, folder, None)
    vocab_size = len(tokens) - 1

    enc = _summary(encoder, folder)
    if len(enc.inputs) < 2 or len(enc.outputs) < 2:
        raise _broken(encoder, "does not have the encoder's inputs/outputs (features, length)", folder=folder)
    _check_feature_dim(enc, feat_dim, encoder, folder)

    dj = _summary(decoder_joint, folder)
    needed = {"encoder_outputs", "targets", "target_length", "input_states_1", "input_states_2"}
    missing = sorted(needed - set(dj.input_names()))
    if missing:
        raise _broken(decoder_joint, f"lacks the decoder_joint input(s) {', '.join(missing)}", folder=folder)
    if not {"outputs", "output_states_1", "output_states_2"} <= set(dj.output_names()):
        raise _broken(decoder_joint, "lacks the outputs, output_states_1/2 outputs", folder=folder)
    outputs = next(o for o in dj.outputs if o.name == "outputs")
    width = _joiner_width(attrs.evolve(dj, outputs=(outputs,)), decoder_joint, folder)
    model_type = str(config.get("model_type", ""))
    if "tdt" in model_type:
        kind: KindName = "tdt"
    elif "rnnt" in model_type or "transducer" in model_type:
        kind = "rnnt"
    else:
        kind = "tdt" if width > vocab_size + 1 else "rnnt"
    _check_width(kind, width, vocab_size, decoder_joint, folder, tdt_source=f"config.json says {model_type!r}")
    state = next(i for i in dj.inputs if i.name == "input_states_1")
    sdims = dims(state)
    layers = sdims[0] if len(sdims) == 3 and isinstance(sdims[0], int) else 1
    hidden = sdims[2] if len(sdims) == 3 and isinstance(sdims[2], int) else 0
    return ModelFiles(
        folder=folder,
        layout="nemo",
        kind=kind,
        feat_dim=feat_dim,
        normalize_type=normalize_type,
        subsampling_factor=subsampling,
        vocab_size=vocab_size,
        tokens=tokens,
        encoder=encoder,
        tokens_file=vocab_file,
        decoder_joint=decoder_joint,
        config_file=config_file if config_file.is_file() else None,
        joiner_width=width,
        pred_rnn_layers=layers,
        pred_hidden=hidden,
        metadata={str(k): str(v) for k, v in config.items()},
    )

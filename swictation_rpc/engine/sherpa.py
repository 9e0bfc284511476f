"""NeMo transducers (Parakeet TDT / RNN-T) on sherpa-onnx: the CPU backend.

Only the sherpa-onnx layout (encoder/decoder/joiner + tokens.txt, metadata on the encoder) can be
loaded here; the engine routes NeMo/onnx-asr-layout folders to
:class:`swictation_rpc.engine.onnxruntime_tdt.OnnxruntimeTransducer` instead. Always build from a
:class:`~swictation_rpc.models.layout.ModelFiles` that ``inspect_model_dir`` returned: sherpa-onnx
aborts the process (no exception) on the malformed files that inspection rejects.

Hotwords: with ``decoding_method="modified_beam_search"``, ``transcribe(audio, hotwords=[...])``
biases recognition through sherpa-onnx's per-stream hotwords (context graph). Words are turned
into model tokens with sherpa-onnx's SentencePiece-compatible encoder, fed a ``bpe.vocab`` derived
from tokens.txt (piece ``i`` scored ``-i``, the usual order of a BPE vocabulary) unless the folder
ships its own. With greedy search hotwords are ignored (sherpa-onnx supports them only in beam
search) and an info line says so, once per model. The engine does not switch to beam search by
itself when hotwords arrive: the decoding method is fixed when sherpa-onnx builds the recognizer,
so switching per request would mean a second recognizer (twice the memory), and beam search for
every request costs every request; ``engine.decodingMethod`` is the user's choice.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from swictation_rpc.audio import SAMPLE_RATE
from swictation_rpc.engine.base import Hints, Recognized, WordTiming
from swictation_rpc.engine.features import pad_short
from swictation_rpc.errors import ModelBrokenError
from swictation_rpc.models.layout import BLANK, ModelFiles

logger = logging.getLogger(__name__)

DECODING_METHODS = ("greedy_search", "modified_beam_search")


class SherpaTransducer:
    """A loaded sherpa-onnx ``OfflineRecognizer`` for one NeMo transducer model."""

    backend = "sherpa-onnx"

    def __init__(
        self,
        recognizer: Any,
        files: ModelFiles,
        *,
        name: str,
        provider: str,
        decoding_method: str,
        scratch: Path | None = None,
    ):
        self._recognizer = recognizer
        self.files = files
        self.name = name
        # The PyPI wheel is CPU-only: sherpa-onnx falls back to the CPU for any other provider.
        self.provider = provider
        self.decoding_method = decoding_method
        self._scratch = scratch
        self._warned_hotwords = False

    @classmethod
    def from_files(
        cls,
        files: ModelFiles,
        *,
        name: str,
        num_threads: int = 2,
        decoding_method: str = "greedy_search",
        provider: str = "cpu",
        hotwords_score: float = 1.5,
        max_active_paths: int = 4,
    ) -> SherpaTransducer:
        """Load a validated sherpa-layout model. Raises ``ModelBrokenError`` if sherpa-onnx refuses it."""
        if files.layout != "sherpa":
            raise ValueError(
                f"{files.folder} is in the {files.layout} layout, which sherpa-onnx cannot read; "
                "use OnnxruntimeTransducer for it"
            )
        if decoding_method not in DECODING_METHODS:
            raise ValueError(f"decoding_method must be one of {DECODING_METHODS}, got {decoding_method!r}")
        import sherpa_onnx

        extra: dict[str, object] = {}
        scratch: Path | None = None
        if decoding_method == "modified_beam_search":
            bpe_vocab = files.folder / "bpe.vocab"
            if not bpe_vocab.is_file():
                scratch = Path(tempfile.mkdtemp(prefix="swictation-sherpa-"))
                bpe_vocab = scratch / "bpe.vocab"
                write_bpe_vocab(files.tokens, bpe_vocab)
            extra = {
                "modeling_unit": "bpe",
                "bpe_vocab": str(bpe_vocab),
                "hotwords_score": hotwords_score,
                "max_active_paths": max_active_paths,
            }
        if files.decoder is None or files.joiner is None:
            raise ValueError(f"{files.folder}: a sherpa-layout ModelFiles without decoder/joiner")
        try:
            recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(
                encoder=str(files.encoder),
                decoder=str(files.decoder),
                joiner=str(files.joiner),
                tokens=str(files.tokens_file),
                num_threads=num_threads,
                sample_rate=SAMPLE_RATE,
                feature_dim=files.feat_dim,
                decoding_method=decoding_method,
                provider=provider,
                model_type="nemo_transducer",  # the default, "transducer", aborts on NeMo models
                **extra,
            )
        except (RuntimeError, ValueError) as exc:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise ModelBrokenError(
                f"Model {name}: sherpa-onnx could not load {files.folder}: {exc}",
                remedy=f"Re-download it with `swictation-rpc models download {name}`.",
                model=name,
                file=str(files.encoder),
            ) from exc
        return cls(recognizer, files, name=name, provider=provider, decoding_method=decoding_method, scratch=scratch)

    def transcribe(self, audio: np.ndarray, *, hotwords: list[str] | None = None) -> str:
        """Text of 16 kHz mono float32 ``audio``."""
        return self._decode(audio, hotwords).result.text.strip()

    def recognize(self, audio: np.ndarray, hints: Hints) -> Recognized:
        """Text and word timings (from sherpa-onnx's token timestamps) of ``audio``.

        The buffer's identifiers and the command phrases in effect are both hotwords (beam search
        only); the prompt is for Whisper. Parakeet does not say which language it heard.
        """
        stream = self._decode(audio, [*hints.hotwords, *hints.commands])
        result = stream.result
        return Recognized(result.text.strip(), token_words(result))

    def _decode(self, audio: np.ndarray, hotwords: list[str] | None) -> Any:
        samples = pad_short(audio)
        phrases = hotword_lines(hotwords or [])
        if phrases and self.decoding_method == "modified_beam_search":
            try:
                stream = self._recognizer.create_stream("/".join(phrases))
            except (ValueError, RuntimeError) as exc:  # sherpa-onnx refused the list: decode without it
                logger.warning("%s: hotwords %r not usable (%s); decoding without them", self.name, phrases, exc)
                stream = self._recognizer.create_stream()
        else:
            if hotwords and not self._warned_hotwords:
                # Said once per model: biasing needs beam search, which is an explicit choice
                # (a second recognizer per model would double its memory; beam search for every
                # request slows every request). Identifiers are still spelled exactly.
                logger.info(
                    "%s: the editor's identifiers do not bias recognition with %s; set "
                    "swictation.engine.decodingMethod to modified_beam_search for that "
                    "(they are still spelled exactly)",
                    self.name,
                    self.decoding_method,
                )
                self._warned_hotwords = True
            stream = self._recognizer.create_stream()
        stream.accept_waveform(SAMPLE_RATE, samples)
        try:
            self._recognizer.decode_stream(stream)
        except RuntimeError as exc:
            raise ModelBrokenError(
                f"Model {self.name}: sherpa-onnx failed to decode: {exc}",
                remedy=f"Re-download it with `swictation-rpc models download {self.name}`.",
                model=self.name,
            ) from exc
        return stream

    def close(self) -> None:
        self._recognizer = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def token_words(result: Any) -> list[WordTiming] | None:
    """Words from a sherpa-onnx result's tokens and their start times (``None`` without them).

    A token starting with SentencePiece's ``▁`` starts a word; a word ends where the next one
    starts, or one token-frame after its last token for the last word.
    """
    tokens = list(getattr(result, "tokens", []) or [])
    starts = list(getattr(result, "timestamps", []) or [])
    if not tokens or len(tokens) != len(starts):
        return None
    words: list[tuple[str, float, float]] = []
    for token, start in zip(tokens, starts, strict=True):
        piece = token.replace("\u2581", " ")
        if piece.startswith(" ") or not words:
            words.append((piece.strip(), float(start), float(start) + 0.08))
        else:
            text, first, _ = words[-1]
            words[-1] = (text + piece, first, float(start) + 0.08)
    return [WordTiming(text, start, end) for text, start, end in words if text]


def hotword_lines(hotwords: list[str]) -> list[str]:
    """Hotword phrases as sherpa-onnx lines: one phrase each, ``/`` and newlines (its separators)
    and ``:score`` / ``#`` syntax words removed, empty phrases dropped."""
    lines = []
    for phrase in hotwords:
        words = [w for w in phrase.replace("/", " ").split() if not w.startswith((":", "#"))]
        if words:
            lines.append(" ".join(words))
    return lines


def write_bpe_vocab(tokens: tuple[str, ...] | list[str], path: Path) -> Path:
    """A SentencePiece ``.vocab`` (``piece<TAB>score``) for sherpa-onnx's hotword encoder."""
    lines = [f"{t}\t{-i}" for i, t in enumerate(tokens) if t != BLANK]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

"""``python -m benchmarks.whisper_window``: what a Whisper decode of a dictation's tail costs, and
what the ways to make it cheaper cost in words.

faster-whisper pads every segment to Whisper's 30 s window, so the bundled tiny.en spends about
the same on a 1 s tail as on 29 s of speech. Variants, decoded side by side on the same clips
(interleaved per clip), the way the server decodes a dictation (the recognition hints of the
cursor's context: the command prompt in code, the prose prompt in comments; the loop guards on):

- ``seek after last word``: word timings with faster-whisper's own seeking, which decodes what
  follows the last word in a second window (what the engine did before);
- ``one window``: word timings, the audio's one window only (what the engine does);
- ``no word timings``: the same window without the alignment pass;
- ``audio+N s``: the encoder fed the audio plus N s of padding instead of 30 s (measured, not
  adopted: see the README).

Clips: Piper (joe) saying the vocabulary and spoken-command sentences and the long-speech
sentences, and **held out** from all tuning: espeak-ng (another synthesiser, another voice)
saying sentences written for this benchmark only. Reported per variant: mean and corpus WER over
the spoken words, how many transcripts differ from the full window's, how often the short
window's guard fell back to the full window, and decode time p50 / p95.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import asdict, define

from swictation_rpc.protocol import TextContext

Log = Callable[[str], None]

#: Margins of padding after the audio for the short-window variants, in seconds.
MARGINS: tuple[float, ...] = (2.0, 1.0)
BEFORE = "seek after last word"

#: Sentences no part of swictation-rpc was tuned on, said by espeak-ng.
HELD_OUT: tuple[str, ...] = (
    "Move the retry logic into its own helper before the next release.",
    "The cache keeps the last hundred responses for five minutes.",
    "Please rename the variable to something the reader can understand.",
    "We should log a warning when the queue grows past its limit.",
    "Add a comment that explains why the timeout is so long.",
    "The parser fails on empty lines at the end of the file.",
    "Check whether the user is allowed to delete the project.",
    "Split this function in two so each part does one thing.",
    "The build is green again after the dependency update.",
    "Store the token in memory and never write it to disk.",
    "Send an email to the team when the nightly job fails.",
    "This loop runs once for every row in the table.",
    "Return early when the list is empty.",
    "The button should stay disabled until the form is valid.",
    "Measure the latency before and after the change.",
    "Write the result to a temporary file and rename it.",
    "Skip the test on machines without a graphics card.",
    "Keep the old behaviour behind a flag for one more month.",
    "The server restarts by itself when the config changes.",
    "Ask the reviewer to look at the error handling again.",
)


@define
class Utterance:
    name: str
    said: str
    audio: np.ndarray
    context: TextContext


@define
class Decode:
    clip: str
    variant: str
    text: str
    wer: float
    ms: float
    redecodes: int
    """How often the loop guards decoded it again (without the prompt, or in halves)."""


@define
class Summary:
    variant: str
    clips: int
    mean_wer: float
    corpus_wer: float
    differs_from_before: int
    redecodes: int
    p50_ms: float
    p95_ms: float


def espeak(text: str, cache: Path | None) -> np.ndarray:
    """``text`` said by espeak-ng's en-us voice, as 16 kHz mono float32."""
    import hashlib

    import soundfile

    from swictation_rpc.audio.io import resample_to_16k

    key = hashlib.sha1(text.encode()).hexdigest()[:16]
    with tempfile.TemporaryDirectory() as tmp:
        path = (cache / f"espeak-{key}.wav") if cache else Path(tmp) / "speech.wav"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), text], check=True)
        audio, rate = soundfile.read(str(path), dtype="float32")
    return resample_to_16k(audio, rate)


def utterances(cache: Path | None, *, quick: bool = False) -> list[Utterance]:
    from benchmarks import command_cases, vocabulary
    from benchmarks.clips import LONG_SENTENCES, _cached_speech
    from benchmarks.commands import clip_for

    out: list[Utterance] = []
    prose = TextContext(before="# ", after="", language_id="python")
    for n, sentence in enumerate(HELD_OUT[:4] if quick else HELD_OUT):
        out.append(Utterance(f"espeak-{n}", sentence, espeak(sentence, cache), prose))
    for n, sentence in enumerate(LONG_SENTENCES[:2] if quick else LONG_SENTENCES):
        out.append(Utterance(f"piper-long-{n}", sentence, _cached_speech(sentence, cache), prose))
    for n, case in enumerate(vocabulary.CASES[:2] if quick else vocabulary.CASES):
        context = case.context(vocabulary.WORKSPACE)
        out.append(Utterance(f"piper-vocabulary-{n}", case.said, _cached_speech(case.said, cache), context))
    for n, command in enumerate(command_cases.CASES[:4] if quick else command_cases.CASES):
        context = TextContext(before=command.before, after=command.after, language_id=command.language)
        said = " ".join(command.said)
        out.append(Utterance(f"piper-command-{n}", said, clip_for(command, cache), context))
    return out


@define
class Variant:
    name: str
    recognizer: Any
    word_timestamps: bool = True


def variants(threads: int, margins: Sequence[float] = MARGINS) -> list[Variant]:
    from swictation_rpc.engine.whisper import BundledWhisper, bundled_model_path

    def whisper(*, one_window: bool = True, margin_s: float | None = None) -> BundledWhisper:
        model = BundledWhisper(bundled_model_path(), num_threads=threads)
        model.one_window = one_window
        if margin_s is not None:
            _shorten_window(model, margin_s)
        return model

    return [
        Variant(BEFORE, whisper(one_window=False)),
        Variant("one window", whisper()),
        Variant("no word timings", whisper(), word_timestamps=False),
        *(Variant(f"audio+{m:g} s", whisper(margin_s=m)) for m in margins),
    ]


def _shorten_window(model: Any, margin_s: float) -> None:
    """Feed ``model``'s encoder its segment's audio plus ``margin_s`` of faster-whisper's zero
    padding, not the whole 30 s window."""
    whisper = model._model
    encode = whisper.encode

    def short_encode(features: np.ndarray) -> Any:
        audio = np.flatnonzero(np.any(features.reshape(-1, features.shape[-1]) != 0, axis=0))
        content = int(audio[-1]) + 1 if len(audio) else 0
        return encode(features[..., : content + round(margin_s * 100)])

    whisper.encode = short_encode


def measure(clips: Sequence[Utterance], variants: Sequence[Variant], *, log: Log = print) -> list[Decode]:
    from swictation_rpc.engine.base import Hints
    from swictation_rpc.options import Options
    from swictation_rpc.testing.speech import word_error_rate
    from swictation_rpc.text.hints import recognition_hints

    options = Options()
    for variant in variants:
        variant.recognizer.recognize(clips[0].audio, Hints())
    decodes: list[Decode] = []
    for n, clip in enumerate(clips):
        hints = recognition_hints(clip.context, options)
        for variant in variants:
            fallbacks = _FallbackCounter()
            with fallbacks.watching():
                started = time.perf_counter()
                heard = variant.recognizer.recognize(
                    clip.audio,
                    Hints(hotwords=tuple(hints.get("hotwords") or ()), prompt=hints.get("prompt")),
                    word_timestamps=variant.word_timestamps,
                )
                ms = (time.perf_counter() - started) * 1000
            decodes.append(
                Decode(clip.name, variant.name, heard.text, word_error_rate(clip.said, heard.text), ms, fallbacks.count)
            )
        mine = decodes[-len(variants) :]
        log(f"[{n + 1}/{len(clips)}] {clip.name}: " + "; ".join(f"{d.variant} {d.ms:.0f} ms" for d in mine))
    return decodes


class _FallbackCounter:
    """Counts the loop guards' "Whisper repeated itself" log lines."""

    def __init__(self) -> None:
        self.count = 0

    def watching(self) -> Any:
        import contextlib
        import logging

        counter = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if "Whisper repeated" in record.getMessage():
                    counter.count += 1

        @contextlib.contextmanager
        def watch() -> Any:
            logger = logging.getLogger("swictation_rpc.engine.whisper")
            handler, level = Handler(), logger.level
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            try:
                yield
            finally:
                logger.removeHandler(handler)
                logger.setLevel(level)

        return watch()


def summarise(clips: Sequence[Utterance], decodes: Sequence[Decode]) -> list[Summary]:
    import jiwer

    from swictation_rpc.testing.speech import word_error_rate

    said = {clip.name: clip.said for clip in clips}
    before = {d.clip: d.text for d in decodes if d.variant == BEFORE}
    summaries = []
    for variant in dict.fromkeys(d.variant for d in decodes):
        mine = [d for d in decodes if d.variant == variant]
        ms = sorted(d.ms for d in mine)
        references = [_normalised(said[d.clip]) for d in mine]
        hypotheses = [_normalised(d.text) for d in mine]
        summaries.append(
            Summary(
                variant=variant,
                clips=len(mine),
                mean_wer=statistics.fmean(d.wer for d in mine),
                corpus_wer=float(jiwer.wer(references, hypotheses)),
                differs_from_before=sum(word_error_rate(before[d.clip], d.text) > 0 for d in mine if d.clip in before),
                redecodes=sum(d.redecodes for d in mine),
                p50_ms=statistics.median(ms),
                p95_ms=ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))],
            )
        )
    return summaries


def _normalised(text: str) -> str:
    import re

    return " ".join(re.sub(r"[^\w']+", " ", text.lower()).split()) or "-"


def render(summaries: Sequence[Summary], decodes: Sequence[Decode]) -> str:
    lines = [
        f"| variant | clips | mean WER | corpus WER | words differ from {BEFORE} | loop re-decodes | p50 | p95 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        lines.append(
            f"| {s.variant} | {s.clips} | {s.mean_wer:.3f} | {s.corpus_wer:.3f} | {s.differs_from_before} "
            f"| {s.redecodes} | {s.p50_ms:.0f} ms | {s.p95_ms:.0f} ms |"
        )
    before = {d.clip: d.text for d in decodes if d.variant == BEFORE}
    changed = [d for d in decodes if d.variant != BEFORE and _normalised(d.text) != _normalised(before[d.clip])]
    if changed:
        lines.append("")
        lines.append(f"Words that differ from {BEFORE}'s:")
        for d in changed:
            lines.append(f"  {d.clip} [{d.variant}]: {before[d.clip]!r} -> {d.text[:160]!r}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.whisper_window", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="OUT", type=Path, help="write every decode and the summary as JSON to OUT")
    parser.add_argument("--quick", action="store_true", help="a dozen clips only")
    parser.add_argument(
        "--cache",
        metavar="DIR",
        type=Path,
        default=Path(__file__).resolve().parent.parent / ".cache" / "benchmarks",
        help="reuse renderings from DIR (written if missing)",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the model (default 2)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    clips = utterances(args.cache, quick=args.quick)
    decodes = measure(clips, variants(args.threads), log=log)
    summaries = summarise(clips, decodes)
    print(render(summaries, decodes))
    log(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"summary": [asdict(s) for s in summaries], "decodes": [asdict(d) for d in decodes]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        log(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m benchmarks.vocabulary``: what the buffer's identifiers buy recognition, measured.

Piper (real speech synthesis) says sentences that mention identifiers of a pretend workspace
("call get user by id with the request"). Each clip runs through the engine swictation-rpc ships
(the bundled Whisper tiny.en, via :class:`~swictation_rpc.engine.hybrid.HybridEngine`) and the
server's formatter, three ways:

- ``baseline``: no identifiers at all;
- ``mapping``: the same transcript, formatted with the workspace's identifiers (spoken forms map
  back to the exact spelling; deterministic, so it can only add identifiers);
- ``hotwords+mapping``: decoded with the identifiers' spoken forms as hotwords
  (:func:`~swictation_rpc.text.vocabulary.hotwords_for`, what the server passes) and formatted
  with the identifiers: what the server does when the editor sends ``context.identifiers``.

Reported per variant: WER over spoken words (identifiers split into their words on both sides:
did the recognizer hear the words?), WER with identifiers as single exact tokens (is the text
what a programmer wanted?), and identifier accuracy (share of mentioned identifiers whose exact
spelling is in the text). Accuracy is a measurement here, never a pass/fail threshold.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from attrs import asdict, define, field

from swictation_rpc.protocol import TextContext
from swictation_rpc.text.casing import split_words

Where = Literal["comment", "code"]
Log = Callable[[str], None]


@define(frozen=True)
class Case:
    said: str
    """What Piper says."""
    identifiers: tuple[str, ...]
    """The identifiers it mentions, spelled as the code spells them."""
    where: Where = "comment"
    """Dictated into a comment (prose) or into code."""

    def context(self, identifiers: Sequence[str]) -> TextContext:
        before = "# " if self.where == "comment" else "    "
        return TextContext(before=before, after="", language_id="python", identifiers=list(identifiers))


#: Sentences a programmer might dictate, each mentioning identifiers of :data:`WORKSPACE`.
CASES: tuple[Case, ...] = (
    Case("call get user by id with the request", ("getUserById",)),
    Case("rename fetch json config to load settings", ("fetchJsonConfig", "loadSettings"), "code"),
    Case("the parse http headers function returns a dict", ("parseHttpHeaders",)),
    Case("return retry count plus one", ("retryCount",), "code"),
    Case("open the database connection pool before the first query", ("databaseConnectionPool",)),
    Case("use the token bucket limiter here", ("TokenBucketLimiter",)),
    Case("read the max retry delay from the config", ("MAX_RETRY_DELAY",)),
    Case("store it in the kubernetes pod spec", ("kubernetesPodSpec",)),
    Case("call normalize audio buffer first", ("normalizeAudioBuffer",)),
    Case("the render markdown preview function is slow", ("renderMarkdownPreview",)),
    Case("raise invalid argument error when the name is empty", ("InvalidArgumentError",)),
    Case("await send welcome email", ("sendWelcomeEmail",), "code"),
    Case("check is valid email before saving the form", ("isValidEmail",)),
    Case("pass the user profile cache to the handler", ("userProfileCache",)),
    Case("compute the moving average window over the samples", ("movingAverageWindow",)),
    Case("log the request id and the session token", ("requestId", "sessionToken"), "code"),
    Case("set max connections to ten", ("maxConnections",), "code"),
    Case("the on message received callback drops empty frames", ("onMessageReceived",)),
    Case("run build search index in the background", ("buildSearchIndex",)),
    Case(
        "the user account service talks to the billing gateway client", ("UserAccountService", "BillingGatewayClient")
    ),
)

#: Identifiers an editor would send for the document and workspace: every one the cases mention,
#: and look-alikes that must not be picked instead.
WORKSPACE: tuple[str, ...] = tuple(
    dict.fromkeys(
        [i for case in CASES for i in case.identifiers]
        + [
            "getUserByName",
            "getUser",
            "fetchConfig",
            "loadConfig",
            "parseHeaders",
            "userCount",
            "maxRetries",
            "sendEmail",
            "emailTemplate",
            "request",
            "response",
            "settings",
            "handler",
            "sessionId",
            "AudioBuffer",
            "searchResults",
            "connectionString",
            "markdownParser",
            "podName",
            "rateLimit",
        ]
    )
)

VARIANTS = ("baseline", "mapping", "hotwords+mapping")


@define
class CaseResult:
    said: str
    variant: str
    transcript: str
    """What the engine heard."""
    text: str
    """What the server would insert (formatted for the case's context)."""
    identifiers: list[str]
    found: list[str]
    """The mentioned identifiers whose exact spelling is in ``text``."""
    decode_ms: float


@define
class VariantSummary:
    variant: str
    wer_words: float
    """Corpus WER over spoken words (identifiers split into words in reference and text)."""
    wer_exact: float
    """Corpus WER with identifiers as single tokens that must be spelled exactly."""
    identifier_accuracy: float
    """Mentioned identifiers spelled exactly in the text / all mentioned identifiers."""
    identifiers_found: int
    identifiers_total: int
    decode_ms_p50: float


@define
class VocabularyReport:
    model: str
    cases: int
    workspace_identifiers: int
    hotwords: list[str]
    summaries: list[VariantSummary] = field(factory=list)
    results: list[CaseResult] = field(factory=list)

    def summary(self, variant: str) -> VariantSummary:
        return next(s for s in self.summaries if s.variant == variant)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- scoring --------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[\w']+")


def reference_text(case: Case) -> str:
    """``case.said`` with each mentioned identifier's spoken form replaced by its exact spelling."""
    from swictation_rpc.text.vocabulary import Vocabulary

    return Vocabulary(case.identifiers).replace(case.said, min_words=1)


def _spoken_words(text: str) -> str:
    """Lower-case words, identifiers split into their words (``getUserById`` -> get user by id)."""
    return " ".join(w.lower() for token in _TOKEN_RE.findall(text) for w in split_words(token))


def _exact_tokens(text: str, identifiers: frozenset[str]) -> str:
    """Tokens for the exact WER: identifiers kept as spelled, every other word lower-cased."""
    out = []
    for token in re.findall(r"[\w']+", text):
        out.append(token if token in identifiers else token.lower())
    return " ".join(out)


def identifiers_in(text: str, identifiers: Sequence[str]) -> list[str]:
    return [i for i in identifiers if re.search(rf"(?<![\w]){re.escape(i)}(?![\w])", text)]


def _corpus_wer(references: list[str], hypotheses: list[str]) -> float:
    import jiwer

    pairs = [(r, h if h.strip() else "<empty>") for r, h in zip(references, hypotheses, strict=True)]
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def summarise(variant: str, cases: Sequence[Case], results: Sequence[CaseResult]) -> VariantSummary:
    exact_vocab = frozenset(i for case in cases for i in case.identifiers)
    refs_words = [_spoken_words(case.said) for case in cases]
    hyps_words = [_spoken_words(r.text) for r in results]
    refs_exact = [_exact_tokens(reference_text(case), exact_vocab) for case in cases]
    hyps_exact = [_exact_tokens(r.text, exact_vocab) for r in results]
    found = sum(len(r.found) for r in results)
    total = sum(len(r.identifiers) for r in results)
    return VariantSummary(
        variant=variant,
        wer_words=round(_corpus_wer(refs_words, hyps_words), 4),
        wer_exact=round(_corpus_wer(refs_exact, hyps_exact), 4),
        identifier_accuracy=round(found / total, 4) if total else 0.0,
        identifiers_found=found,
        identifiers_total=total,
        decode_ms_p50=round(statistics.median(r.decode_ms for r in results), 1) if results else 0.0,
    )


# -- measuring ------------------------------------------------------------------------------------


def bundled_engine(num_threads: int = 2) -> Any:
    """The engine as a fresh install runs it: both modes served by the bundled Whisper tiny.en."""
    from swictation_rpc.engine.hybrid import HybridEngine
    from swictation_rpc.options import EngineOptions, ModelsOptions, Options

    options = Options(
        models=ModelsOptions(fast="bundled", accurate="bundled"), engine=EngineOptions(num_threads=num_threads)
    )
    engine = HybridEngine(options)
    engine.load()
    return engine


def synthesize_cases(cases: Sequence[Case], cache: Path | None = None) -> list[np.ndarray]:
    """Piper's rendering of each case (cached by sentence under ``cache`` when given)."""
    from benchmarks.clips import _cached_speech

    return [_cached_speech(case.said, cache) for case in cases]


def measure(
    cases: Sequence[Case] = CASES,
    workspace: Sequence[str] = WORKSPACE,
    *,
    engine: Any = None,
    audio: Sequence[np.ndarray] | None = None,
    cache: Path | None = None,
    log: Log = lambda message: None,
) -> VocabularyReport:
    """Decode every case with and without the workspace's identifiers; see the module docstring."""
    from swictation_rpc.options import TextOptions
    from swictation_rpc.text.formatting import format_utterance
    from swictation_rpc.text.vocabulary import hotwords_for

    engine = engine or bundled_engine()
    clips = list(audio) if audio is not None else synthesize_cases(cases, cache)
    hotwords = hotwords_for(workspace)
    options = TextOptions()
    results: dict[str, list[CaseResult]] = {v: [] for v in VARIANTS}
    model = ""
    for index, (case, clip) in enumerate(zip(cases, clips, strict=True)):
        plain = engine.transcribe(clip, "fast", final=True)
        biased = engine.transcribe(clip, "fast", final=True, hotwords=hotwords)
        model = plain.model
        decoded = {"baseline": plain, "mapping": plain, "hotwords+mapping": biased}
        for variant in VARIANTS:
            transcript = decoded[variant]
            identifiers = () if variant == "baseline" else workspace
            text = format_utterance(transcript.text, case.context(identifiers), options).text
            results[variant].append(
                CaseResult(
                    said=case.said,
                    variant=variant,
                    transcript=transcript.text,
                    text=text,
                    identifiers=list(case.identifiers),
                    found=identifiers_in(text, case.identifiers),
                    decode_ms=transcript.timings.decode_ms,
                )
            )
        log(
            f"[{index + 1}/{len(cases)}] {case.said!r}: {results['baseline'][-1].text!r} -> "
            f"{results['hotwords+mapping'][-1].text!r}"
        )
    report = VocabularyReport(model=model, cases=len(cases), workspace_identifiers=len(workspace), hotwords=hotwords)
    for variant in VARIANTS:
        report.summaries.append(summarise(variant, cases, results[variant]))
        report.results.extend(results[variant])
    return report


def render(report: VocabularyReport) -> str:
    lines = [
        f"Vocabulary from the buffer: {report.cases} Piper utterances mentioning identifiers, "
        f"{report.workspace_identifiers} identifiers sent, model {report.model}",
        "",
        f"{'variant':<18} {'WER (words)':>12} {'WER (exact)':>12} {'identifiers':>16} {'decode p50':>11}",
    ]
    for s in report.summaries:
        ids = f"{s.identifier_accuracy:.0%} ({s.identifiers_found}/{s.identifiers_total})"
        lines.append(f"{s.variant:<18} {s.wer_words:>12.1%} {s.wer_exact:>12.1%} {ids:>16} {s.decode_ms_p50:>9.0f} ms")
    lines += ["", "Per utterance (baseline -> hotwords+mapping):"]
    by_variant: dict[str, list[CaseResult]] = {}
    for r in report.results:
        by_variant.setdefault(r.variant, []).append(r)
    for base, best in zip(by_variant.get("baseline", []), by_variant.get("hotwords+mapping", []), strict=True):
        lines.append(f"  {base.said}")
        lines.append(f"      {base.text!r} -> {best.text!r}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.vocabulary", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="OUT", type=Path, help="write the report as JSON to OUT")
    parser.add_argument("--quick", action="store_true", help="the first 5 utterances only")
    parser.add_argument(
        "--cache", metavar="DIR", type=Path, help="reuse Piper renderings from DIR (written if missing)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the model (default 2)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    cases = CASES[:5] if args.quick else CASES
    report = measure(cases, engine=bundled_engine(args.threads), cache=args.cache, log=log)
    print(render(report))
    log(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        log(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

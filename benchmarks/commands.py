"""``python -m benchmarks.commands``: spoken commands on real speech, through the real server.

Piper says each utterance of :mod:`benchmarks.command_cases` (commands alone, commands inside
code, casing, commands set off in prose, and prose whose words happen to be command words). Each
clip goes to ``swictation-rpc serve --stdio`` as an editor sends it (``swictation/transcribe``
with the cursor's ``context``), on the engine a fresh install has: the bundled Whisper tiny.en in
both modes, on the CPU.

Reported:

- **command accuracy**: cases whose inserted text equals the expected text exactly (families
  ``alone``, ``code``, ``casing``, ``prose-command``);
- **false-command rate**: of the command words the recognizer heard inside prose (family
  ``prose``), the share that did not come out as words. What the recognizer heard is decoded again
  in-process from the same clip with the same hints the server used, so a misheard word counts as
  a recognition miss, not as a false command;
- per family exact matches, and each utterance with what came out.

Accuracy is a measurement here, never a pass/fail threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from attrs import asdict, define, field

from benchmarks.command_cases import CASES, FAMILIES, PAUSE_S, Case
from benchmarks.lsp_client import LspClient

REPO = Path(__file__).resolve().parents[1]
DOCUMENT_URI = {
    "python": "file:///tmp/swictation-benchmark/commands.py",
    "javascript": "file:///tmp/swictation-benchmark/commands.js",
    "markdown": "file:///tmp/swictation-benchmark/commands.md",
}
Log = Callable[[str], None]


@define
class CaseResult:
    family: str
    said: str
    expected: str
    text: str
    exact: bool
    decode_ms: float
    heard: str = ""
    """Prose only: the recognizer's transcript (decoded in-process with the server's hints)."""
    command_words_heard: int = 0
    command_words_converted: int = 0


@define
class CommandsReport:
    model: str
    settings: dict[str, Any]
    command_cases: int = 0
    command_exact: int = 0
    prose_cases: int = 0
    prose_exact: int = 0
    command_words_heard: int = 0
    command_words_converted: int = 0
    by_family: dict[str, list[int]] = field(factory=dict)
    results: list[CaseResult] = field(factory=list)

    @property
    def command_accuracy(self) -> float:
        return self.command_exact / self.command_cases if self.command_cases else 0.0

    @property
    def false_command_rate(self) -> float:
        return self.command_words_converted / self.command_words_heard if self.command_words_heard else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["command_accuracy"] = round(self.command_accuracy, 4)
        data["false_command_rate"] = round(self.false_command_rate, 4)
        return data


# -- speech ---------------------------------------------------------------------------------------


def clip_for(case: Case, cache: Path | None) -> np.ndarray:
    """Piper's rendering of the case's segments, joined by :data:`PAUSE_S` of silence."""
    from benchmarks.clips import _cached_speech
    from swictation_rpc.testing.speech import silence

    parts: list[np.ndarray] = []
    for n, segment in enumerate(case.said):
        if n:
            parts.append(silence(PAUSE_S))
        parts.append(_cached_speech(segment, cache))
    return np.concatenate(parts).astype(np.float32)


# -- scoring --------------------------------------------------------------------------------------


def _norm_words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def command_phrases(language_id: str | None) -> list[tuple[str, ...]]:
    """The spoken command phrases in effect for ``language_id`` (multi-word first)."""
    from swictation_rpc.text.commands import command_table

    table = command_table(language_id)
    phrases = [p for p in table.commands if p not in {("say",), ("scratch", "that")} and all(p)]
    return sorted(phrases, key=len, reverse=True)


def count_phrases(words: list[str], phrases: Sequence[tuple[str, ...]]) -> int:
    """Occurrences of ``phrases`` in ``words``, longest first, not overlapping."""
    count, i = 0, 0
    while i < len(words):
        for phrase in phrases:
            if tuple(words[i : i + len(phrase)]) == phrase:
                count += 1
                i += len(phrase)
                break
        else:
            i += 1
    return count


def converted_words(heard: str, text: str, language_id: str | None) -> tuple[int, int]:
    """(command words in ``heard``, how many of them are not words in ``text``)."""
    phrases = command_phrases(language_id)
    in_heard = count_phrases(_norm_words(heard), phrases)
    in_text = count_phrases(_norm_words(text), phrases)
    return in_heard, max(0, in_heard - in_text)


# -- the server -----------------------------------------------------------------------------------


def server_options(threads: int, extra: dict[str, Any] | None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "models": {"fast": "bundled", "accurate": "bundled"},
        "engine": {"device": "cpu", "numThreads": threads},
        "history": {"enabled": False},
        "logLevel": "warning",
    }
    for key, value in (extra or {}).items():
        options.setdefault(key, {}).update(value) if isinstance(value, dict) else options.__setitem__(key, value)
    return options


def start_server(workdir: Path, options: dict[str, Any], timeout_s: float = 180.0) -> LspClient:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["SWICTATION_DATA_DIR"] = str(workdir / "server-data")
    stderr = open(workdir / "server.stderr.log", "wb")
    client = LspClient([sys.executable, "-m", "swictation_rpc", "serve", "--stdio"], env=env, cwd=REPO, stderr=stderr)
    client.initialize(options, timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        status = client.request("swictation/status", {}, timeout=timeout_s)
        if status.get("engine", {}).get("ready") and status.get("state") == "idle":
            return client
        if status.get("state") == "error" or time.monotonic() > deadline:
            client.close()
            raise RuntimeError(f"the server's engine did not become ready: {status}")
        time.sleep(0.05)


def context_of(case: Case) -> dict[str, Any]:
    return {"before": case.before, "after": case.after, "languageId": case.language}


def _server_hints(case: Case, options: dict[str, Any]) -> dict[str, Any]:
    """The hints the server passes the recognizer for this case's context (for the re-decode)."""
    from swictation_rpc.options import structure_options
    from swictation_rpc.protocol import TextContext
    from swictation_rpc.utterances import fitting

    context = TextContext(before=case.before, after=case.after, language_id=case.language)
    if hasattr(fitting, "hints_for_context"):
        return fitting.hints_for_context(context, structure_options(options)[0])
    return {"hotwords": fitting.hotwords_for_context(context)}


def measure(
    cases: Sequence[Case] = CASES,
    *,
    threads: int = 2,
    cache: Path | None = None,
    extra_options: dict[str, Any] | None = None,
    log: Log = lambda message: None,
) -> CommandsReport:
    from benchmarks.vocabulary import bundled_engine

    options = server_options(threads, extra_options)
    report = CommandsReport(model="", settings=options)
    engine = None
    with tempfile.TemporaryDirectory(prefix="swictation-commands-") as tmp:
        workdir = Path(tmp)
        client = start_server(workdir, options)
        try:
            status = client.request("swictation/status", {})
            report.model = ", ".join(sorted({m.get("name", "") for m in status["engine"]["models"]}))
            for index, case in enumerate(cases):
                audio = clip_for(case, cache)
                wav = workdir / f"case-{index}.wav"
                soundfile.write(str(wav), audio, 16000, subtype="PCM_16")
                params = {
                    "textDocument": {"uri": DOCUMENT_URI[case.language]},
                    "position": {"line": 0, "character": 0},
                    "audio": {"path": str(wav)},
                    "mode": "accurate",
                    "context": context_of(case),
                }
                result = client.request("swictation/transcribe", params)
                text = result.get("text", "")
                outcome = CaseResult(
                    family=case.family,
                    said=case.sentence,
                    expected=case.expected,
                    text=text,
                    exact=case.accepts(text),
                    decode_ms=float((result.get("timings") or {}).get("decodeMs", 0.0)),
                )
                if case.family == "prose":
                    if engine is None:
                        engine = bundled_engine(threads)
                    hints = _server_hints(case, options)
                    # The very samples the server read (the WAV is 16-bit).
                    samples, _rate = soundfile.read(str(wav), dtype="float32")
                    heard = engine.transcribe(samples, "accurate", final=True, **hints).text
                    outcome.heard = heard
                    outcome.command_words_heard, outcome.command_words_converted = converted_words(
                        heard, text, case.language
                    )
                report.results.append(outcome)
                mark = "ok " if outcome.exact else "   "
                log(f"[{index + 1}/{len(cases)}] {mark}{case.family:<13} {case.sentence!r} -> {text!r}")
        finally:
            client.close()
            if engine is not None:
                engine.close()
    _summarise(report)
    return report


def _summarise(report: CommandsReport) -> None:
    for family in FAMILIES:
        rows = [r for r in report.results if r.family == family]
        if rows:
            report.by_family[family] = [sum(r.exact for r in rows), len(rows)]
    commands = [r for r in report.results if r.family != "prose"]
    prose = [r for r in report.results if r.family == "prose"]
    report.command_cases, report.command_exact = len(commands), sum(r.exact for r in commands)
    report.prose_cases, report.prose_exact = len(prose), sum(r.exact for r in prose)
    report.command_words_heard = sum(r.command_words_heard for r in prose)
    report.command_words_converted = sum(r.command_words_converted for r in prose)


def render(report: CommandsReport) -> str:
    lines = [
        f"Spoken commands: {len(report.results)} Piper utterances through swictation-rpc serve --stdio, "
        f"model {report.model}",
        "",
        f"command accuracy (exact text): {report.command_accuracy:.1%} ({report.command_exact}/{report.command_cases})",
        f"false commands in prose:       {report.false_command_rate:.1%} "
        f"({report.command_words_converted}/{report.command_words_heard} command words heard in prose)",
        f"prose exact (incl. recognizer): {report.prose_exact}/{report.prose_cases}",
        "",
        "by family (exact/total): "
        + ", ".join(f"{family} {ok}/{total}" for family, (ok, total) in report.by_family.items()),
        "",
        "Per utterance:",
    ]
    for r in report.results:
        mark = "ok" if r.exact else ("FC" if r.command_words_converted else "--")
        lines.append(f"  {mark} [{r.family}] {r.said}")
        lines.append(f"       expected {r.expected!r}")
        lines.append(f"       got      {r.text!r}" + (f"   (heard {r.heard!r})" if r.heard else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.commands", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="OUT", type=Path, help="write the report as JSON to OUT")
    parser.add_argument("--family", choices=FAMILIES, action="append", help="only these families (repeatable)")
    parser.add_argument("--cache", metavar="DIR", type=Path, help="reuse Piper renderings from DIR")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the model (default 2)")
    parser.add_argument(
        "--settings", metavar="JSON", help='extra initializationOptions, e.g. \'{"text": {"cleanup": false}}\''
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    cases = [c for c in CASES if not args.family or c.family in args.family]
    extra = json.loads(args.settings) if args.settings else None
    report = measure(cases, threads=args.threads, cache=args.cache, extra_options=extra, log=log)
    print(render(report))
    log(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
        log(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

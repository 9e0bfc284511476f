"""``swictation-rpc transcribe PATH``: the engine from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from swictation_rpc.commands.common import add_config_argument, load_options, print_error
from swictation_rpc.errors import SwictationError
from swictation_rpc.options import ConcreteMode, Options


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transcribe",
        help="transcribe an audio file and print the text",
        description="Transcribe a WAV/FLAC/OGG file (any sample rate, any channels) and print the text. "
        "Which engine ran is reported on stderr.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("path", nargs="?", type=Path, help="audio file")
    source.add_argument("--sample", action="store_true", help="transcribe the speech clip shipped with the package")
    parser.add_argument(
        "--mode",
        choices=("fast", "accurate", "auto"),
        default=None,
        help="fast (GPU, Parakeet 110M), accurate (CPU, Parakeet 0.6B) or auto (default: the defaultMode setting)",
    )
    parser.add_argument("--json", action="store_true", help='print {"text", "mode", "model", "timings"} as JSON')
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swictation_rpc.audio.io import load_audio, sample_clip_path
    from swictation_rpc.converter import converter
    from swictation_rpc.engine.hybrid import HybridEngine

    try:
        options = load_options(args)
        started = time.perf_counter()
        audio = load_audio(sample_clip_path() if args.sample else args.path)
        engine = HybridEngine(options)
        engine.load()
        load_s = time.perf_counter() - started
        transcript = engine.transcribe(audio, args.mode or options.default_mode)
    except SwictationError as exc:
        print_error(exc)
        return 1
    if args.json:
        print(json.dumps(converter.unstructure(transcript)))
    else:
        print(transcript.text)
    served = {m.mode: m for m in engine.status().models}
    ran = served[transcript.mode]
    print(
        f"[{transcript.model} · {transcript.mode} mode · {ran.backend} on {ran.provider} · "
        f"{transcript.timings.decode_ms:.0f} ms for {transcript.timings.audio_ms / 1000:.1f} s of audio · "
        f"engine ready in {load_s:.1f} s]",
        file=sys.stderr,
    )
    if ran.problem:
        print(f"note: {fallback_note(options, transcript.mode, transcript.model) or ran.problem}", file=sys.stderr)
    return 0


def fallback_note(options: Options, mode: ConcreteMode, ran: str) -> str | None:
    """One sentence when ``mode`` ran on another model because its own is not installed, else ``None``."""
    from swictation_rpc.errors import ModelNotInstalledError
    from swictation_rpc.models.store import ModelStore

    requested = getattr(options.models, mode)
    store = ModelStore.from_options(options)
    try:
        store.resolve(requested)
    except ModelNotInstalledError:
        if requested not in store.catalogue:
            return None
        return (
            f"{ran} transcribed this because the {mode} model {requested} is not installed in {store.root};"
            f" install it with `swictation-rpc models download {requested}` (offline:"
            f" `swictation-rpc models import PATH --name {requested}`)."
        )
    except SwictationError:
        return None
    return None

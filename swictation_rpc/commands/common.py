"""What several subcommands share: reading settings and printing errors."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swictation_rpc.errors import SwictationError
from swictation_rpc.options import Options, structure_options


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help='JSON settings in the editor\'s shape, e.g. {"models": {"fast": "parakeet-tdt-110m"}}',
    )


def load_options(args: argparse.Namespace) -> Options:
    """Options from ``--config`` (if any); a bad setting is reported and takes its default."""
    path = getattr(args, "config", None)
    if path is None:
        return Options()
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SwictationError(f"Cannot read settings file {path}: {exc}", remedy="Pass a JSON object.") from exc
    options, problems = structure_options(raw.get("swictation", raw) if isinstance(raw, dict) else raw)
    for problem in problems:
        print(f"warning: setting ignored, default used: {problem}", file=sys.stderr)
    return options


def print_error(exc: SwictationError) -> None:
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.remedy:
        print(f"  fix: {exc.remedy}", file=sys.stderr)

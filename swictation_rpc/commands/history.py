"""``swictation-rpc history``: list what was dictated, newest first."""

from __future__ import annotations

import argparse
import json
import sys

from swictation_rpc.errors import SwictationError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "history",
        help="list dictated utterances, newest first",
        description="List the utterances saved in the history (text, document, mode, model, timings). "
        "The history lives in the user data dir ($SWICTATION_DATA_DIR/history when that is set).",
    )
    parser.add_argument("--limit", type=_positive_int, default=20, metavar="N", help="show at most N (default 20)")
    parser.add_argument("--json", action="store_true", help='print {"items": [...]} as swictation/history returns it')
    parser.set_defaults(func=run)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def run(args: argparse.Namespace) -> int:
    from swictation_rpc import paths
    from swictation_rpc.commands.common import print_error
    from swictation_rpc.converter import converter
    from swictation_rpc.history import HistoryStore
    from swictation_rpc.protocol import HistoryResult

    directory = paths.history_dir()
    try:
        # A damaged database is moved aside and a fresh one started: say where it was kept.
        with HistoryStore(directory, notify=lambda message: print(message, file=sys.stderr)) as store:
            items = store.list(args.limit)
    except SwictationError as exc:
        print_error(exc)
        return 1
    if args.json:
        json.dump(converter.unstructure(HistoryResult(items=items)), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    if not items:
        print(f"No utterances yet ({directory}).")
        return 0
    for item in items:
        where = item.uri or "-"
        if item.range is not None:
            where += f":{item.range.start.line + 1}:{item.range.start.character + 1}"
        seconds = item.timings.audio_ms / 1000.0
        print(f"{item.created_at}  {item.id[:8]}  {item.mode:<8} {seconds:5.1f}s  {item.model}  {where}")
        print(f"    {_one_line(item.text)}")
    return 0


def _one_line(text: str, width: int = 100) -> str:
    flat = text.replace("\r", "").replace("\n", "\u23ce ")
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"

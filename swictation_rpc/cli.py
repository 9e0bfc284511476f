"""``swictation-rpc``: the command line. Each subcommand lives in ``swictation_rpc/commands/``."""

from __future__ import annotations

import argparse
import logging
import sys

from swictation_rpc import __version__
from swictation_rpc.commands import doctor, history, models, serve, transcribe

#: Subcommand modules, in the order ``--help`` lists them. Each has ``add_parser``.
COMMANDS = (transcribe, serve, models, history, doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swictation-rpc",
        description="On-device voice dictation for programmers: transcribe audio, manage models, "
        "or serve editors over stdio JSON-RPC.",
    )
    parser.add_argument("--version", action="version", version=f"swictation-rpc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)

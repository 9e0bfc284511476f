"""``swictation-rpc serve [--stdio]``: the JSON-RPC server editors launch.

stdout carries protocol messages only; logs go to stderr and a log file (``--log-file``, default
under the user log dir) and, once the client is connected, to ``window/logMessage``.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swictation_rpc.engine_host import EngineFactory


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve editors over stdio JSON-RPC (LSP framing)",
        description="Speak JSON-RPC 2.0 with LSP framing (Content-Length headers) on stdin/stdout. "
        "Editors start this; see examples/client.py for any other client.",
    )
    configure(parser)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stdio",
        action="store_true",
        help="use stdin/stdout (the default and only transport; vscode-languageclient passes this flag)",
    )
    parser.add_argument("--log-file", metavar="FILE", help="log file (default: server.log in the user log dir)")
    parser.add_argument(
        "--log-level",
        choices=("error", "warning", "info", "debug"),
        default=None,
        help="log level for stderr, the log file and window/logMessage (default: the logLevel setting, info)",
    )
    parser.add_argument(
        "--max-message-bytes",
        type=_positive_int,
        default=None,
        metavar="N",
        help="largest JSON-RPC message accepted, in bytes; a larger one is discarded unread and answered "
        "with an error (default: 64 MiB, about 25 minutes of inline 16 kHz audio)",
    )
    parser.set_defaults(func=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def run(args: argparse.Namespace, *, engine_factory: EngineFactory | None = None) -> int:
    """Serve until ``exit`` or end of input, then end the process with the exit code.

    ``engine_factory(options)`` replaces the hybrid engine (fault-injection tests wrap it).
    """
    from swictation_rpc.engine.heap import limit_arenas
    from swictation_rpc.logs import configure_logging
    from swictation_rpc.server import SwictationServer
    from swictation_rpc.transport import DEFAULT_MAX_MESSAGE_BYTES

    limit_arenas()  # before the server's threads exist: see engine/heap.py
    log_file = configure_logging(args.log_level, args.log_file)
    if hasattr(signal, "SIGUSR1"):
        # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see where a hang is.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    logger = logging.getLogger("swictation_rpc.serve")
    logger.info("swictation-rpc serving on stdio (pid %d, log file %s)", os.getpid(), log_file)
    # Whatever a library prints, from Python or native code, must not corrupt the wire: the wire
    # gets its own descriptor and file descriptor 1 (and sys.stdout) now point at stderr.
    sys.stdout.flush()
    wire_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server = SwictationServer(
        log_level=args.log_level,
        engine_factory=engine_factory,
        max_message_bytes=getattr(args, "max_message_bytes", None) or DEFAULT_MAX_MESSAGE_BYTES,
    )
    code = server.run_stdio(sys.stdin.buffer, wire_out)
    logger.info("swictation-rpc exiting with code %d", code)
    logging.shutdown()
    sys.stderr.flush()
    # Engine threads may be mid-decode (native code cannot be interrupted): do not wait for them.
    os._exit(code)


def main(argv: list[str] | None = None, *, engine_factory: EngineFactory | None = None) -> int:
    parser = argparse.ArgumentParser(prog="swictation-rpc serve")
    configure(parser)
    return run(parser.parse_args(argv), engine_factory=engine_factory)


if __name__ == "__main__":
    raise SystemExit(main())

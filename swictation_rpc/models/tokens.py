"""The token files of a model (sherpa's ``tokens.txt``, NeMo's ``vocab.txt``): read and checked.

One ``symbol id`` a line, ids in order from 0, the blank ``<blk>`` last (sherpa-onnx aborts the
process on anything else). A problem raises :class:`TokenFileError`; the folder check
(:mod:`swictation_rpc.models.layout`) turns it into an error that names the model and the fix.
"""

from __future__ import annotations

from pathlib import Path

from swictation_rpc.models.files import read_regular

BLANK = "<blk>"
#: tokens.txt / vocab.txt are small; a larger one is not a model's.
MAX_TOKENS_BYTES = 16 << 20


class TokenFileError(Exception):
    """The token file is unusable; ``problem`` completes a sentence about the file."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def read_symbol_lines(path: Path) -> list[tuple[str, int]]:
    """``(symbol, id)`` per line of tokens.txt / vocab.txt (``sym id``; a lone id is a space)."""
    if not path.is_file():
        raise TokenFileError("is missing")
    try:
        text = read_regular(path, MAX_TOKENS_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        raise TokenFileError("is not UTF-8 text") from None
    except OSError as exc:
        raise TokenFileError(f"cannot be read ({exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise TokenFileError("is empty")
    entries: list[tuple[str, int]] = []
    for n, line in enumerate(lines, 1):
        parts = line.rsplit(maxsplit=1)
        if len(parts) == 1 and parts[0].isdigit():
            sym, num = " ", parts[0]
        elif len(parts) == 2 and parts[1].lstrip("-").isdigit():
            sym, num = parts
        else:
            raise TokenFileError(f"line {n} is not `symbol id`: {line[:40]!r}")
        entries.append((sym, int(num)))
    return entries


def check_tokens(path: Path, vocab_size: int | None) -> tuple[str, ...]:
    """The symbols by id: ``<blk>`` last, ids in order, ``vocab_size`` + 1 of them when it is given."""
    entries = read_symbol_lines(path)
    if entries[-1][0] != BLANK:
        where = next((i for i, (s, _) in enumerate(entries) if s == BLANK), None)
        detail = "has no <blk>" if where is None else f"has <blk> on line {where + 1}, not last"
        raise TokenFileError(f"{detail}: the blank token must be the last id")
    if vocab_size is not None and len(entries) != vocab_size + 1:
        raise TokenFileError(
            f"has {len(entries)} lines but the encoder's vocab_size is {vocab_size} "
            f"(expected {vocab_size + 1} with <blk>)"
        )
    for i, (_, num) in enumerate(entries):
        if num != i:
            raise TokenFileError(f"line {i + 1} has id {num}, expected {i}")
    return tuple(s for s, _ in entries)

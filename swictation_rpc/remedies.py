"""Model remedies as an editor's user can follow them (issue 14, outside-user finding F4).

The engine and the model store phrase their fixes for the command line (``swictation-rpc models
download NAME``). A server started by an editor after an in-editor install lives in a private
virtual environment, not on ``$PATH``, so those commands are "command not found" in a terminal.
When the client is an editor (``initialize`` carried ``clientInfo``), :func:`for_editor` puts the
editor's own command first and shows the CLI with the path that runs it. The CLI's messages are
left as they are.
"""

from __future__ import annotations

import re
import shutil
import sys
from functools import cache
from pathlib import Path

_CMD = r"swictation-rpc models download (?P<name>[\w.+-]+)(?P<force> --force)?"
_RUN = re.compile(r"\bRun:? `?" + _CMD + r"`?")
_WITH = re.compile(r"\bwith `" + _CMD + r"`")
_PAREN = re.compile(r"\(" + _CMD + r"\)")
_BARE = re.compile(r"`" + _CMD + r"`")
_CLI = re.compile(r"`swictation-rpc (?=models )")
_HOLE = "\x00"


@cache
def cli_command() -> str:
    """``swictation-rpc`` when that runs this server's CLI, else the full path of the one next to it."""
    beside = Path(sys.executable).parent / "swictation-rpc"
    on_path = shutil.which("swictation-rpc")
    if on_path is None and beside.exists():
        return str(beside)
    return "swictation-rpc"


def _editor(match: re.Match[str]) -> str:
    bang = "!" if match["force"] else ""
    return (
        f"in the editor (VS Code: Swictation: Download Models…; Neovim: :SwictationModels{bang} download "
        f"{match['name']})"
    )


def _cli(match: re.Match[str]) -> str:
    # A placeholder for the command, so later patterns do not match what an earlier one wrote.
    return f"`{_HOLE} models download {match['name']}{match['force'] or ''}`"


def for_editor(text: str | None) -> str | None:
    """``text`` with each ``swictation-rpc models download NAME`` fix led by the editor's command."""
    if not text or "swictation-rpc models" not in text:
        return text
    text = _RUN.sub(lambda m: f"Download it {_editor(m)}, or run {_cli(m)}", text)
    text = _WITH.sub(lambda m: f"{_editor(m)}, or with {_cli(m)}", text)
    text = _PAREN.sub(lambda m: f"({_editor(m)}, or {_cli(m)})", text)
    text = _BARE.sub(lambda m: f"{_cli(m)} ({_editor(m)})", text)
    cli = cli_command()
    if cli != "swictation-rpc":
        text = _CLI.sub(f"`{cli} ", text)
    return text.replace(_HOLE, cli)

"""Two editors on one data folder, over two real servers (issue 19, items 5 and 11; the server's part).

Each server's history has an owner: the editor's name and its workspace (``clientInfo.name`` and
``rootUri``), so one editor's ``maxItems`` never rotates out the other's utterances, and
``undoUtterance {}`` never reaches the other's. The history is opened when the
client is ready (``initialized``), so a killed server's leftovers are swept and a damaged
database is reported at start, before any request touches the history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from swictation_rpc.history import DB_NAME
from tests.e2e.conftest import CLIENT_CAPABILITIES, transcribe_params

from .conftest import Server, add_figure, wait_until
from .test_faults import TONE_TEXT, tone_settings, tones  # noqa: F401 (fixture)

DOC = "file:///tmp/shared-notes.md"


def _editor(spawn, data: Path, name: str, root: str | None, settings: dict[str, Any], **env: str) -> Server:
    server: Server = spawn(data_dir=data, initialize=False, env=env)
    params: dict[str, Any] = {
        "processId": os.getpid(),
        "rootUri": root,
        "capabilities": CLIENT_CAPABILITIES,
        "clientInfo": {"name": name, "version": "1.0"},
        "initializationOptions": settings,
    }
    if root is None:
        params["workspaceFolders"] = [{"uri": "file:///home/u/folder-only", "name": "folder-only"}]
    server.request("initialize", params)
    server.notify("initialized", {})
    server.wait_ready()
    return server


def _say(server: Server, wav: Path, line: int = 0) -> dict[str, Any]:
    params = transcribe_params(wav, line=line, mode="fast")
    params["textDocument"]["uri"] = DOC
    return server.request("swictation/transcribe", params, timeout=120)


def test_one_editors_max_items_and_undo_never_reach_the_other_editors_utterances(
    spawn,
    tones: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    data = tmp_path / "shared-data"
    env = {"SWICTATION_CHECK_CLIP": str(tones["wav"])}
    models = tone_settings(tones["tdt"], tones["rnnt"])
    code = _editor(
        spawn, data, "Visual Studio Code", "file:///home/u/project", {**models, "history": {"maxItems": 3}}, **env
    )
    vim = _editor(spawn, data, "Neovim", None, {**models, "history": {"maxItems": 2}}, **env)

    theirs = [_say(code, tones["wav"], line=i)["utteranceId"] for i in range(3)]
    mine = [_say(vim, tones["wav"], line=i)["utteranceId"] for i in range(4)]
    assert all(theirs) and all(mine)
    listed = {item["id"] for item in code.request("swictation/history", {"limit": 50})["items"]}
    assert set(theirs) <= listed, "Neovim's maxItems rotated out VS Code's utterances"
    assert set(mine[-2:]) <= listed and not set(mine[:2]) & listed  # Neovim kept its own two

    newest_of_code = _say(code, tones["wav"], line=9)["utteranceId"]
    last_of_vim = _say(vim, tones["wav"], line=8)["utteranceId"]
    undone = code.request("swictation/undoUtterance", {})
    assert undone["id"] == newest_of_code, undone  # not Neovim's newer one
    undone = vim.request("swictation/undoUtterance", {})
    assert undone["id"] == last_of_vim, undone
    add_figure("data_dir_layouts_survived")


def test_the_history_is_swept_and_recovered_at_start_before_any_request_touches_it(spawn, tmp_path: Path) -> None:
    data = tmp_path / "data"
    audio = data / "history" / "audio"
    audio.mkdir(parents=True)
    partial = audio / f"{os.urandom(16).hex()}.tmp"
    partial.write_bytes(b"fLaC half written")
    orphan = audio / f"{os.urandom(16).hex()}.flac"
    orphan.write_bytes(b"fLaC never committed")
    (data / "history" / DB_NAME).write_bytes(b"this is not a database, it was overwritten " * 200)

    server = spawn(data_dir=data, wait_ready=False)
    server.probe()  # status only: nothing asks for the history
    assert wait_until(lambda: not partial.exists() and not orphan.exists(), 30), sorted(os.listdir(audio))
    notice = server.wait_for("window/showMessage", lambda p: "damaged" in p["message"].lower(), timeout=30)
    assert DB_NAME in notice["message"]
    assert any(p.name.startswith(f"{DB_NAME}.damaged-") for p in (data / "history").iterdir())
    add_figure("faults_survived")

"""``swictation-rpc models ...`` end to end: the real CLI in a child process, a local HTTP server.

The catalogue is pointed at 127.0.0.1 through ``$SWICTATION_CATALOGUE``; models go to a throwaway
``$SWICTATION_MODELS_DIR``. Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from swictation_rpc.commands import models as models_cmd
from swictation_rpc.testing.model_server import ModelServer

REPO = Path(__file__).resolve().parents[2]
FILES = ["encoder.onnx", "decoder.onnx", "joiner.onnx", "tokens.txt"]


def _model_folder(dest: Path) -> Path:
    try:
        from swictation_rpc.testing.synthetic import write_tone_model
    except ImportError:
        dest.mkdir(parents=True)
        for part in ("encoder", "decoder", "joiner"):
            (dest / f"{part}.onnx").write_bytes(os.urandom(4000))
        (dest / "tokens.txt").write_text("<unk> 0\n\u2581hello 1\n<blk> 2\n")
        return dest
    return write_tone_model(dest, layout="sherpa")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    src = _model_folder(tmp_path_factory.mktemp("cli-src") / "tone-model")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2") as tf:
        tf.add(src, arcname="tone-model")
    return buf.getvalue()


@pytest.fixture()
def env(tmp_path, archive):
    """A server with the archive, a catalogue pointing at it, and the env for the child CLI."""
    with ModelServer() as server:
        url = server.add("tone.tar.bz2", archive)
        catalogue = tmp_path / "catalogue.json"
        catalogue.write_text(
            json.dumps(
                {
                    "models": [
                        {
                            "name": "tone",
                            "title": "Tone test model",
                            "role": "fast",
                            "layout": "sherpa",
                            "kind": "archive",
                            "topFolder": "tone-model",
                            "requiredFiles": FILES,
                            "downloads": [
                                {
                                    "url": url,
                                    "path": "tone.tar.bz2",
                                    "size": len(archive),
                                    "sha256": hashlib.sha256(archive).hexdigest(),
                                }
                            ],
                        }
                    ]
                }
            )
        )
        child_env = dict(os.environ)
        child_env.update(
            {
                "SWICTATION_CATALOGUE": str(catalogue),
                "SWICTATION_MODELS_DIR": str(tmp_path / "models"),
                "SWICTATION_DATA_DIR": str(tmp_path / "data"),
            }
        )
        yield {"env": child_env, "server": server, "models": tmp_path / "models", "catalogue": catalogue}


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swictation_rpc", "models", *args],
        cwd=REPO,
        env=env["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def listing(env: dict) -> dict[str, dict]:
    out = cli(env, "list", "--json")
    assert out.returncode == 0, out.stderr
    return {row["name"]: row for row in json.loads(out.stdout)}


def test_download_list_verify_path_remove(env):
    rows = listing(env)
    assert rows["tone"]["state"] == "not installed" and rows["tone"]["role"] == "fast"
    assert rows["parakeet-tdt-0.6b-v3-int8"]["role"] == "accurate"  # built-ins still listed

    out = cli(env, "download", "tone")
    assert out.returncode == 0, out.stderr
    installed = Path(out.stdout.strip())
    assert installed == env["models"] / "tone" and (installed / "encoder.onnx").is_file()

    row = listing(env)["tone"]
    assert row["installed"] and row["state"] == "installed" and row["trust"] == "catalogue"

    out = cli(env, "verify", "--json")
    assert out.returncode == 0, out.stderr
    (report,) = json.loads(out.stdout)
    assert report["ok"] and report["name"] == "tone" and report["filesChecked"] == 4

    out = cli(env, "path", "tone")
    assert out.returncode == 0 and Path(out.stdout.strip()) == installed
    out = cli(env, "path")
    assert Path(out.stdout.strip()) == env["models"]

    out = cli(env, "remove", "tone")
    assert out.returncode == 0, out.stderr
    assert not installed.exists() and listing(env)["tone"]["state"] == "not installed"


def test_verify_fails_on_a_modified_file_and_says_how_to_fix_it(env):
    assert cli(env, "download", "tone").returncode == 0
    enc = env["models"] / "tone" / "encoder.onnx"
    data = bytearray(enc.read_bytes())
    data[-1] ^= 0xFF
    enc.write_bytes(bytes(data))
    out = cli(env, "verify", "tone")
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "encoder.onnx was modified" in out.stdout
    assert "models download NAME --force" in out.stderr
    assert listing(env)["tone"]["state"] == "installed"  # list's quick check sees sizes only
    assert cli(env, "download", "tone", "--force", "--no-progress").returncode == 0
    assert cli(env, "verify", "tone").returncode == 0


def test_import_from_a_local_archive_offline(env, tmp_path, archive):
    local = tmp_path / "tone.tar.bz2"
    local.write_bytes(archive)
    out = cli(env, "import", str(local))
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == env["models"] / "tone"
    assert "checksum matches the catalogue" in out.stderr
    assert env["server"].requests == []  # offline: nothing fetched
    assert cli(env, "verify", "tone").returncode == 0


def test_import_from_a_folder_under_a_name(env, tmp_path):
    folder = _model_folder(tmp_path / "my-folder")
    out = cli(env, "import", str(folder), "--name", "mine")
    assert out.returncode == 0, out.stderr
    assert listing(env)["mine"]["installed"]


def test_errors_print_message_and_remedy_and_exit_1(env):
    out = cli(env, "download", "no-such-model")
    assert out.returncode == 1
    assert "error: Unknown model 'no-such-model'" in out.stderr and "fix:" in out.stderr
    out = cli(env, "remove", "tone")
    assert out.returncode == 1 and "not installed" in out.stderr
    out = cli(env, "path", "tone")
    assert out.returncode == 1 and "models download tone" in out.stderr


def test_download_with_a_plain_http_catalogue_url_is_refused(env):
    env["catalogue"].write_text(
        json.dumps(
            {
                "models": [
                    {
                        "name": "evil",
                        "title": "t",
                        "layout": "sherpa",
                        "kind": "archive",
                        "downloads": [{"url": "http://example.com/evil.tar.bz2", "path": "evil.tar.bz2"}],
                    }
                ]
            }
        )
    )
    out = cli(env, "download", "evil")
    assert out.returncode == 1 and "only https://" in out.stderr


def test_checksum_mismatch_exits_1_and_installs_nothing(env, archive):
    env["server"].files["/tone.tar.bz2"] = archive[:-4] + b"XXXX"  # same size, other bytes
    out = cli(env, "download", "tone", "--no-progress")
    assert out.returncode == 1 and "Checksum mismatch" in out.stderr
    assert listing(env)["tone"]["state"] == "not installed"


def test_run_takes_a_namespace_from_the_lead_cli_parser(env, capsys, monkeypatch):
    """The in-process entry point the lead's cli.py calls: add_parser + run(args)."""
    for key in ("SWICTATION_CATALOGUE", "SWICTATION_MODELS_DIR"):
        monkeypatch.setenv(key, env["env"][key])
    parser = argparse.ArgumentParser()
    models_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", "download", "tone", "--no-progress"])
    assert args.func(args) == 0
    capsys.readouterr()
    args = parser.parse_args(["models", "list", "--json"])
    assert args.func(args) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tone"]["installed"]
    args = parser.parse_args(["models", "--models-dir", str(env["models"]), "verify", "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)[0]["ok"]

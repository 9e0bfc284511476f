"""Checking a model folder: its structure (the import gate and ``verify``'s fallback) and its files.

:mod:`swictation_rpc.models.layout` owns the deep check (what sherpa-onnx or onnxruntime would
abort on); this module is the fallback when that check is not there, the gate that refuses to
publish a folder without its required files, and the comparison of files with the manifest.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import attrs

from swictation_rpc.errors import ModelDownloadError, SwictationError
from swictation_rpc.models.catalogue import CatalogueEntry
from swictation_rpc.models.files import hash_file, read_regular
from swictation_rpc.models.manifest import MANIFEST_NAME, ModelManifest
from swictation_rpc.models.tokens import MAX_TOKENS_BYTES

log = logging.getLogger(__name__)


@attrs.frozen
class VerifyReport:
    name: str
    path: str
    ok: bool
    files_checked: int
    layout: str | None
    problems: list[str] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)
    trust: str | None = None
    deep: bool = True
    """False when only sizes were compared (``quick``)."""


_SHERPA_PARTS = ("encoder", "decoder", "joiner")


def guess_layout(folder: Path) -> str | None:
    names = {p.name for p in folder.iterdir() if p.is_file()}
    if (
        "vocab.txt" in names
        and any(n.startswith("encoder-model") and n.endswith(".onnx") for n in names)
        and any(n.startswith("decoder_joint-model") and n.endswith(".onnx") for n in names)
    ):
        return "nemo"
    if "tokens.txt" in names and all(
        any(re.fullmatch(rf"{part}(\..+)?\.onnx", n) for n in names) for part in _SHERPA_PARTS
    ):
        return "sherpa"
    return None


def basic_structure(folder: Path, entry: CatalogueEntry | None) -> tuple[str | None, list[str]]:
    problems: list[str] = []
    layout = guess_layout(folder)
    if entry is not None:
        for rel in entry.required_files:
            f = folder / rel
            if not f.is_file():
                problems.append(f"required file {rel} is missing")
            elif f.stat().st_size == 0:
                problems.append(f"required file {rel} is empty")
        layout = layout or entry.layout
    elif layout is None:
        problems.append(
            "not a recognised model folder: expected the sherpa-onnx layout (encoder/decoder/"
            "joiner .onnx + tokens.txt) or the NeMo/onnx-asr layout (encoder-model.onnx +"
            " decoder_joint-model.onnx + vocab.txt + config.json)"
        )
    tokens = folder / "tokens.txt"
    if layout == "sherpa" and tokens.is_file():
        try:
            text = read_regular(tokens, MAX_TOKENS_BYTES).decode("utf-8", errors="replace")
        except OSError as exc:
            problems.append(f"tokens.txt cannot be read ({exc})")
            return layout, problems
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not lines or not lines[-1].split()[0] == "<blk>":
            problems.append("tokens.txt does not end with <blk> (sherpa-onnx would abort on it)")
    return layout, problems


def layout_check(folder: Path) -> tuple[str | None, list[str]] | None:
    """The engine's own structural check (swictation_rpc.models.layout), when it is there."""
    try:
        from swictation_rpc.models import layout as layout_mod
    except ImportError:
        return None
    inspect = getattr(layout_mod, "inspect_model_dir", None)
    if inspect is None:
        return None
    try:
        info = inspect(folder)
    except SwictationError as exc:
        return None, [str(exc)]
    except Exception as exc:
        log.exception("layout.inspect_model_dir failed on %s", folder)
        return None, [f"layout check failed: {type(exc).__name__}: {exc}"]
    layout = getattr(info, "layout", None)
    problems = list(getattr(info, "problems", None) or getattr(info, "errors", None) or [])
    return (str(layout) if layout is not None else None), [str(p) for p in problems]


def check_structure(folder: Path, entry: CatalogueEntry | None, name: str) -> None:
    """Refuse to publish a folder that cannot be a model (missing required files)."""
    _, problems = basic_structure(folder, entry)
    fatal = [p for p in problems if "missing" in p or "not a recognised" in p or "empty" in p]
    if fatal:
        raise ModelDownloadError(
            f"{name} is incomplete: " + "; ".join(fatal),
            remedy="Nothing was installed. Check that the archive or folder is the model"
            " release itself (see `swictation-rpc models list` for the expected files).",
        )


def compare_files(folder: Path, manifest: ModelManifest, *, quick: bool) -> tuple[list[str], list[str]]:
    """The folder's files against the manifest (SHA-256 unless ``quick``): ``(problems, warnings)``."""
    problems: list[str] = []
    warnings: list[str] = []
    for rel, record in sorted(manifest.files.items()):
        f = folder.joinpath(*rel.split("/"))
        try:
            st = os.lstat(f)
        except FileNotFoundError:
            problems.append(f"{rel} is missing")
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{rel} is no longer a regular file")
            continue
        if st.st_size != record.size:
            problems.append(f"{rel} has {st.st_size} bytes, the manifest says {record.size}")
            continue
        if not quick:
            try:
                digest = hash_file(f).hexdigest()
            except OSError as exc:
                problems.append(f"{rel} cannot be read ({exc})")
                continue
            if digest != record.sha256:
                problems.append(f"{rel} was modified: sha256 {digest}, the manifest says {record.sha256}")
    known = set(manifest.files) | {MANIFEST_NAME}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel not in known:
            warnings.append(f"{rel} is not part of the installed model")
    return problems, warnings

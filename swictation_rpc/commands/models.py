"""``swictation-rpc models list|download|import|verify|remove|path``: manage the speech models.

Models live in the user data dir (``SWICTATION_MODELS_DIR``, the ``models.modelsDir`` setting or
``--models-dir`` move them). ``download`` fetches a catalogue model over HTTPS with a progress bar,
resumes, checks size and SHA-256 before unpacking, and installs atomically; ``import`` does the
same from a local archive or folder for offline machines.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypedDict

from swictation_rpc.commands.common import load_options, print_error
from swictation_rpc.errors import SwictationError

if TYPE_CHECKING:
    from tqdm import tqdm

    from swictation_rpc.models.download import Progress
    from swictation_rpc.models.store import ModelStore


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, download, import, verify or remove speech models",
        description="Manage the Parakeet models the engine runs. With no models installed the "
        "bundled Whisper tiny.en model is used.",
    )
    _configure(parser)


def _configure(parser: argparse.ArgumentParser) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--models-dir",
            type=Path,
            metavar="DIR",
            default=argparse.SUPPRESS,
            help="model folder (default: the models.modelsDir setting, $SWICTATION_MODELS_DIR or the user data dir)",
        )
        # SUPPRESS: the option may come before or after ACTION without the other erasing it.
        p.add_argument(
            "--config",
            type=Path,
            metavar="FILE",
            default=argparse.SUPPRESS,
            help="JSON settings in the editor's shape (its models.modelsDir is used)",
        )

    common(parser)
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    p = sub.add_parser("list", help="catalogue and installed models with their state")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    common(p)
    p = sub.add_parser("download", help="download, verify and install a catalogue model")
    p.add_argument("name", help="catalogue name (see `models list`)")
    p.add_argument("--force", action="store_true", help="download again and replace an installed copy")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(p)
    p = sub.add_parser("import", help="install from a local archive or model folder (offline)")
    p.add_argument("path", type=Path, help=".tar.bz2/.tar.gz/.tar/.zip archive or model folder")
    p.add_argument(
        "--name", help="install under this name (default: the catalogue name the archive/folder matches, else its name)"
    )
    p.add_argument("--force", action="store_true", help="replace an installed model of that name")
    common(p)
    p = sub.add_parser("verify", help="check installed files against their SHA-256 and the layout")
    p.add_argument("name", nargs="?", help="one model (default: every installed model)")
    p.add_argument("--quick", action="store_true", help="compare sizes only, no hashing")
    p.add_argument("--json", action="store_true", help="print a JSON array of reports")
    common(p)
    p = sub.add_parser("remove", help="delete an installed model")
    p.add_argument("name")
    common(p)
    p = sub.add_parser("path", help="print the models folder, or the folder of one model")
    p.add_argument("name", nargs="?")
    common(p)
    parser.set_defaults(func=run)


def _store(args: argparse.Namespace) -> ModelStore:
    from swictation_rpc import paths
    from swictation_rpc.models.store import ModelStore

    models_dir = getattr(args, "models_dir", None)
    if models_dir is not None:
        return ModelStore(Path(models_dir).expanduser())
    options = load_options(args)
    return ModelStore(paths.models_dir(options.models.models_dir))


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "models_command", None) or "list"
    try:
        store = _store(args)
        return _ACTIONS[action](store, args)
    except SwictationError as exc:
        print_error(exc)
        return 1
    except KeyboardInterrupt:
        print("interrupted: a partial download is kept and resumes next time", file=sys.stderr)
        return 130


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


class _Row(TypedDict):
    """One model in ``models list --json`` (keys in output order)."""

    name: str
    title: str
    role: str | None
    layout: str | None
    inCatalogue: bool
    downloadSize: int | None
    approxDownloadSize: int | None
    sizeSource: str | None
    sha256Published: bool | None
    notes: list[str]
    installed: bool
    path: str | None
    installedSize: int | None
    trust: str | None
    problems: list[str]
    state: str


def _rows(store: ModelStore) -> list[_Row]:
    installed = {m.name: m for m in store.installed()}
    incomplete = set(store.incomplete())
    rows: list[_Row] = []
    names = list(store.catalogue) + sorted(n for n in installed if n not in store.catalogue)
    for name in names:
        entry = store.catalogue.get(name)
        model = installed.get(name)
        problems: list[str] = []
        if model is not None:
            report = store.verify(name, quick=True)
            state = "installed" if report.ok else "damaged"
            problems = report.problems
        else:
            state = "incomplete" if name in incomplete else "not installed"
        row: _Row = {
            "name": name,
            "title": entry.title if entry else "",
            "role": entry.role if entry else None,
            "layout": (entry.layout if entry else None) or (model.manifest.layout if model else None),
            "inCatalogue": entry is not None,
            "downloadSize": entry.download_size if entry else None,
            "approxDownloadSize": entry.approx_size if entry and entry.download_size is None else None,
            "sizeSource": entry.size_source if entry else None,
            "sha256Published": entry.pinned if entry else None,
            "notes": list(entry.notes) if entry else [],
            "installed": model is not None,
            "path": str(model.path) if model else None,
            "installedSize": model.size if model else None,
            "trust": model.manifest.trust if model else None,
            "problems": problems,
            "state": state,
        }
        rows.append(row)
    return rows


def _list(store: ModelStore, args: argparse.Namespace) -> int:
    rows = _rows(store)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'NAME':<28} {'ROLE':<9} {'LAYOUT':<7} {'SIZE':>9}  STATE"
    print(header)
    approximate = False
    for r in rows:
        if r["installed"]:
            size = _human(r["installedSize"])
        elif r["downloadSize"] is not None or r["approxDownloadSize"] is None:
            size = _human(r["downloadSize"])
        else:
            size, approximate = "~" + _human(r["approxDownloadSize"]), True
        state = r["state"]
        if r["problems"]:
            state += ": " + "; ".join(r["problems"][:2])
        elif r["trust"] == "first-use":
            state += " (no published checksum: trusted on first use)"
        print(f"{r['name']:<28} {r['role'] or '-':<9} {r['layout'] or '-':<7} {size:>9}  {state}")
        for note in r["notes"]:
            if "Known issue" in note:
                print(f"{'':<28}   note: {note}")
    if approximate:
        print("~ approximate download size: no exact byte count is published (sources: `models list --json`)")
    print(f"\nmodels folder: {store.root}", file=sys.stderr)
    return 0


class _Bars:
    """One tqdm bar per file, on stderr (stdout stays for results)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: tqdm[NoReturn] | None = None  # a bar over no iterable: tqdm[Never] in the stubs
        self.label: str | None = None

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None or p.label != self.label:
            self.close()
            self.label = p.label
            self.bar = tqdm(
                total=p.total,
                initial=p.done,
                desc=p.label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
            )
            return
        self.bar.update(p.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _download(store: ModelStore, args: argparse.Namespace) -> int:
    from swictation_rpc.models.catalogue import get_entry

    entry = get_entry(args.name, store.catalogue)
    existing = store.get(args.name)
    if existing is not None and not args.force:
        print(f"{args.name} is already installed (use --force to download it again)", file=sys.stderr)
        print(existing.path)
        return 0
    if not entry.pinned:
        print(
            f"note: no published SHA-256 for {entry.name}; the download is checked against its "
            "Content-Length and its hashes are recorded for `models verify` (trust on first use)",
            file=sys.stderr,
        )
    bars = _Bars(enabled=not args.no_progress)
    try:
        path = store.download(args.name, progress=bars, force=args.force)
    finally:
        bars.close()
    print(f"installed {args.name}", file=sys.stderr)
    print(path)
    return 0


def _import(store: ModelStore, args: argparse.Namespace) -> int:
    path = store.import_(args.path, name=args.name, force=args.force)
    model = store.get(path.name)
    trust = model.manifest.trust if model else "local"
    print(
        f"imported {path.name} ({'checksum matches the catalogue' if trust == 'catalogue' else 'local copy, hashes recorded'})",
        file=sys.stderr,
    )
    print(path)
    return 0


def _verify(store: ModelStore, args: argparse.Namespace) -> int:
    from swictation_rpc.converter import converter

    names = [args.name] if args.name else [m.name for m in store.installed()]
    reports = [store.verify(n, quick=args.quick) for n in names]
    if args.json:
        print(json.dumps([converter.unstructure(r) for r in reports], indent=2))
    elif not reports:
        print(f"no models installed in {store.root}", file=sys.stderr)
    for r in reports if not args.json else ():
        status = "ok" if r.ok else "FAILED"
        print(
            f"{r.name}: {status} ({r.files_checked} files{', sizes only' if not r.deep else ''};"
            f" layout {r.layout or 'unknown'})"
        )
        for p in r.problems:
            print(f"  problem: {p}")
        for w in r.warnings:
            print(f"  note: {w}", file=sys.stderr)
    if any(not r.ok for r in reports):
        bad = ", ".join(r.name for r in reports if not r.ok)
        print(f"error: {bad} failed verification", file=sys.stderr)
        print("  fix: run `swictation-rpc models download NAME --force` (or import a good copy)", file=sys.stderr)
        return 1
    return 0


def _remove(store: ModelStore, args: argparse.Namespace) -> int:
    store.remove(args.name)
    print(f"removed {args.name}", file=sys.stderr)
    return 0


def _path(store: ModelStore, args: argparse.Namespace) -> int:
    print(store.resolve(args.name) if args.name else store.root)
    return 0


_ACTIONS = {
    "list": _list,
    "download": _download,
    "import": _import,
    "verify": _verify,
    "remove": _remove,
    "path": _path,
}


def main(argv: list[str] | None = None) -> int:
    """Run ``models`` on its own (``python -m swictation_rpc.commands.models ...``)."""
    parser = argparse.ArgumentParser(prog="swictation-rpc models")
    _configure(parser)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())

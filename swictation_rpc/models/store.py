"""The on-disk model store: install, find, verify and remove speech models.

Layout under the root (``paths.models_dir(options.models.models_dir)``), all user-only::

    <root>/<name>/                    an installed model: its files + swictation-model.json
    <root>/.downloads/<name>/...      transfers in progress (``*.part``, resumable)
    <root>/.staging/<name>-XXXX/      extraction/copy in progress, then renamed into place

A model is installed when ``<root>/<name>/swictation-model.json`` exists. Everything is assembled
in ``.staging`` (same filesystem), the manifest is written last, and one ``rename`` publishes the
folder — so an interrupted download, extraction or import never looks installed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from swictation_rpc import paths
from swictation_rpc.converter import converter
from swictation_rpc.errors import ModelBrokenError, ModelDownloadError, ModelNotInstalledError, SwictationError
from swictation_rpc.models.catalogue import (
    CatalogueEntry,
    check_matches_entry,
    check_model_name,
    get_entry,
    load_catalogue,
)
from swictation_rpc.models.download import (
    CorruptArchiveError,
    FileRecord,
    ProgressCallback,
    UnsafeArchiveError,
    fetch,
    hash_file,
    hash_stream,
    safe_extract,
)
from swictation_rpc.models.files import FileTooLargeError, NotRegularFileError, open_regular, read_regular

log = logging.getLogger(__name__)

MANIFEST_NAME = "swictation-model.json"
MANIFEST_FORMAT = 1
#: A manifest lists every file of a model: a few KB; anything past this is not one.
MAX_MANIFEST_BYTES = 32 << 20
#: tokens.txt of the largest vocabularies is well under 1 MB.
MAX_TOKENS_BYTES = 16 << 20
_ARCHIVE_SUFFIXES = (".tar.bz2", ".tbz2", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar", ".zip")


@attrs.frozen
class ModelManifest:
    """What was installed and how far it is trusted; written last, read by ``verify``."""

    name: str
    files: dict[str, FileRecord]
    origin: str
    """"download" or "import"."""
    source: str
    """The URL(s) or the imported path."""
    trust: str
    """"catalogue" (matched a published SHA-256), "first-use" (none published: recorded
    here on first download) or "local" (imported without a published checksum)."""
    installed_at: str
    layout: str | None = None
    archive_sha256: str | None = None
    archive_size: int | None = None
    format_version: int = MANIFEST_FORMAT


@attrs.frozen
class InstalledModel:
    name: str
    path: Path
    manifest: ModelManifest
    entry: CatalogueEntry | None
    """The catalogue entry of the same name, when there is one."""

    @property
    def size(self) -> int:
        return sum(r.size for r in self.manifest.files.values())


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


# ---------------------------------------------------------------------------------------------
# Structure checks (layout.py owns the deep check; this is the fallback and the import gate)

_SHERPA_PARTS = ("encoder", "decoder", "joiner")


def _guess_layout(folder: Path) -> str | None:
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


def _basic_structure(folder: Path, entry: CatalogueEntry | None) -> tuple[str | None, list[str]]:
    problems: list[str] = []
    layout = _guess_layout(folder)
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


def _layout_check(folder: Path) -> tuple[str | None, list[str]] | None:
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


# ---------------------------------------------------------------------------------------------
# Filesystem helpers


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return path


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _write_manifest(folder: Path, manifest: ModelManifest) -> None:
    data = json.dumps(converter.unstructure(manifest), indent=2, sort_keys=True) + "\n"
    tmp = folder / (MANIFEST_NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST_NAME)


def _read_manifest(folder: Path) -> ModelManifest | None:
    return _load_manifest(folder)[0]


def _load_manifest(folder: Path) -> tuple[ModelManifest | None, str | None]:
    """The manifest, or ``None`` and why it cannot be used (``None`` too when there is none).

    Read as a regular file of bounded size: a FIFO in its place must not hang ``models list``
    or the server's load (issue 19, item 7).
    """
    path = folder / MANIFEST_NAME
    try:
        raw = json.loads(read_regular(path, MAX_MANIFEST_BYTES).decode("utf-8"))
        return converter.structure(raw, ModelManifest), None
    except FileNotFoundError:
        return None, None
    except NotRegularFileError as exc:
        problem = f"it is {exc.kind}, not a regular file"
    except FileTooLargeError:
        problem = f"it is larger than {MAX_MANIFEST_BYTES >> 20} MB"
    except OSError as exc:
        problem = f"it cannot be read: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - JSON, UTF-8 or shape: all mean damaged
        problem = f"it is not a valid manifest: {type(exc).__name__}: {str(exc)[:200]}"
    log.warning("ignoring the damaged manifest %s: %s", path, problem)
    return None, problem


def _damaged_manifest(name: str, folder: Path, problem: str) -> ModelBrokenError:
    return ModelBrokenError(
        f"The model {name} is installed in {folder}, but its manifest {MANIFEST_NAME} is damaged ({problem})",
        remedy=f"Reinstall it: `swictation-rpc models download {name} --force` for a catalogue model, or"
        f" `swictation-rpc models import PATH --name {name} --force`; `swictation-rpc models remove {name}`"
        " deletes it.",
        model=name,
        file=str(folder / MANIFEST_NAME),
    )


def _open_archive(src: Path) -> BinaryIO:
    """An archive to import, opened: a regular, non-empty file (not /dev/zero, a FIFO, /proc)."""
    remedy = "Give the path of a model archive (.tar.bz2, .tar.gz, .tar, .zip) or of a model folder."
    try:
        f = open_regular(src)
    except NotRegularFileError as exc:
        raise ModelDownloadError(
            f"Refusing to import {src}: it is {exc.kind}, not a regular file", remedy=remedy
        ) from None
    except OSError as exc:
        raise ModelDownloadError(f"Cannot read {src}: {exc.strerror or exc}", remedy=remedy) from exc
    if os.fstat(f.fileno()).st_size == 0:
        f.close()
        raise ModelDownloadError(
            f"Refusing to import {src}: it is empty (0 bytes; files under /proc and /sys say so too)", remedy=remedy
        )
    return f


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _archive_stem(path: Path) -> str:
    name = path.name
    for suffix in _ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _model_root(unpacked: Path, top_folder: str | None) -> Path:
    """The folder that holds the model files: the archive's top folder, stripped."""
    if top_folder and (unpacked / top_folder).is_dir():
        return unpacked / top_folder
    entries = list(unpacked.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def _rekey(records: dict[str, FileRecord], unpacked: Path, root: Path) -> dict[str, FileRecord]:
    if root == unpacked:
        return dict(records)
    prefix = root.relative_to(unpacked).as_posix() + "/"
    return {k[len(prefix) :]: v for k, v in records.items() if k.startswith(prefix)}


def _copy_tree(src: Path, dest: Path) -> dict[str, FileRecord]:
    """Copy a local model folder: regular files and folders only, hashed on the way."""
    records: dict[str, FileRecord] = {}
    _private_dir(dest)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(src)
        for name in list(dirnames) + filenames:
            p = here / name
            mode = os.lstat(p).st_mode
            rel = (rel_dir / name).as_posix()
            if stat.S_ISLNK(mode):
                raise ModelDownloadError(
                    f"Refusing to import {src}: {rel} is a symbolic link",
                    remedy="Copy the real files into the folder (no links) and import it again.",
                )
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise ModelDownloadError(
                    f"Refusing to import {src}: {rel} is a device, FIFO or socket",
                    remedy="A model folder holds only regular files and folders.",
                )
        for name in dirnames:
            _private_dir(dest / rel_dir / name)
        for name in filenames:
            s = here / name
            t = dest / rel_dir / name
            try:
                fin = open_regular(s)  # checked again on the descriptor: a file swapped for a FIFO
            except OSError as exc:
                raise ModelDownloadError(
                    f"Refusing to import {src}: {(rel_dir / name).as_posix()} cannot be read ({exc})",
                    remedy="A model folder holds only regular files and folders the user can read.",
                ) from exc
            fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            h = hashlib.sha256()
            size = 0
            with fin, os.fdopen(fd, "wb") as fout:
                while chunk := fin.read(1 << 20):
                    fout.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
            records[(rel_dir / name).as_posix()] = FileRecord(size, h.hexdigest())
    if not records:
        raise ModelDownloadError(f"{src} is empty", remedy="Import a folder that holds a model.")
    return records


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """One install/remove per model at a time (two CLIs, or the server and a CLI)."""
    _private_dir(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: best effort, no lock
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ModelDownloadError(
                f"Another swictation-rpc process is installing or removing {lock_path.stem}",
                remedy="Wait for it to finish, then try again.",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------


class ModelStore:
    """Installed models under one root folder. Cheap to build; touches the disk only on use."""

    def __init__(self, root: Path | None = None, catalogue: dict[str, CatalogueEntry] | None = None):
        self.root = Path(root) if root is not None else paths.models_dir()
        self._catalogue = catalogue

    @classmethod
    def from_options(cls, options: Any) -> ModelStore:
        return cls(paths.models_dir(options.models.models_dir))

    @property
    def catalogue(self) -> dict[str, CatalogueEntry]:
        if self._catalogue is None:
            self._catalogue = load_catalogue()
        return self._catalogue

    # -- queries ----------------------------------------------------------------------------

    def path_for(self, name: str) -> Path:
        return self.root / check_model_name(name)

    def manifest_problem(self, name: str) -> str | None:
        """Why the manifest of an installed-looking folder cannot be used, if it cannot."""
        folder = self.path_for(name)
        if not folder.is_dir() or folder.is_symlink():
            return None
        return _load_manifest(folder)[1]

    def get(self, name: str) -> InstalledModel | None:
        folder = self.path_for(name)
        if not folder.is_dir() or folder.is_symlink():
            return None
        manifest = _read_manifest(folder)
        if manifest is None:
            return None
        return InstalledModel(name, folder, manifest, self.catalogue.get(name))

    def installed(self) -> list[InstalledModel]:
        if not self.root.is_dir():
            return []
        found = []
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") or not child.is_dir():
                continue
            try:
                model = self.get(child.name)
            except ModelDownloadError:  # a folder whose name is not a valid model name
                continue
            if model is not None:
                found.append(model)
        return found

    def incomplete(self) -> list[str]:
        """Folders under the root without a manifest (not installed; e.g. copied by hand)."""
        if not self.root.is_dir():
            return []
        return sorted(
            c.name
            for c in self.root.iterdir()
            if c.is_dir() and not c.name.startswith(".") and not (c / MANIFEST_NAME).is_file()
        )

    def resolve(self, name_or_path: str | os.PathLike[str]) -> Path:
        """A model folder for a catalogue/installed name, or a folder path taken as is."""
        text = os.fspath(name_or_path)
        looks_like_path = (
            isinstance(name_or_path, os.PathLike)
            or os.sep in text
            or (os.altsep is not None and os.altsep in text)
            or text.startswith(("~", "."))
        )
        if looks_like_path:
            folder = Path(text).expanduser()
            if folder.is_dir():
                return folder
            raise ModelNotInstalledError(
                f"Model folder {folder} does not exist",
                remedy="Set the model to an existing folder or to a name from `swictation-rpc models list`.",
                model=text,
            )
        try:
            check_model_name(text)
        except ModelDownloadError:
            raise ModelNotInstalledError(
                f"{text!r} is neither a model name nor a model folder",
                remedy="See `swictation-rpc models list`.",
                model=text,
            ) from None
        model = self.get(text)
        if model is not None:
            return model.path
        if (problem := self.manifest_problem(text)) is not None:
            raise _damaged_manifest(text, self.path_for(text), problem)
        if text in self.catalogue:
            raise ModelNotInstalledError(
                f"The model {text} is not installed (looked in {self.root})",
                remedy=f"Run `swictation-rpc models download {text}`, or on an offline machine"
                f" `swictation-rpc models import PATH --name {text}` with the archive or folder.",
                model=text,
            )
        if Path(text).is_dir():
            return Path(text)
        raise ModelNotInstalledError(
            f"Unknown model {text!r} (not in the catalogue, not installed in {self.root})",
            remedy="Known models: "
            + ", ".join(sorted(self.catalogue))
            + ". Or give a model folder path, or `swictation-rpc models import PATH`.",
            model=text,
        )

    # -- install ----------------------------------------------------------------------------

    def _dirs(self) -> tuple[Path, Path, Path]:
        root = paths.ensure_private_dir(self.root)
        return root, _private_dir(root / ".staging"), _private_dir(root / ".downloads")

    def _clear_stale_staging(self, name: str) -> None:
        staging = self.root / ".staging"
        if staging.is_dir():
            for leftover in staging.glob(f"{name}-*"):
                log.info("removing leftover staging folder %s", leftover)
                _rmtree(leftover)

    def _publish(self, built: Path, name: str, *, force: bool) -> Path:
        final = self.path_for(name)
        if final.exists() or final.is_symlink():
            if not force:
                raise ModelDownloadError(
                    f"{final} already exists",
                    remedy=f"Use --force to replace it, or `swictation-rpc models remove {name}`.",
                )
            trash = built.parent / "replaced"
            os.rename(final, trash)
        os.rename(built, final)
        _fsync_dir(self.root)
        return final

    def download(
        self,
        name: str,
        progress: ProgressCallback | None = None,
        *,
        force: bool = False,
        retries: int = 2,
        timeout: float = 30.0,
    ) -> Path:
        """Fetch, verify, unpack and publish a catalogue model; returns its folder.

        An installed model is returned as is unless ``force``. A transfer cut short is resumed
        on the next call (its ``.part`` stays in ``.downloads``).
        """
        entry = get_entry(name, self.catalogue)
        if not force and (existing := self.get(name)) is not None:
            return existing.path
        _, staging_root, downloads = self._dirs()
        with _locked(downloads / f"{name}.lock"):
            self._clear_stale_staging(name)
            dl_dir = _private_dir(downloads / name)
            staging = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=staging_root))
            try:
                if entry.kind == "archive":
                    built, manifest = self._download_archive(entry, dl_dir, staging, progress, retries, timeout)
                else:
                    built, manifest = self._download_files(entry, dl_dir, staging, progress, retries, timeout)
                self._check_structure(built, entry, name)
                _write_manifest(built, manifest)
                final = self._publish(built, name, force=force)
            finally:
                _rmtree(staging)
            _rmtree(dl_dir)
            log.info("installed %s at %s (trust: %s)", name, final, manifest.trust)
            return final

    def _download_archive(
        self,
        entry: CatalogueEntry,
        dl_dir: Path,
        staging: Path,
        progress: ProgressCallback | None,
        retries: int,
        timeout: float,
    ) -> tuple[Path, ModelManifest]:
        remote = entry.downloads[0]
        archive = dl_dir / Path(remote.path).name
        result = fetch(
            remote.url,
            archive,
            size=remote.size,
            sha256=remote.sha256,
            progress=progress,
            label=archive.name,
            retries=retries,
            timeout=timeout,
        )
        unpacked = staging / "unpacked"
        try:
            records = safe_extract(archive, unpacked)
        except (CorruptArchiveError, UnsafeArchiveError):
            archive.unlink(missing_ok=True)  # damaged or hostile: never reuse it
            raise
        root = _model_root(unpacked, entry.top_folder)
        manifest = ModelManifest(
            name=entry.name,
            files=_rekey(records, unpacked, root),
            origin="download",
            source=remote.url,
            trust="catalogue" if remote.sha256 else "first-use",
            installed_at=_now(),
            layout=entry.layout,
            archive_sha256=result.sha256,
            archive_size=result.size,
        )
        return root, manifest

    def _download_files(
        self,
        entry: CatalogueEntry,
        dl_dir: Path,
        staging: Path,
        progress: ProgressCallback | None,
        retries: int,
        timeout: float,
    ) -> tuple[Path, ModelManifest]:
        fetched = []
        for remote in entry.downloads:
            dest = dl_dir.joinpath(*remote.path.split("/"))
            _private_dir(dest.parent)
            result = fetch(
                remote.url,
                dest,
                size=remote.size,
                sha256=remote.sha256,
                progress=progress,
                label=remote.path,
                optional=remote.optional,
                retries=retries,
                timeout=timeout,
            )
            if not result.skipped:
                fetched.append((remote, result))
        built = _private_dir(staging / "model")
        records = {}
        for remote, result in fetched:
            target = built.joinpath(*remote.path.split("/"))
            _private_dir(target.parent)
            os.replace(result.path, target)
            records[remote.path] = FileRecord(result.size, result.sha256)
        pinned = all(r.sha256 for r, _ in fetched)
        manifest = ModelManifest(
            name=entry.name,
            files=records,
            origin="download",
            source=" ".join(r.url for r, _ in fetched),
            trust="catalogue" if pinned else "first-use",
            installed_at=_now(),
            layout=entry.layout,
        )
        return built, manifest

    def _check_structure(self, folder: Path, entry: CatalogueEntry | None, name: str) -> None:
        """Refuse to publish a folder that cannot be a model (missing required files)."""
        _, problems = _basic_structure(folder, entry)
        fatal = [p for p in problems if "missing" in p or "not a recognised" in p or "empty" in p]
        if fatal:
            raise ModelDownloadError(
                f"{name} is incomplete: " + "; ".join(fatal),
                remedy="Nothing was installed. Check that the archive or folder is the model"
                " release itself (see `swictation-rpc models list` for the expected files).",
            )

    def import_(self, path: str | os.PathLike[str], name: str | None = None, *, force: bool = False) -> Path:
        """Install from a local archive or folder (offline machines); same checks as download."""
        src = Path(path).expanduser()
        if not src.exists():
            raise ModelDownloadError(
                f"Nothing to import at {src}", remedy="Give the path of a model archive or folder."
            )
        if not src.is_dir():
            _open_archive(src).close()  # refused before anything is created
        entry, remote = self._match_catalogue(src, name)
        if name is None:
            name = entry.name if entry is not None else (src.name if src.is_dir() else _archive_stem(src))
        check_model_name(name)
        entry = entry if entry is not None else self.catalogue.get(name)
        if not force and self.get(name) is not None:
            raise ModelDownloadError(
                f"{name} is already installed at {self.path_for(name)}",
                remedy="Use --force to replace it, or pick another --name.",
            )
        _, staging_root, downloads = self._dirs()
        with _locked(downloads / f"{name}.lock"):
            self._clear_stale_staging(name)
            staging = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=staging_root))
            try:
                archive_sha = archive_size = None
                trust = "local"
                if src.is_dir():
                    built = staging / "model"
                    records = _copy_tree(src, built)
                else:
                    # One descriptor, checked regular, for the checksum and the extraction alike.
                    with _open_archive(src) as archive:
                        archive_size = os.fstat(archive.fileno()).st_size
                        try:
                            archive_sha = hash_stream(archive).hexdigest()
                        except OSError as exc:
                            raise ModelDownloadError(
                                f"Cannot read {src}: {exc.strerror or exc}", remedy="Check the file and try again."
                            ) from exc
                        if remote is not None and remote.sha256:
                            if archive_sha != remote.sha256 or (
                                remote.size is not None and archive_size != remote.size
                            ):
                                raise ModelDownloadError(
                                    f"Checksum mismatch for {src.name}: the catalogue expects sha256"
                                    f" {remote.sha256}, the file has {archive_sha}",
                                    remedy="Nothing was installed. Fetch the archive again from " + remote.url,
                                    expected=remote.sha256,
                                    actual=archive_sha,
                                )
                            trust = "catalogue"
                        unpacked = staging / "unpacked"
                        records = safe_extract(src, unpacked, fileobj=archive)
                    built = _model_root(unpacked, entry.top_folder if entry else None)
                    records = _rekey(records, unpacked, built)
                manifest = ModelManifest(
                    name=name,
                    files=records,
                    origin="import",
                    source=str(src.resolve()),
                    trust=trust,
                    installed_at=_now(),
                    layout=(entry.layout if entry else None) or _guess_layout(built),
                    archive_sha256=archive_sha,
                    archive_size=archive_size,
                )
                if entry is not None:
                    # A catalogue name promises that model: its layout, transducer and mel bins.
                    check_matches_entry(built, entry)
                self._check_structure(built, entry, name)
                _write_manifest(built, manifest)
                final = self._publish(built, name, force=force)
            finally:
                _rmtree(staging)
        log.info("imported %s from %s into %s", name, src, final)
        return final

    def _match_catalogue(self, src: Path, name: str | None):  # type: ignore[no-untyped-def]
        """The catalogue entry (and its download) this archive/folder is a copy of, if any."""
        if name is not None and name in self.catalogue:
            entry = self.catalogue[name]
            remote = next(
                (d for d in entry.downloads if Path(d.path).name == src.name and entry.kind == "archive"),
                None,
            )
            return entry, remote
        for entry in self.catalogue.values():
            if src.is_dir() and entry.top_folder == src.name:
                return entry, None
            if entry.kind == "archive" and Path(entry.downloads[0].path).name == src.name:
                return entry, entry.downloads[0]
        return None, None

    # -- verify / remove --------------------------------------------------------------------

    def verify(self, name: str, *, quick: bool = False) -> VerifyReport:
        """Compare the files with the manifest (SHA-256 unless ``quick``) and check the layout."""
        model = self.get(name)
        if model is None and (problem := self.manifest_problem(name)) is not None:
            raise _damaged_manifest(name, self.path_for(name), problem)
        if model is None:
            raise ModelNotInstalledError(
                f"The model {name} is not installed (looked in {self.root})",
                remedy=f"Run `swictation-rpc models download {name}` or"
                f" `swictation-rpc models import PATH --name {name}`.",
                model=name,
            )
        problems: list[str] = []
        warnings: list[str] = []
        folder = model.path
        for rel, record in sorted(model.manifest.files.items()):
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
        known = set(model.manifest.files) | {MANIFEST_NAME}
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder).as_posix()
            if p.is_file() and rel not in known:
                warnings.append(f"{rel} is not part of the installed model")
        checked = _layout_check(folder)
        if checked is None:
            layout, structure = _basic_structure(folder, model.entry)
        else:
            layout, structure = checked
            layout = layout or model.manifest.layout
        problems.extend(structure)
        if model.manifest.trust == "first-use":
            warnings.append(
                "no published SHA-256 for this model: its files are checked against the hashes"
                " recorded when it was downloaded (trust on first use)"
            )
        return VerifyReport(
            name=name,
            path=str(folder),
            ok=not problems,
            files_checked=len(model.manifest.files),
            layout=layout,
            problems=problems,
            warnings=warnings,
            trust=model.manifest.trust,
            deep=not quick,
        )

    def remove(self, name: str) -> None:
        """Delete an installed model (and any download in progress for it)."""
        folder = self.path_for(name)
        downloads = self.root / ".downloads"
        if not folder.exists() and not (downloads / name).exists():
            raise ModelNotInstalledError(
                f"The model {name} is not installed (looked in {self.root})",
                remedy="See `swictation-rpc models list`.",
                model=name,
            )
        _, staging_root, downloads = self._dirs()
        with _locked(downloads / f"{name}.lock"):
            if folder.exists() or folder.is_symlink():
                trash = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=staging_root)) / "removed"
                os.rename(folder, trash)  # gone from view at once, then deleted
                _fsync_dir(self.root)
                _rmtree(trash.parent)
            _rmtree(downloads / name)
        log.info("removed %s", name)

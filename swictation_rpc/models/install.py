"""Installing a model into the store: download a catalogue model, or import a local archive or folder.

Both assemble the model in ``<root>/.staging`` under the model's lock, check its structure (and,
for a catalogue name, that it is that model), write the manifest last and publish the folder
with one ``rename``, so an interrupted install never looks installed. An archive is checked
against the catalogue's size and SHA-256 before it is unpacked.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from swictation_rpc import paths
from swictation_rpc.errors import ModelDownloadError
from swictation_rpc.models.archive import CorruptArchiveError, UnsafeArchiveError, safe_extract
from swictation_rpc.models.catalogue import CatalogueEntry, RemoteFile, check_matches_entry, check_model_name, get_entry
from swictation_rpc.models.checks import check_structure, guess_layout
from swictation_rpc.models.download import DownloadCancelled, ProgressCallback, fetch
from swictation_rpc.models.files import FileRecord, hash_stream
from swictation_rpc.models.manifest import InstalledModel, ModelManifest, now, write_manifest
from swictation_rpc.models.staging import (
    archive_stem,
    copy_tree,
    fsync_dir,
    locked,
    model_root,
    open_archive,
    private_dir,
    rekey,
    rmtree,
)

log = logging.getLogger(__name__)


class Store(Protocol):
    """What installing needs of :class:`~swictation_rpc.models.store.ModelStore` (which calls in here)."""

    root: Path

    @property
    def catalogue(self) -> dict[str, CatalogueEntry]: ...

    def path_for(self, name: str) -> Path: ...

    def get(self, name: str) -> InstalledModel | None: ...


def download(
    store: Store,
    name: str,
    progress: ProgressCallback | None = None,
    *,
    force: bool = False,
    retries: int = 2,
    timeout: float = 30.0,
    cancelled: Callable[[], bool] | None = None,
) -> Path:
    """Fetch, verify, unpack and publish a catalogue model; returns its folder.

    An installed model is returned as is unless ``force``. A transfer cut short is resumed
    on the next call (its ``.part`` stays in ``.downloads``). ``cancelled`` is asked between
    the steps (before each file, before unpacking, before publishing): when it says so,
    :class:`DownloadCancelled` is raised and nothing is installed. To stop a transfer mid-file,
    raise it from ``progress``.
    """
    entry = get_entry(name, store.catalogue)
    if not force and (existing := store.get(name)) is not None:
        return existing.path

    def check() -> None:
        if cancelled is not None and cancelled():
            raise DownloadCancelled(name)

    check()
    _, staging_root, downloads = store_dirs(store.root)
    with locked(downloads / f"{name}.lock"):
        _clear_stale_staging(store.root, name)
        dl_dir = private_dir(downloads / name)
        staging = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=staging_root))
        try:
            if entry.kind == "archive":
                built, manifest = _download_archive(entry, dl_dir, staging, progress, retries, timeout, check)
            else:
                built, manifest = _download_files(entry, dl_dir, staging, progress, retries, timeout, check)
            check_structure(built, entry, name)
            write_manifest(built, manifest)
            check()
            final = _publish(store, built, name, force=force)
        finally:
            rmtree(staging)
        rmtree(dl_dir)
        log.info("installed %s at %s (trust: %s)", name, final, manifest.trust)
        return final


def _download_archive(
    entry: CatalogueEntry,
    dl_dir: Path,
    staging: Path,
    progress: ProgressCallback | None,
    retries: int,
    timeout: float,
    check: Callable[[], None],
) -> tuple[Path, ModelManifest]:
    remote = entry.downloads[0]
    archive = dl_dir / Path(remote.path).name
    check()
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
    check()
    unpacked = staging / "unpacked"
    try:
        records = safe_extract(archive, unpacked)
    except (CorruptArchiveError, UnsafeArchiveError):
        archive.unlink(missing_ok=True)  # damaged or hostile: never reuse it
        raise
    root = model_root(unpacked, entry.top_folder)
    manifest = ModelManifest(
        name=entry.name,
        files=rekey(records, unpacked, root),
        origin="download",
        source=remote.url,
        trust="catalogue" if remote.sha256 else "first-use",
        installed_at=now(),
        layout=entry.layout,
        archive_sha256=result.sha256,
        archive_size=result.size,
    )
    return root, manifest


def _download_files(
    entry: CatalogueEntry,
    dl_dir: Path,
    staging: Path,
    progress: ProgressCallback | None,
    retries: int,
    timeout: float,
    check: Callable[[], None],
) -> tuple[Path, ModelManifest]:
    fetched = []
    for remote in entry.downloads:
        check()
        dest = dl_dir.joinpath(*remote.path.split("/"))
        private_dir(dest.parent)
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
    check()
    built = private_dir(staging / "model")
    records = {}
    for remote, result in fetched:
        target = built.joinpath(*remote.path.split("/"))
        private_dir(target.parent)
        os.replace(result.path, target)
        records[remote.path] = FileRecord(result.size, result.sha256)
    pinned = all(r.sha256 for r, _ in fetched)
    manifest = ModelManifest(
        name=entry.name,
        files=records,
        origin="download",
        source=" ".join(r.url for r, _ in fetched),
        trust="catalogue" if pinned else "first-use",
        installed_at=now(),
        layout=entry.layout,
    )
    return built, manifest


def import_model(store: Store, path: str | os.PathLike[str], name: str | None = None, *, force: bool = False) -> Path:
    """Install from a local archive or folder (offline machines); same checks as download."""
    src = Path(path).expanduser()
    if not src.exists():
        raise ModelDownloadError(f"Nothing to import at {src}", remedy="Give the path of a model archive or folder.")
    if not src.is_dir():
        open_archive(src).close()  # refused before anything is created
    entry, remote = match_catalogue(store.catalogue, src, name)
    if name is None:
        name = entry.name if entry is not None else (src.name if src.is_dir() else archive_stem(src))
    check_model_name(name)
    entry = entry if entry is not None else store.catalogue.get(name)
    if not force and store.get(name) is not None:
        raise ModelDownloadError(
            f"{name} is already installed at {store.path_for(name)}",
            remedy="Use --force to replace it, or pick another --name.",
        )
    _, staging_root, downloads = store_dirs(store.root)
    with locked(downloads / f"{name}.lock"):
        _clear_stale_staging(store.root, name)
        staging = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=staging_root))
        try:
            archive_sha = archive_size = None
            trust = "local"
            if src.is_dir():
                built = staging / "model"
                records = copy_tree(src, built)
            else:
                # One descriptor, checked regular, for the checksum and the extraction alike.
                with open_archive(src) as archive:
                    archive_size = os.fstat(archive.fileno()).st_size
                    try:
                        archive_sha = hash_stream(archive).hexdigest()
                    except OSError as exc:
                        raise ModelDownloadError(
                            f"Cannot read {src}: {exc.strerror or exc}", remedy="Check the file and try again."
                        ) from exc
                    if remote is not None and remote.sha256:
                        if archive_sha != remote.sha256 or (remote.size is not None and archive_size != remote.size):
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
                built = model_root(unpacked, entry.top_folder if entry else None)
                records = rekey(records, unpacked, built)
            manifest = ModelManifest(
                name=name,
                files=records,
                origin="import",
                source=str(src.resolve()),
                trust=trust,
                installed_at=now(),
                layout=(entry.layout if entry else None) or guess_layout(built),
                archive_sha256=archive_sha,
                archive_size=archive_size,
            )
            if entry is not None:
                # A catalogue name promises that model: its layout, transducer and mel bins.
                check_matches_entry(built, entry)
            check_structure(built, entry, name)
            write_manifest(built, manifest)
            final = _publish(store, built, name, force=force)
        finally:
            rmtree(staging)
    log.info("imported %s from %s into %s", name, src, final)
    return final


def match_catalogue(
    catalogue: dict[str, CatalogueEntry], src: Path, name: str | None
) -> tuple[CatalogueEntry | None, RemoteFile | None]:
    """The catalogue entry (and its download) this archive/folder is a copy of, if any."""
    if name is not None and name in catalogue:
        entry = catalogue[name]
        remote = next(
            (d for d in entry.downloads if Path(d.path).name == src.name and entry.kind == "archive"),
            None,
        )
        return entry, remote
    for entry in catalogue.values():
        if src.is_dir() and entry.top_folder == src.name:
            return entry, None
        if entry.kind == "archive" and Path(entry.downloads[0].path).name == src.name:
            return entry, entry.downloads[0]
    return None, None


def store_dirs(root: Path) -> tuple[Path, Path, Path]:
    """The root, its ``.staging`` and its ``.downloads``, created private when missing."""
    root = paths.ensure_private_dir(root)
    return root, private_dir(root / ".staging"), private_dir(root / ".downloads")


def _clear_stale_staging(root: Path, name: str) -> None:
    staging = root / ".staging"
    if staging.is_dir():
        for leftover in staging.glob(f"{name}-*"):
            log.info("removing leftover staging folder %s", leftover)
            rmtree(leftover)


def _publish(store: Store, built: Path, name: str, *, force: bool) -> Path:
    final = store.path_for(name)
    if final.exists() or final.is_symlink():
        if not force:
            raise ModelDownloadError(
                f"{final} already exists",
                remedy=f"Use --force to replace it, or `swictation-rpc models remove {name}`.",
            )
        trash = built.parent / "replaced"
        os.rename(final, trash)
    os.rename(built, final)
    fsync_dir(store.root)
    return final

"""The on-disk model store: find, install, verify and remove speech models.

Layout under the root (``paths.models_dir(options.models.models_dir)``), all user-only::

    <root>/<name>/                    an installed model: its files + swictation-model.json
    <root>/.downloads/<name>/...      transfers in progress (``*.part``, resumable)
    <root>/.staging/<name>-XXXX/      extraction/copy in progress, then renamed into place

A model is installed when ``<root>/<name>/swictation-model.json`` exists. Everything is assembled
in ``.staging`` (same filesystem), the manifest is written last, and one ``rename`` publishes the
folder — so an interrupted download, extraction or import never looks installed.

Where each part lives: :mod:`.install` (download and import), :mod:`.manifest` (the manifest),
:mod:`.checks` (structure checks, files against the manifest), :mod:`.staging` (private folders,
copies, locks), :mod:`.download` (HTTP), :mod:`.archive` (unpacking), :mod:`.layout` (the
engine's own folder check).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swictation_rpc import paths
from swictation_rpc.errors import ModelDownloadError, ModelNotInstalledError
from swictation_rpc.models import install
from swictation_rpc.models.catalogue import CatalogueEntry, check_model_name, load_catalogue
from swictation_rpc.models.checks import VerifyReport, basic_structure, compare_files, layout_check
from swictation_rpc.models.download import ProgressCallback
from swictation_rpc.models.manifest import (
    MANIFEST_NAME,
    InstalledModel,
    ModelManifest,
    damaged_manifest,
    load_manifest,
    read_manifest,
)
from swictation_rpc.models.staging import fsync_dir, locked, rmtree

__all__ = ["MANIFEST_NAME", "InstalledModel", "ModelManifest", "ModelStore", "VerifyReport"]

log = logging.getLogger(__name__)


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
        return load_manifest(folder)[1]

    def get(self, name: str) -> InstalledModel | None:
        folder = self.path_for(name)
        if not folder.is_dir() or folder.is_symlink():
            return None
        manifest = read_manifest(folder)
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
            raise damaged_manifest(text, self.path_for(text), problem)
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

    def download(
        self,
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
        on the next call (its ``.part`` stays in ``.downloads``). Cancelling (``cancelled()``
        true between steps, or :class:`~swictation_rpc.models.download.DownloadCancelled` raised
        from ``progress`` mid-transfer) installs nothing.
        """
        return install.download(
            self, name, progress, force=force, retries=retries, timeout=timeout, cancelled=cancelled
        )

    def import_(self, path: str | os.PathLike[str], name: str | None = None, *, force: bool = False) -> Path:
        """Install from a local archive or folder (offline machines); same checks as download."""
        return install.import_model(self, path, name, force=force)

    # -- verify / remove --------------------------------------------------------------------

    def verify(self, name: str, *, quick: bool = False) -> VerifyReport:
        """Compare the files with the manifest (SHA-256 unless ``quick``) and check the layout."""
        model = self.get(name)
        if model is None and (problem := self.manifest_problem(name)) is not None:
            raise damaged_manifest(name, self.path_for(name), problem)
        if model is None:
            raise ModelNotInstalledError(
                f"The model {name} is not installed (looked in {self.root})",
                remedy=f"Run `swictation-rpc models download {name}` or"
                f" `swictation-rpc models import PATH --name {name}`.",
                model=name,
            )
        folder = model.path
        problems, warnings = compare_files(folder, model.manifest, quick=quick)
        checked = layout_check(folder)
        if checked is None:
            layout, structure = basic_structure(folder, model.entry)
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
        _, staging_root, downloads = install.store_dirs(self.root)
        with locked(downloads / f"{name}.lock"):
            if folder.exists() or folder.is_symlink():
                trash = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=staging_root)) / "removed"
                os.rename(folder, trash)  # gone from view at once, then deleted
                fsync_dir(self.root)
                rmtree(trash.parent)
            rmtree(downloads / name)
        log.info("removed %s", name)

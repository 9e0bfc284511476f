"""The installed model's manifest (``swictation-model.json``): what was installed and how far it is trusted.

Written last into the staged folder, so a folder with a manifest is an installed model; read as a
regular file of bounded size, and a damaged one is reported with how to reinstall.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from pathlib import Path

import attrs

from swictation_rpc.converter import converter
from swictation_rpc.errors import ModelBrokenError
from swictation_rpc.models.catalogue import CatalogueEntry
from swictation_rpc.models.files import FileRecord, FileTooLargeError, NotRegularFileError, read_regular

log = logging.getLogger(__name__)


MANIFEST_NAME = "swictation-model.json"


MANIFEST_FORMAT = 1


#: A manifest lists every file of a model: a few KB; anything past this is not one.
MAX_MANIFEST_BYTES = 32 << 20


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


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_manifest(folder: Path, manifest: ModelManifest) -> None:
    data = json.dumps(converter.unstructure(manifest), indent=2, sort_keys=True) + "\n"
    tmp = folder / (MANIFEST_NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST_NAME)


def read_manifest(folder: Path) -> ModelManifest | None:
    return load_manifest(folder)[0]


def load_manifest(folder: Path) -> tuple[ModelManifest | None, str | None]:
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


def damaged_manifest(name: str, folder: Path, problem: str) -> ModelBrokenError:
    return ModelBrokenError(
        f"The model {name} is installed in {folder}, but its manifest {MANIFEST_NAME} is damaged ({problem})",
        remedy=f"Reinstall it: `swictation-rpc models download {name} --force` for a catalogue model, or"
        f" `swictation-rpc models import PATH --name {name} --force`; `swictation-rpc models remove {name}`"
        " deletes it.",
        model=name,
        file=str(folder / MANIFEST_NAME),
    )

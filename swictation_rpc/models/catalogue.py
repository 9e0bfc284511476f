"""The catalogue of models swictation-rpc knows how to download.

Each entry says where the bytes come from and what a good install looks like. Sizes and SHA-256
digests are recorded only where public text states them (provenance in ``checksum_source``); where
none is known the digest is ``None`` and the downloader trusts on first use: it still checks the
byte count against the server's Content-Length, records the SHA-256 it computed in the installed
model's manifest, and ``models verify`` checks the files against that manifest later.

Every built-in entry also says what a download costs: the exact byte count where one is published,
else ``approx_size`` (shown as ``~N MB``, never used to check a download), and ``size_source``
says where either comes from. ``layout``, ``model_kind`` and ``feat_dim`` are what the model is:
importing a folder under an entry's name checks them (:func:`check_matches_entry`).

``SWICTATION_CATALOGUE=/path/catalogue.json`` replaces or extends entries (tests, air-gapped
mirrors). Its entries use the same fields as :class:`CatalogueEntry`, camelCase::

    {"models": [{"name": "parakeet-tdt-110m", "title": "...", "layout": "sherpa",
                 "kind": "archive", "topFolder": "...",
                 "downloads": [{"url": "https://mirror.example/x.tar.bz2", "path": "x.tar.bz2",
                                "size": 123, "sha256": null}]}]}

Only ``https://`` URLs are accepted, plus ``http://`` to 127.0.0.1/localhost (a local server).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import attrs
import cattrs

from swictation_rpc.converter import error_messages, strict_converter
from swictation_rpc.errors import ModelDownloadError, SwictationError

Role = Literal["fast", "accurate"]
Layout = Literal["sherpa", "nemo"]
Kind = Literal["archive", "files"]
ModelKind = Literal["tdt", "rnnt"]

CATALOGUE_ENV = "SWICTATION_CATALOGUE"
SHERPA_RELEASES = "https://github.com/k2-fsa/sherpa-onnx/releases/download/asr-models/"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class CatalogueError(SwictationError):
    """The catalogue (built in or ``$SWICTATION_CATALOGUE``) is invalid."""

    KIND = "catalogue-invalid"
    MESSAGE = "The model catalogue is invalid"


def check_model_name(name: str) -> str:
    """A model name becomes a folder name: keep it to one safe path component."""
    if not _NAME_RE.match(name) or name in {".", ".."} or ".." in name:
        raise ModelDownloadError(
            f"Invalid model name {name!r}",
            remedy="Use letters, digits, '.', '_' and '-' only (e.g. parakeet-tdt-110m).",
        )
    return name


def check_url(url: str) -> str:
    """Refuse anything but https (and plain http to this machine, for a local test server)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host in _LOCAL_HOSTS:
        return url
    raise ModelDownloadError(
        f"Refusing to download from {url!r}: only https:// URLs are allowed",
        remedy="Use an https:// mirror, or `swictation-rpc models import PATH` with a local file.",
        url=url,
    )


def _check_rel_path(value: str) -> str:
    p = Path(value)
    if (
        not value
        or value.startswith(("/", "\\"))
        or p.is_absolute()
        or any(part in {"", ".", ".."} for part in value.replace("\\", "/").split("/"))
    ):
        raise ValueError(f"unsafe relative path {value!r}")
    return value


def _validate_url(inst: object, attribute: attrs.Attribute, value: str) -> None:
    check_url(value)


def _validate_rel(inst: object, attribute: attrs.Attribute, value: str) -> None:
    _check_rel_path(value)


def _validate_sha(inst: object, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None and not _SHA256_RE.match(value):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, got {value!r}")


def _validate_size(inst: object, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"size must be >= 0, got {value}")


@attrs.frozen
class RemoteFile:
    """One URL to fetch: an archive, or (``kind="files"``) one file of the model folder."""

    url: str = attrs.field(validator=_validate_url)
    path: str = attrs.field(validator=_validate_rel)
    """Archive file name, or the file's path inside the model folder."""
    size: int | None = attrs.field(default=None, validator=_validate_size)
    """Exact byte count where public text states it; ``None`` = take the server's Content-Length."""
    sha256: str | None = attrs.field(default=None, validator=_validate_sha)
    """Lowercase hex; ``None`` = unknown, trusted on first use and recorded in the manifest."""
    optional: bool = False
    """A 404 for an optional file is skipped (the layout check decides whether it mattered)."""


@attrs.frozen
class CatalogueEntry:
    name: str
    title: str
    layout: Layout
    kind: Kind
    downloads: tuple[RemoteFile, ...]
    role: Role | None = None
    """Which mode the model is meant for (a hint: the config decides)."""
    top_folder: str | None = None
    """The single folder the archive unpacks to (stripped on install)."""
    required_files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    source: str = ""
    """Where the URL(s) came from."""
    checksum_source: str = ""
    """Where the size/SHA-256 came from, or why there is none."""
    model_kind: ModelKind | None = None
    """The transducer (TDT or RNN-T); checked on import under this name. ``None``: not checked."""
    feat_dim: int | None = None
    """Mel bins the encoder takes; checked on import under this name. ``None``: not checked."""
    approx_size: int | None = None
    """Bytes to fetch, approximately, where no exact size is published (display only)."""
    size_source: str = ""
    """Where the exact or approximate size comes from."""

    def __attrs_post_init__(self) -> None:
        check_model_name(self.name)
        if not self.downloads:
            raise ValueError(f"{self.name}: no downloads")
        if self.kind == "archive" and len(self.downloads) != 1:
            raise ValueError(f"{self.name}: an archive entry has exactly one download")
        for rel in self.required_files:
            _check_rel_path(rel)
        if self.top_folder is not None:
            _check_rel_path(self.top_folder)

    @property
    def download_size(self) -> int | None:
        """Total bytes to fetch, when every size is known."""
        sizes = [d.size for d in self.downloads if not d.optional]
        known = [s for s in sizes if s is not None]
        return sum(known) if len(known) == len(sizes) else None

    @property
    def shown_size(self) -> tuple[int | None, bool]:
        """(bytes a download costs, whether that is approximate): exact if known, else approximate."""
        exact = self.download_size
        if exact is not None:
            return exact, False
        return self.approx_size, self.approx_size is not None

    @property
    def pinned(self) -> bool:
        """True when every non-optional download has a known SHA-256."""
        return all(d.sha256 for d in self.downloads if not d.optional)


_SHERPA_DOCS = "https://k2-fsa.github.io/sherpa/onnx/pretrained_models/offline-transducer/"

BUILTIN: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        name="parakeet-tdt-110m",
        title="Parakeet TDT 110M (English, fp32) — sherpa-onnx export of parakeet-tdt_ctc-110m",
        role="fast",
        layout="sherpa",
        kind="archive",
        downloads=(
            RemoteFile(
                url=SHERPA_RELEASES + "sherpa-onnx-nemo-parakeet_tdt_transducer_110m-en-36000.tar.bz2",
                path="sherpa-onnx-nemo-parakeet_tdt_transducer_110m-en-36000.tar.bz2",
                size=None,
                sha256="4cb81f605eb7bc6fe0d69cd9d4045161e1691a64c2b7d4f1e7d5099e1d3bc024",
            ),
        ),
        top_folder="sherpa-onnx-nemo-parakeet_tdt_transducer_110m-en-36000",
        required_files=("encoder.onnx", "decoder.onnx", "joiner.onnx", "tokens.txt"),
        notes=(
            "Transducer branch of NVIDIA parakeet-tdt_ctc-110m; 80 mel bins; ~456 MB unpacked.",
            "Fast mode: ~13 ms for 2.8 s of audio on a GPU after a ~97 ms warmup.",
        ),
        source=_SHERPA_DOCS + "nemo-transducer-models.html (wget command)",
        checksum_source=(
            "SHA-256 as pinned by one third-party app (zugaldia/speedofsound, Kotlin model list);"
            " archive size not published, taken from Content-Length"
        ),
        model_kind="tdt",
        feat_dim=80,
        approx_size=456_000_000,
        size_source=(
            "approximate: 456 MB unpacked, per the `ls -lh` listing on the sherpa-onnx docs page above"
            " ('total 456M': encoder.onnx 435M, decoder.onnx 16M) and the 456 MB a third-party app"
            " (zugaldia/speedofsound) records; fp32 weights barely compress, so the .tar.bz2 is"
            " about as large; its exact byte count is not published"
        ),
    ),
    CatalogueEntry(
        name="parakeet-tdt-0.6b-v3-int8",
        title="Parakeet TDT 0.6B v3 (25 European languages, int8) — sherpa-onnx export",
        role="accurate",
        layout="sherpa",
        kind="archive",
        downloads=(
            RemoteFile(
                url=SHERPA_RELEASES + "sherpa-onnx-nemo-parakeet-tdt-0.6b-v3-int8.tar.bz2",
                path="sherpa-onnx-nemo-parakeet-tdt-0.6b-v3-int8.tar.bz2",
                size=487_170_055,
                sha256="5793d0fd397c5778d2cf2126994d58e9d56b1be7c04d13c7a15bb1b4eafb16bf",
            ),
        ),
        top_folder="sherpa-onnx-nemo-parakeet-tdt-0.6b-v3-int8",
        required_files=("encoder.int8.onnx", "decoder.int8.onnx", "joiner.int8.onnx", "tokens.txt"),
        notes=(
            "Accurate mode on the CPU: ~141 ms, ~640 MB RAM (int8 is 1.9x slower on a GPU).",
            "128 mel bins, per_feature normalisation; single-file int8 encoder.",
        ),
        source=_SHERPA_DOCS + "nemo-transducer-models.html (wget command)",
        checksum_source=(
            "size and SHA-256 agree across several independent public manifests that pin this"
            " release asset (Go, Rust, C#, TypeScript and Python projects)"
        ),
        model_kind="tdt",
        feat_dim=128,
        size_source="exact: the archive size pinned with its SHA-256 (see checksum_source)",
    ),
    CatalogueEntry(
        name="parakeet-tdt-0.6b-v2-fp16",
        title="Parakeet TDT 0.6B v2 (English, fp16) — sherpa-onnx export",
        role=None,
        layout="sherpa",
        kind="archive",
        downloads=(
            RemoteFile(
                url=SHERPA_RELEASES + "sherpa-onnx-nemo-parakeet-tdt-0.6b-v2-fp16.tar.bz2",
                path="sherpa-onnx-nemo-parakeet-tdt-0.6b-v2-fp16.tar.bz2",
                size=1_120_982_957,
                sha256="37f67a1a6c942dae27d345ee395fbd19e25ee48996faf70fca25779026054cf0",
            ),
        ),
        top_folder="sherpa-onnx-nemo-parakeet-tdt-0.6b-v2-fp16",
        required_files=("encoder.fp16.onnx", "decoder.fp16.onnx", "joiner.fp16.onnx", "tokens.txt"),
        notes=(
            "Known issue: the 0.6B-v2 fp16 export outputs <unk> tokens; the engine probes it after"
            " load and marks it broken if so. Prefer parakeet-tdt-0.6b-v3-int8.",
        ),
        source=_SHERPA_DOCS + "nemo/parakeet-tdt-0.6b-v2.html (names the fp16 archive)",
        checksum_source=(
            "size and SHA-256 measured by a third-party project after fetching the official"
            " asset (GitHub published no digest for it); not confirmed by k2-fsa"
        ),
        model_kind="tdt",
        size_source="exact: the archive size measured with its SHA-256 (see checksum_source)",
    ),
    CatalogueEntry(
        name="parakeet-tdt-1.1b",
        title="Parakeet TDT 1.1B (English) — NeMo/onnx-asr layout, community export",
        role=None,
        layout="nemo",
        kind="files",
        downloads=tuple(
            RemoteFile(
                url="https://huggingface.co/dtgagnon/parakeet-tdt-1.1b-onnx/resolve/main/" + f,
                path=f,
                optional=optional,
            )
            for f, optional in (
                ("encoder-model.onnx", False),
                ("encoder-model.onnx.data", True),
                ("decoder_joint-model.onnx", False),
                ("decoder_joint-model.onnx.data", True),
                ("vocab.txt", False),
                ("config.json", True),
            )
        ),
        required_files=("encoder-model.onnx", "decoder_joint-model.onnx", "vocab.txt"),
        notes=(
            "Arrives in the NeMo/onnx-asr layout (encoder-model.onnx + decoder_joint-model.onnx +"
            " vocab.txt [+ config.json]); runs through the onnxruntime path, not sherpa-onnx.",
            "Community export (no official k2-fsa/onnx-asr release of the 1.1B exists); the"
            " revision is not pinned (resolve/main). ~4 GB.",
            "External-data and config.json files are fetched when the repository has them.",
        ),
        source=(
            "Hugging Face repo dtgagnon/parakeet-tdt-1.1b-onnx, as downloaded by a public Rust"
            " dictation app (file list: encoder-model.onnx(.data), decoder_joint-model.onnx(.data),"
            " vocab.txt)"
        ),
        checksum_source="none published: trust on first use (SHA-256 recorded in the manifest)",
        model_kind="tdt",
        feat_dim=80,
        approx_size=4_100_000_000,
        size_source=(
            "approximate: 1.1 billion fp32 parameters (NVIDIA's parakeet-tdt-1.1b model card) at"
            " 4 bytes each; another public fp32 ONNX export of the same model lists 4.0 GB of encoder"
            " weights + a 28 MB decoder + a 6.6 MB joiner (jenerallee78/parakeet-tdt-1.1b-onnx);"
            " this repository publishes no file sizes"
        ),
    ),
)


_LAYOUT_WORDS = {
    "sherpa": "the sherpa-onnx layout (encoder/decoder/joiner .onnx + tokens.txt)",
    "nemo": "the NeMo/onnx-asr layout (encoder-model.onnx + decoder_joint-model.onnx + vocab.txt)",
}


def check_matches_entry(folder: Path, entry: CatalogueEntry) -> None:
    """Refuse ``folder`` as ``entry``'s model when its layout, transducer or mel bins differ.

    A catalogue name promises a model: the engine picks the runtime by layout and the features by
    ``feat_dim``, and ``models verify`` holds the files to the entry. The folder is read with the
    engine's own check (:func:`~swictation_rpc.models.layout.inspect_model_dir`, no weights loaded).
    Raises :class:`ModelDownloadError` listing every difference.
    """
    from swictation_rpc.models.layout import inspect_model_dir

    remedy = (
        f"Nothing was installed. Import it under a name of its own (`--name my-{entry.layout}-model`),"
        f" or import the release of {entry.name} itself (`swictation-rpc models list` shows what it is)."
    )
    try:
        files = inspect_model_dir(folder)
    except SwictationError as exc:
        raise ModelDownloadError(
            f"Cannot import this as {entry.name}: {exc.message}", remedy=remedy, model=entry.name
        ) from exc
    problems = []
    if files.layout != entry.layout:
        problems.append(f"{entry.name} comes in {_LAYOUT_WORDS[entry.layout]}, this is {_LAYOUT_WORDS[files.layout]}")
    if entry.model_kind is not None and files.kind != entry.model_kind:
        problems.append(f"{entry.name} is a {entry.model_kind.upper()} transducer, this is {files.kind.upper()}")
    if entry.feat_dim is not None and files.feat_dim != entry.feat_dim:
        problems.append(f"{entry.name} takes {entry.feat_dim} mel bins, this takes {files.feat_dim}")
    if problems:
        raise ModelDownloadError(
            f"This is not {entry.name}: " + "; ".join(problems),
            remedy=remedy,
            model=entry.name,
        )


def _find_refusal(exc: BaseException) -> ModelDownloadError | None:
    """The URL refusal inside a cattrs exception group, so its message reaches the user whole."""
    if isinstance(exc, ModelDownloadError):
        return exc
    for sub in getattr(exc, "exceptions", ()):
        found = _find_refusal(sub)
        if found is not None:
            return found
    return None


def _load_override(path: Path) -> list[CatalogueEntry]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(
            f"Cannot read the catalogue override {path}: {exc}",
            remedy=f"Fix or unset ${CATALOGUE_ENV}.",
        ) from exc
    items = raw.get("models") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise CatalogueError(
            f'{path}: expected {{"models": [...]}} or a list of entries',
            remedy=f"Fix or unset ${CATALOGUE_ENV}.",
        )
    entries: list[CatalogueEntry] = []
    for i, item in enumerate(items):
        try:
            entries.append(strict_converter.structure(item, CatalogueEntry))
        except ModelDownloadError as exc:
            raise CatalogueError(f"{path}: models[{i}]: {exc.message}", remedy=exc.remedy) from exc
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
            refused = _find_refusal(exc)
            if refused is not None:
                raise CatalogueError(f"{path}: models[{i}]: {refused.message}", remedy=refused.remedy) from exc
            detail = (
                "; ".join(error_messages(exc, path=f"$.models[{i}]"))
                if isinstance(exc, cattrs.BaseValidationError)
                else str(exc)
            )
            raise CatalogueError(f"{path}: invalid entry: {detail}", remedy=f"Fix or unset ${CATALOGUE_ENV}.") from exc
    return entries


def load_catalogue(override: Path | None = None) -> dict[str, CatalogueEntry]:
    """Built-in entries, then those of ``override`` (or ``$SWICTATION_CATALOGUE``) by name."""
    entries = {e.name: e for e in BUILTIN}
    if override is None and os.environ.get(CATALOGUE_ENV):
        override = Path(os.environ[CATALOGUE_ENV]).expanduser()
    if override is not None:
        for entry in _load_override(override):
            entries[entry.name] = entry
    return entries


def get_entry(name: str, catalogue: dict[str, CatalogueEntry] | None = None) -> CatalogueEntry:
    from swictation_rpc.errors import ModelNotInstalledError

    cat = catalogue if catalogue is not None else load_catalogue()
    try:
        return cat[name]
    except KeyError:
        raise ModelNotInstalledError(
            f"Unknown model {name!r}",
            remedy="Known models: " + ", ".join(sorted(cat)) + " (`swictation-rpc models list`).",
            model=name,
        ) from None

"""Fetch model files over HTTPS and unpack archives without trusting their contents.

Two verbs, used by :class:`swictation_rpc.models.store.ModelStore`:

- :func:`fetch` streams one URL into ``DEST.part`` (resuming it with a Range request when it is
  already there), checks the byte count against the server's Content-Length and the catalogue's
  size, computes the SHA-256 on the way and compares it with the catalogue's, and only then
  renames ``DEST.part`` to ``DEST``. A transfer cut short keeps its ``.part`` for the next run; a
  checksum mismatch deletes it (bad bytes cannot be resumed into good ones).
- :func:`safe_extract` unpacks .tar/.tar.gz/.tar.bz2/.tar.xz/.zip into an empty folder, refusing
  absolute names, ``..``, links, devices and FIFOs, writing regular files itself (0o600, no
  following of links) and hashing each file as it is written.

Only ``https://`` URLs (and ``http://`` to this machine) are fetched, redirects included.
stdlib only (urllib): no new dependency for a few hundred lines.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import urlsplit

import attrs

from swictation_rpc.errors import ModelDownloadError
from swictation_rpc.models.catalogue import check_url
from swictation_rpc.models.files import open_regular

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 2
MAX_EXTRACT_BYTES = 64 << 30
"""Refuse archives that unpack to more than this, whatever their size."""
EXTRACT_RATIO = 8
"""An archive may unpack to at most this many times its own size (model weights compress to
70-90 %: a 3 MB .tar.gz that inflates to 3 GB is a bomb, not a model)..."""
EXTRACT_FLOOR_BYTES = 64 << 20
"""...or to this much, for small archives of text files that compress well."""
DISK_HEADROOM_BYTES = 256 << 20
"""Free disk space an extraction leaves untouched (the history and logs live on that disk too)."""
MAX_MEMBERS = 100_000

_REMEDY_RETRY = "Check the network connection and run the same command again: it resumes."
_REMEDY_OFFLINE = "On an offline machine, fetch the archive elsewhere and run `swictation-rpc models import PATH`."


@attrs.frozen
class Progress:
    """How far one transfer has got; ``total`` is None when the server does not say."""

    label: str
    done: int
    total: int | None


ProgressCallback = Callable[[Progress], None]


@attrs.frozen
class FetchResult:
    path: Path
    size: int
    sha256: str
    resumed_from: int = 0
    """Bytes already on disk when the successful attempt started (0 = a fresh transfer)."""
    skipped: bool = False
    """An optional file the server does not have (HTTP 404); nothing was written."""


@attrs.frozen
class FileRecord:
    """Size and SHA-256 of one installed file (the manifest's unit of trust)."""

    size: int
    sha256: str


class _Interrupted(Exception):
    """A transfer that stopped early; the .part file is kept and the next attempt resumes."""

    def __init__(self, done: int, total: int | None, reason: str):
        self.done, self.total, self.reason = done, total, reason
        super().__init__(reason)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs the catalogue rules allow (no downgrade to http)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(url: str) -> urllib.request.OpenerDirector:
    host = (urlsplit(url).hostname or "").lower()
    handlers: list[urllib.request.BaseHandler] = [_CheckedRedirects()]
    if host in {"127.0.0.1", "localhost", "::1"}:
        handlers.append(urllib.request.ProxyHandler({}))  # never send local traffic to a proxy
    return urllib.request.build_opener(*handlers)


def _user_agent() -> str:
    try:
        from swictation_rpc import __version__
    except ImportError:  # pragma: no cover - the package always defines it
        __version__ = "0"
    return f"swictation-rpc/{__version__} (+model download)"


def hash_file(path: Path, hasher: hashlib._Hash | None = None) -> hashlib._Hash:
    """SHA-256 of a regular file (a FIFO or device raises ``NotRegularFileError``, never blocks)."""
    with open_regular(path) as f:
        return hash_stream(f, hasher)


def hash_stream(f: IO[bytes], hasher: hashlib._Hash | None = None) -> hashlib._Hash:
    h = hasher or hashlib.sha256()
    while chunk := f.read(1 << 20):
        h.update(chunk)
    return h


def _open_private(path: Path, *, append: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)  # a .part left by an older run keeps no looser mode
    return fd


_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


def fetch(
    url: str,
    dest: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    label: str | None = None,
    optional: bool = False,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> FetchResult:
    """Download ``url`` to ``dest`` (via ``dest.part``), verified before it gets its name.

    ``size``/``sha256`` are the catalogue's expectations (None = unknown: the Content-Length is
    still enforced, and the SHA-256 computed here is returned for the manifest). An existing
    ``dest`` is re-verified and returned without a transfer. Interrupted transfers are resumed
    up to ``retries`` times, then reported with the .part kept for a later run.
    """
    check_url(url)
    label = label or dest.name
    if dest.is_file():
        return _existing(dest, url, size=size, sha256=sha256)
    part = dest.with_name(dest.name + ".part")
    attempts = max(0, retries) + 1
    for attempt in range(attempts):
        try:
            return _attempt(url, dest, part, size, sha256, progress, label, optional, timeout)
        except _Interrupted as exc:
            log.warning(
                "download of %s interrupted at %s/%s bytes (%s), attempt %d/%d",
                url,
                exc.done,
                exc.total,
                exc.reason,
                attempt + 1,
                attempts,
            )
            if attempt + 1 < attempts:
                continue
            total = f" of {exc.total}" if exc.total is not None else ""
            raise ModelDownloadError(
                f"Download of {label} was interrupted after {exc.done}{total} bytes ({exc.reason})",
                remedy=f"{_REMEDY_RETRY} {_REMEDY_OFFLINE}",
                url=url,
                partial=str(part),
            ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _existing(dest: Path, url: str, *, size: int | None, sha256: str | None) -> FetchResult:
    actual_size = dest.stat().st_size
    digest = hash_file(dest).hexdigest()
    if (size is not None and actual_size != size) or (sha256 and digest != sha256):
        dest.unlink()
        raise ModelDownloadError(
            f"The previously downloaded {dest.name} does not match the catalogue "
            f"(expected {size} bytes, sha256 {sha256}; found {actual_size} bytes, sha256 {digest});"
            " it has been deleted",
            remedy="Run the same command again to download it afresh.",
            url=url,
        )
    return FetchResult(dest, actual_size, digest, resumed_from=actual_size)


def _attempt(
    url: str,
    dest: Path,
    part: Path,
    size: int | None,
    sha256: str | None,
    progress: ProgressCallback | None,
    label: str,
    optional: bool,
    timeout: float,
) -> FetchResult:
    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    headers = {"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = _opener(url).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            # Our .part is at or past the end the server knows: start over once.
            log.info("server refused resuming %s at %d bytes; restarting", url, have)
            part.unlink(missing_ok=True)
            raise _Interrupted(0, size, "range not satisfiable; restarting") from exc
        if exc.code == 404 and optional:
            return FetchResult(dest, 0, "", skipped=True)
        retry = " It may be temporary: try again later." if exc.code >= 500 else ""
        raise ModelDownloadError(
            f"The server answered HTTP {exc.code} {exc.reason} for {url}",
            remedy=(retry + " " + _REMEDY_OFFLINE).strip(),
            url=url,
            status=exc.code,
        ) from exc
    except ModelDownloadError:
        raise  # a refused redirect
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelDownloadError(
            f"Cannot reach {urlsplit(url).netloc}: {reason}",
            remedy=f"{_REMEDY_RETRY} {_REMEDY_OFFLINE}",
            url=url,
        ) from exc

    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        body_len = int(length) if length and length.isdigit() else None
        if have and status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                part.unlink(missing_ok=True)
                raise _Interrupted(0, size, "server resumed at the wrong offset; restarting")
            total = int(match.group(3)) if match.group(3) != "*" else None
            if total is None and body_len is not None:
                total = have + body_len
            append = True
        elif status == 200:
            have, append = 0, False
            total = body_len
        else:
            raise ModelDownloadError(
                f"Unexpected HTTP {status} for {url}", remedy=_REMEDY_RETRY, url=url, status=status
            )
        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)
            raise ModelDownloadError(
                f"The server offers {total} bytes for {label}, the catalogue expects {size}",
                remedy="The file on the server changed or the mirror is wrong; nothing was"
                " installed. Check the URL, or import a verified copy.",
                url=url,
            )
        expected = size if size is not None else total
        hasher = hash_file(part) if append else hashlib.sha256()
        done = have
        part.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = _open_private(part, append=append)
        with os.fdopen(fd, "wb") as out:
            if progress:
                progress(Progress(label, done, expected))
            while True:
                try:
                    chunk = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as exc:
                    out.flush()
                    raise _Interrupted(done, expected, f"{type(exc).__name__}: {exc}") from exc
                if not chunk:
                    break
                if expected is not None and done + len(chunk) > expected:
                    out.close()
                    part.unlink(missing_ok=True)
                    raise ModelDownloadError(
                        f"The server sent more than the {expected} bytes expected for {label}",
                        remedy="Nothing was installed; the partial file was deleted. " + _REMEDY_OFFLINE,
                        url=url,
                    )
                out.write(chunk)
                hasher.update(chunk)
                done += len(chunk)
                if progress:
                    progress(Progress(label, done, expected))
            out.flush()
            os.fsync(out.fileno())
    if expected is not None and done < expected:
        raise _Interrupted(done, expected, "connection closed early")
    digest = hasher.hexdigest()
    if sha256 and digest != sha256:
        part.unlink(missing_ok=True)
        raise ModelDownloadError(
            f"Checksum mismatch for {label}: expected sha256 {sha256}, got {digest}",
            remedy="The download was deleted and nothing was installed. Run the command again;"
            " if it persists, the file on the server changed: report it, or import a verified"
            " copy with `swictation-rpc models import PATH`.",
            url=url,
            expected=sha256,
            actual=digest,
        )
    os.replace(part, dest)
    return FetchResult(dest, done, digest, resumed_from=have)


# ---------------------------------------------------------------------------------------------
# Safe extraction


class CorruptArchiveError(ModelDownloadError):
    """The archive is truncated, damaged, empty or not an archive at all."""

    KIND = "corrupt-archive"
    MESSAGE = "The archive is truncated or corrupt"


class UnsafeArchiveError(ModelDownloadError):
    """An archive member that would escape the target folder or is not a plain file/folder."""

    KIND = "unsafe-archive"
    MESSAGE = "The archive contains an unsafe member"


def _safe_name(name: str, archive: Path) -> PurePosixPath | None:
    """The member's path inside the target, or None for the archive's root entry ('./')."""

    def refuse(why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(
            f"Refusing to unpack {archive.name}: member {name!r} {why}",
            remedy="Nothing was installed. The archive is not a genuine model release;"
            " download it again from the catalogue URL.",
            member=name,
        )

    if "\x00" in name:
        raise refuse("contains a NUL byte")
    if "\\" in name:
        raise refuse("contains a backslash")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise refuse("is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise refuse("contains '..'")
    if not parts:
        return None
    return PurePosixPath(*parts)


@attrs.define
class ExtractBudget:
    """Bytes an extraction may still write, and why that many (for the error message)."""

    left: int
    limit: int
    disk_bound: bool
    """True when the free disk space, not the archive's size, sets the limit."""

    @classmethod
    def for_archive(cls, archive_size: int, dest: Path, max_bytes: int | None = None) -> ExtractBudget:
        limit = max_bytes if max_bytes is not None else max(archive_size * EXTRACT_RATIO, EXTRACT_FLOOR_BYTES)
        limit = min(limit, MAX_EXTRACT_BYTES)
        try:
            free = shutil.disk_usage(dest).free - DISK_HEADROOM_BYTES
        except OSError:
            free = limit
        if free < limit:
            return cls(max(free, 0), max(free, 0), True)
        return cls(limit, limit, False)

    def take(self, amount: int, archive: Path, member: str) -> None:
        """Account for ``amount`` more bytes; refuse (nothing installed) past the limit."""
        self.left -= amount
        if self.left >= 0:
            return
        if self.disk_bound:
            raise ModelDownloadError(
                f"Not enough free disk space to unpack {archive.name}: {member} takes it past the"
                f" {self.limit >> 20} MB free (keeping {DISK_HEADROOM_BYTES >> 20} MB spare)",
                remedy="Nothing was installed. Free some disk space (or move the models with --models-dir /"
                " SWICTATION_MODELS_DIR) and run the command again.",
                member=member,
            )
        raise UnsafeArchiveError(
            f"Refusing to unpack {archive.name}: it unpacks to more than {self.limit} bytes"
            f" ({EXTRACT_RATIO} times its size, at least {EXTRACT_FLOOR_BYTES >> 20} MB), at {member!r}:"
            " a decompression bomb, not a model",
            remedy="Nothing was installed. Download the model again from its catalogue URL.",
            member=member,
        )


def _write_member(src: IO[bytes], target: Path, budget: ExtractBudget, archive: Path) -> FileRecord:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(
            target,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0),
            0o600,
        )
    except FileExistsError:
        raise UnsafeArchiveError(
            f"Refusing to unpack {archive.name}: {target.name} appears twice",
            remedy="Nothing was installed; download the archive again.",
        ) from None
    h = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(1 << 20):
            size += len(chunk)
            budget.take(len(chunk), archive, target.name)
            try:
                out.write(chunk)
            except OSError as exc:  # disk full, quota: not the archive's fault, keep it
                raise ModelDownloadError(
                    f"Cannot write {target}: {exc}",
                    remedy="Free some disk space (or move the models with --models-dir /"
                    " SWICTATION_MODELS_DIR) and run the command again.",
                ) from exc
            h.update(chunk)
    return FileRecord(size, h.hexdigest())


def _corrupt(archive: Path, exc: BaseException) -> ModelDownloadError:
    return CorruptArchiveError(
        f"The archive {archive.name} is truncated or corrupt ({type(exc).__name__}: {exc})",
        remedy="Nothing was installed. Download it again (the damaged copy was discarded).",
        archive=str(archive),
    )


def safe_extract(
    archive: Path, dest: Path, *, fileobj: IO[bytes] | None = None, max_bytes: int | None = None
) -> dict[str, FileRecord]:
    """Unpack ``archive`` into the empty folder ``dest``; return ``{relpath: FileRecord}``.

    Raises :class:`UnsafeArchiveError` for a member that is absolute, contains ``..``, is a
    link, device, FIFO or sparse file, or for an archive that unpacks to more than
    ``max_bytes`` (default: :data:`EXTRACT_RATIO` times its size, at least
    :data:`EXTRACT_FLOOR_BYTES`); :class:`ModelDownloadError` when the free disk space runs out
    first, or for a truncated/corrupt archive. ``archive`` must be a regular file (read from
    ``fileobj`` when given, e.g. the descriptor it was hashed from). On error ``dest`` holds
    whatever was written so far: callers extract into a staging folder they delete.
    """
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    if fileobj is None:
        with open_regular(archive) as f:
            return safe_extract(archive, dest, fileobj=f, max_bytes=max_bytes)
    fileobj.seek(0, os.SEEK_END)
    budget = ExtractBudget.for_archive(fileobj.tell(), dest, max_bytes)
    fileobj.seek(0)
    if zipfile.is_zipfile(fileobj):
        fileobj.seek(0)
        return _extract_zip(archive, dest, fileobj, budget)
    fileobj.seek(0)
    try:
        tf = tarfile.open(fileobj=fileobj, mode="r:*")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptArchiveError(
            f"The archive {archive.name} is truncated or corrupt, or not a .tar(.gz/.bz2/.xz)"
            f" or .zip archive ({detail})",
            remedy="Nothing was installed. Download it again, or import a model folder.",
            archive=str(archive),
        ) from exc
    with tf:
        return _extract_tar(tf, archive, dest, budget)


def _extract_tar(tf: tarfile.TarFile, archive: Path, dest: Path, budget: ExtractBudget) -> dict[str, FileRecord]:
    records: dict[str, FileRecord] = {}
    count = 0
    data_filter = getattr(tarfile, "data_filter", None)
    try:
        for member in tf:
            count += 1
            if count > MAX_MEMBERS:
                raise UnsafeArchiveError(
                    f"Refusing to unpack {archive.name}: more than {MAX_MEMBERS} members",
                    remedy="Nothing was installed.",
                )
            rel = _safe_name(member.name, archive)
            if member.issym() or member.islnk():
                raise UnsafeArchiveError(
                    f"Refusing to unpack {archive.name}: member {member.name!r} is a"
                    f" {'symbolic' if member.issym() else 'hard'} link (to {member.linkname!r})",
                    remedy="Nothing was installed. Model archives contain only files and folders.",
                    member=member.name,
                )
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(
                    f"Refusing to unpack {archive.name}: member {member.name!r} is a device,"
                    " FIFO or other special file",
                    remedy="Nothing was installed. Model archives contain only files and folders.",
                    member=member.name,
                )
            if member.issparse():
                # A few KB of map that unpacks to gigabytes of holes, written out dense.
                raise UnsafeArchiveError(
                    f"Refusing to unpack {archive.name}: member {member.name!r} is a sparse file"
                    f" ({member.size} bytes once unpacked)",
                    remedy="Nothing was installed. Model releases are plain tar archives: download"
                    " the model again from its catalogue URL.",
                    member=member.name,
                )
            if member.isfile() and member.size > budget.left:
                budget.take(member.size, archive, member.name)  # refused from the header, before writing
            if data_filter is not None:
                try:  # the stdlib's own opinion, as a second pair of eyes
                    data_filter(member, str(dest))
                except tarfile.FilterError as exc:
                    raise UnsafeArchiveError(
                        f"Refusing to unpack {archive.name}: {exc}",
                        remedy="Nothing was installed.",
                        member=member.name,
                    ) from exc
            if rel is None:
                continue
            target = dest.joinpath(*rel.parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True, mode=0o700)
                continue
            src = tf.extractfile(member)
            if src is None:  # pragma: no cover - isfile() members always have data
                continue
            with src:
                records[rel.as_posix()] = _write_member(src, target, budget, archive)
    except ModelDownloadError:
        raise
    except (tarfile.TarError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise _corrupt(archive, exc) from exc
    if not records:
        raise CorruptArchiveError(
            f"The archive {archive.name} contains no files",
            remedy="Nothing was installed. Download it again.",
        )
    return records


def _extract_zip(archive: Path, dest: Path, fileobj: IO[bytes], budget: ExtractBudget) -> dict[str, FileRecord]:
    records: dict[str, FileRecord] = {}
    try:
        with zipfile.ZipFile(fileobj) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise UnsafeArchiveError(
                    f"Refusing to unpack {archive.name}: more than {MAX_MEMBERS} members",
                    remedy="Nothing was installed.",
                )
            for info in infos:
                rel = _safe_name(info.filename, archive)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArchiveError(
                        f"Refusing to unpack {archive.name}: member {info.filename!r} is a symbolic link",
                        remedy="Nothing was installed.",
                        member=info.filename,
                    )
                if mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise UnsafeArchiveError(
                        f"Refusing to unpack {archive.name}: member {info.filename!r} is a special file",
                        remedy="Nothing was installed.",
                        member=info.filename,
                    )
                if info.flag_bits & 0x1:
                    raise UnsafeArchiveError(
                        f"Refusing to unpack {archive.name}: member {info.filename!r} is encrypted",
                        remedy="Nothing was installed.",
                    )
                if rel is None:
                    continue
                target = dest.joinpath(*rel.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True, mode=0o700)
                    continue
                if info.file_size > budget.left:
                    budget.take(info.file_size, archive, info.filename)  # refused from the directory
                with zf.open(info) as src:
                    records[rel.as_posix()] = _write_member(src, target, budget, archive)
    except ModelDownloadError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise _corrupt(archive, exc) from exc
    if not records:
        raise CorruptArchiveError(
            f"The archive {archive.name} contains no files",
            remedy="Nothing was installed.",
        )
    return records

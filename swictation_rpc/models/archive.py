"""Unpack model archives without trusting their contents.

:func:`safe_extract` unpacks .tar/.tar.gz/.tar.bz2/.tar.xz/.zip into an empty folder, refusing
absolute names, ``..``, links, devices and FIFOs, writing regular files itself (0o600, no
following of links) and hashing each file as it is written. An :class:`ExtractBudget` bounds
what an archive may unpack to (a multiple of its size, the free disk space, a member count), so
a compression bomb stops early.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

import attrs

from swictation_rpc.errors import ModelDownloadError
from swictation_rpc.models.files import FileRecord, open_regular

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

"""Fetch model files over HTTPS: resumable, size- and checksum-checked, redirects checked too.

:func:`fetch` streams one URL into ``DEST.part`` (resuming it with a Range request when it is
already there), checks the byte count against the server's Content-Length and the catalogue's
size, computes the SHA-256 on the way and compares it with the catalogue's, and only then
renames ``DEST.part`` to ``DEST``. A transfer cut short keeps its ``.part`` for the next run; a
checksum mismatch deletes it (bad bytes cannot be resumed into good ones). Unpacking is
:mod:`swictation_rpc.models.archive`'s.

Only ``https://`` URLs (and ``http://`` to this machine) are fetched, redirects included.
stdlib only (urllib): no new dependency for a few hundred lines.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import attrs

from swictation_rpc.errors import ModelDownloadError
from swictation_rpc.models.catalogue import check_url
from swictation_rpc.models.files import hash_file

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 2

_REMEDY_RETRY = "Check the network connection and run the same command again: it resumes."
_REMEDY_OFFLINE = "On an offline machine, fetch the archive elsewhere and run `swictation-rpc models import PATH`."


@attrs.frozen
class Progress:
    """How far one transfer has got; ``total`` is None when the server does not say."""

    label: str
    done: int
    total: int | None


ProgressCallback = Callable[[Progress], None]
"""Called on every chunk; raising (e.g. :class:`DownloadCancelled`) stops the transfer, keeping its ``.part``."""


class DownloadCancelled(Exception):
    """The user cancelled a download: raised by a progress callback or between the install's steps.

    Nothing is installed; a transfer cut short keeps its ``.part`` in ``.downloads`` for resuming.
    """

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"Download of {name} cancelled")


@attrs.frozen
class FetchResult:
    path: Path
    size: int
    sha256: str
    resumed_from: int = 0
    """Bytes already on disk when the successful attempt started (0 = a fresh transfer)."""
    skipped: bool = False
    """An optional file the server does not have (HTTP 404); nothing was written."""


class _Interrupted(Exception):
    """A transfer that stopped early; the .part file is kept and the next attempt resumes."""

    def __init__(self, done: int, total: int | None, reason: str):
        self.done, self.total, self.reason = done, total, reason
        super().__init__(reason)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs the catalogue rules allow (no downgrade to http)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
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

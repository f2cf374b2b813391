"""Resumable bundle download over HTTP range requests (RFC 9110 section 14).

The partial file grows in place. After an interruption (a dropped
connection or a killed process) the next attempt requests
``Range: bytes=<size of the partial file>-`` and appends the ``206`` body.
A ``200`` answer means the server ignored the range, so the file restarts
from byte 0.

Beside the partial file, ``<name>.source`` records where its bytes come
from: the URL and the resource's strong ``ETag`` when the server sends one.
A partial file from another URL (an earlier deployment) or of unknown
origin is discarded, never resumed. The ``ETag`` is sent as ``If-Range``, so
a bundle that changed between attempts is fetched whole instead of being
spliced onto the old bytes; a ``206`` whose ``ETag`` differs is refused and
the partial file removed. The source record is written after the partial
file is emptied and before its first byte, so a power cut between the two
cannot pair old bytes with a new source.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import httpx

from openvisor import atomicfile
from openvisor.bundle.container import MAX_BUNDLE_SIZE
from openvisor.errors import StateError, UpdateError

log = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)|bytes \*/(\d+)")


def _total_from_content_range(value: str) -> tuple[int | None, int | None]:
    """Return (first byte, total size) from a Content-Range header."""
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if match is None:
        return None, None
    if match.group(4) is not None:
        return None, int(match.group(4))
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _source_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".source")


def _read_source(dest: Path) -> dict[str, str | None]:
    try:
        value = atomicfile.read_json(_source_path(dest), default={})
    except StateError:
        return {}
    return value if isinstance(value, dict) else {}


def _strong_etag(response: httpx.Response) -> str | None:
    etag = response.headers.get("etag")
    return etag if etag and not etag.startswith("W/") else None


def _discard(dest: Path) -> None:
    dest.unlink(missing_ok=True)
    _source_path(dest).unlink(missing_ok=True)


def download(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    on_chunk: Callable[[int], None] | None = None,
    max_size: int = MAX_BUNDLE_SIZE,
) -> int:
    """Download ``url`` into ``dest``, resuming from its current size; return the total size."""
    try:
        return _download(client, url, dest, on_chunk=on_chunk, max_size=max_size)
    except OSError as exc:
        raise UpdateError(
            f"cannot write the bundle download to {dest} ({exc}); free space in the device "
            "state folder, the download resumes on the next try"
        ) from exc
    except httpx.InvalidURL as exc:
        raise UpdateError(
            f"bundle URL {url!r} is not a valid URL ({exc}); deploy the bundle again"
        ) from exc


def _download(
    client: httpx.Client,
    url: str,
    dest: Path,
    *,
    on_chunk: Callable[[int], None] | None,
    max_size: int,
) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset = dest.stat().st_size if dest.exists() else 0
    source = _read_source(dest)
    if offset and source.get("url") != url:
        log.warning(
            "Discard partial download of another source (url=%s, partial_url=%s, size=%d)",
            url,
            source.get("url"),
            offset,
        )
        _discard(dest)
        offset = 0
    known_etag = source.get("etag") if offset else None
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    if known_etag:
        headers["If-Range"] = known_etag
    log.info("Fetch bundle (url=%s, offset=%d)", url, offset)
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416:
                _, total = _total_from_content_range(response.headers.get("content-range", ""))
                if total == offset:
                    return offset
                # The partial file is longer than the resource: start again.
                _discard(dest)
                raise UpdateError(
                    f"range request for {url} from byte {offset} was not satisfiable "
                    f"(size {total}); the download restarts from the beginning"
                )
            if response.status_code == 206:
                first, total = _total_from_content_range(response.headers.get("content-range", ""))
                if first != offset:
                    raise UpdateError(
                        f"server returned range {response.headers.get('content-range')!r} "
                        f"for a request from byte {offset} ({url}); the download resumes on "
                        "the next try"
                    )
                etag = _strong_etag(response)
                if known_etag and etag != known_etag:
                    _discard(dest)
                    raise UpdateError(
                        f"bundle at {url} changed during the download (ETag {known_etag} became "
                        f"{etag}); the download restarts from the beginning"
                    )
                mode = "ab"
            elif response.status_code == 200:
                total = (
                    int(response.headers["content-length"])
                    if ("content-length" in response.headers)
                    else None
                )
                offset = 0
                mode = "ab"
                _discard(dest)
                atomicfile.write_json(
                    _source_path(dest), {"url": url, "etag": _strong_etag(response)}
                )
            else:
                raise UpdateError(
                    f"bundle download from {url} failed with HTTP {response.status_code}; "
                    "check that the deployment's bundle still exists"
                )
            if total is not None and total > max_size:
                raise UpdateError(
                    f"bundle at {url} has {total} bytes, over the {max_size}-byte limit"
                )

            written = offset
            with open(dest, mode) as stream:
                for chunk in response.iter_bytes():
                    written += len(chunk)
                    if written > max_size:
                        raise UpdateError(f"bundle at {url} grew past the {max_size}-byte limit")
                    if total is not None and written > total:
                        raise UpdateError(
                            f"server sent more than the {total} bytes it announced for {url}; "
                            "the extra bytes were dropped and the download resumes on the next try"
                        )
                    stream.write(chunk)
                    stream.flush()
                    if on_chunk is not None:
                        on_chunk(written)
                os.fsync(stream.fileno())
    except httpx.HTTPError as exc:
        raise UpdateError(
            f"bundle download from {url} was interrupted at byte "
            f"{dest.stat().st_size if dest.exists() else 0} ({exc}); it resumes on the next try"
        ) from exc
    if total is not None and written != total:
        raise UpdateError(
            f"bundle download from {url} ended at byte {written} of {total}; it resumes on "
            "the next try"
        )
    log.info("Fetched bundle (url=%s, size=%d)", url, written)
    return written

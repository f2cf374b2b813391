"""The bundle container: a deflated ZIP of ``manifest`` plus layers named by their SHA-256.

Reading enforces size limits before and while inflating, so a zip bomb or a
header that understates an entry's size is rejected after reading at most
one byte past the limit.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from openvisor.bundle.image import APP_FLASH_SIZE
from openvisor.bundle.manifest import MAX_MANIFEST_SIZE
from openvisor.errors import BundleError

MANIFEST_ENTRY = "manifest"
MAX_BUNDLE_SIZE = 8 * 1024 * 1024  # compressed bytes; a full 1 MiB layer deflates to less
MAX_ENTRIES = 16
MAX_LAYER_SIZE = APP_FLASH_SIZE
MAX_TOTAL_SIZE = 4 * 1024 * 1024  # all entries, inflated
# Exceptions zipfile raises for damaged archives: bad offsets give ValueError or EOFError,
# encrypted entries RuntimeError, undecodable names UnicodeDecodeError (a ValueError).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    ValueError,
    EOFError,
    OSError,
    zlib.error,
)
# A fixed timestamp keeps the archive bytes reproducible for the same input.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Bundle:
    """The raw contents of a bundle: manifest bytes and layers by entry name."""

    manifest: bytes
    layers: dict[str, bytes]


def layer_entry_name(layer: bytes) -> str:
    """Return the entry name of a layer: its lower-case hex SHA-256."""
    return hashlib.sha256(layer).hexdigest()


def write_bundle(manifest: bytes, layers: list[bytes]) -> bytes:
    """Return the ZIP bytes of a bundle holding ``manifest`` and ``layers``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(MANIFEST_ENTRY, manifest)] + [
            (layer_entry_name(layer), layer) for layer in layers
        ]:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise BundleError(
            f"bundle entry {info.filename!r} inflates to {info.file_size} bytes, over the "
            f"{limit}-byte limit",
            problem="manifest-too-large" if info.filename == MANIFEST_ENTRY else "zip-bomb",
        )
    with archive.open(info) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise BundleError(
            f"bundle entry {info.filename!r} inflates past its {limit}-byte limit although its "
            f"header declares {info.file_size} bytes",
            problem="zip-bomb",
        )
    return data


def read_bundle(data: bytes) -> Bundle:
    """Parse bundle ZIP bytes into a :class:`Bundle`, enforcing the size limits."""
    if len(data) > MAX_BUNDLE_SIZE:
        raise BundleError(
            f"bundle of {len(data)} bytes exceeds the {MAX_BUNDLE_SIZE}-byte limit",
            problem="bundle-too-large",
        )
    try:
        return _read_archive(data)
    except _ZIP_ERRORS as exc:
        raise BundleError(
            f"bundle is not a ZIP archive or is damaged ({type(exc).__name__}: {exc}); "
            "build it again with ov bundle",
            problem="not-a-zip",
        ) from exc


def _read_archive(data: bytes) -> Bundle:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise BundleError(
                f"bundle has {len(infos)} entries, over the limit of {MAX_ENTRIES}",
                problem="zip-bomb",
            )
        declared = sum(info.file_size for info in infos)
        if declared > MAX_TOTAL_SIZE:
            raise BundleError(
                f"bundle entries inflate to {declared} bytes, over the {MAX_TOTAL_SIZE}-byte limit",
                problem="zip-bomb",
            )
        names = [info.filename for info in infos]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise BundleError(
                f"bundle has duplicate entries {duplicates}", problem="invalid-bundle"
            )
        if MANIFEST_ENTRY not in names:
            raise BundleError(
                f"bundle has no {MANIFEST_ENTRY!r} entry (entries: {names[:8]})",
                problem="missing-manifest",
            )

        manifest = b""
        layers: dict[str, bytes] = {}
        total = 0
        for info in infos:
            if info.filename == MANIFEST_ENTRY:
                manifest = _read_entry(archive, info, MAX_MANIFEST_SIZE)
                total += len(manifest)
            else:
                layers[info.filename] = _read_entry(archive, info, MAX_LAYER_SIZE)
                total += len(layers[info.filename])
            if total > MAX_TOTAL_SIZE:
                raise BundleError(
                    f"bundle entries inflate past the {MAX_TOTAL_SIZE}-byte limit",
                    problem="zip-bomb",
                )
    return Bundle(manifest=manifest, layers=layers)


def read_bundle_file(path: Path) -> Bundle:
    """Read a bundle from a file, checking its size before loading it."""
    try:
        size = path.stat().st_size
        if size > MAX_BUNDLE_SIZE:
            raise BundleError(
                f"bundle {path} has {size} bytes, over the {MAX_BUNDLE_SIZE}-byte limit",
                problem="bundle-too-large",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc}") from exc
    return read_bundle(data)

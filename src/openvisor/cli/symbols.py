"""Local store of application ELFs by app id, for symbolizing crash reports.

Bundles carry only the flash image, so the cloud never receives symbols. When
`ov apps upload` or `ov deploy` starts from an ELF, the ELF is copied here
under its app id (the SHA-256 of the manifest body), and `ov crashes`
looks it up by the app id of the crashed app's manifest.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from openvisor.errors import OpenvisorError

log = logging.getLogger(__name__)


def store_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the folder that contains ELFs by app id."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "openvisor" / "elf"


def app_id_of_bundle(bundle: bytes) -> str:
    """Return the app id of a bundle: the hex SHA-256 of its manifest body."""
    from openvisor.bundle import parse_manifest, read_bundle

    return parse_manifest(read_bundle(bundle).manifest).app_id


def app_id_of_manifest(manifest: bytes) -> str:
    """Return the app id of raw ``OpaqueManifest`` bytes."""
    from openvisor.bundle import parse_manifest

    return parse_manifest(manifest).app_id


def remember(elf: Path, app_id: str, environ: Mapping[str, str] | None = None) -> Path:
    """Copy ``elf`` into the store under ``app_id`` and return the stored path."""
    folder = store_dir(environ)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{app_id}.elf"
    shutil.copyfile(elf, target)
    log.debug("Stored ELF for symbols (app_id=%s, elf=%s)", app_id, elf)
    return target


def find(
    app_id: str, *, extra: list[Path] | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Return a stored ELF for ``app_id``, else one of ``extra`` ELFs whose bundle matches."""
    from openvisor.bundle import ManifestOptions, create_bundle

    stored = store_dir(environ) / f"{app_id}.elf"
    if stored.exists():
        return stored
    for candidate in extra or []:
        try:
            if app_id_of_bundle(create_bundle(candidate, ManifestOptions())) == app_id:
                return candidate
        except OpenvisorError:  # an unreadable candidate is simply not a match
            log.debug("Skip ELF candidate (elf=%s)", candidate, exc_info=True)
    return None

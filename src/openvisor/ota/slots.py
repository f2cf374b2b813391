"""The two application slots: each contains a flash image and the manifest it was installed from.

A slot is valid when its manifest parses and every layer's region of the
image matches the layer's measurement hash, so a slot half-written by a
killed process is detected at boot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openvisor import atomicfile
from openvisor.bundle import APP_FLASH_SIZE, Manifest, parse_manifest
from openvisor.errors import BundleError

log = logging.getLogger(__name__)

IMAGE_FILE = "image.bin"
MANIFEST_FILE = "manifest.bin"


@dataclass(frozen=True)
class SlotContents:
    """A valid slot: its manifest and its 1 MiB flash image."""

    slot: str
    manifest: Manifest
    image: bytes

    @property
    def app_id(self) -> str:
        """The app id (SHA-256 of the manifest body, hex)."""
        return self.manifest.app_id


class SlotStore:
    """Slot files under ``<state dir>/ota/slot-<name>/``."""

    def __init__(self, root: Path, *, on_step: Callable[[str], None] | None = None) -> None:
        self.root = root
        self._on_step = on_step or (lambda _step: None)

    def slot_dir(self, slot: str) -> Path:
        """Return the folder of one slot."""
        return self.root / f"slot-{slot}"

    def write(self, slot: str, *, image: bytes, manifest: bytes) -> None:
        """Write a slot's image, then its manifest; each file is replaced atomically.

        The caller must not name the slot in the journal until this returns: a
        cut between the two files leaves a slot whose manifest and image
        disagree, which :meth:`read` reports as invalid.
        """
        if len(image) != APP_FLASH_SIZE:
            raise ValueError(f"slot image must be {APP_FLASH_SIZE} bytes, not {len(image)}")
        folder = self.slot_dir(slot)
        folder.mkdir(parents=True, exist_ok=True)
        # The old manifest goes first, so no cut can pair it with the new image.
        (folder / MANIFEST_FILE).unlink(missing_ok=True)
        atomicfile.fsync_dir(folder)
        self._on_step("install.image")
        atomicfile.write_bytes(folder / IMAGE_FILE, image)
        self._on_step("install.manifest")
        atomicfile.write_bytes(folder / MANIFEST_FILE, manifest)
        log.debug("Wrote slot (slot=%s, manifest_size=%d)", slot, len(manifest))

    def read(self, slot: str) -> SlotContents | None:
        """Return a slot's contents when it is complete and matches its measurement hashes."""
        folder = self.slot_dir(slot)
        try:
            raw_manifest = (folder / MANIFEST_FILE).read_bytes()
            image = (folder / IMAGE_FILE).read_bytes()
        except FileNotFoundError:
            return None
        try:
            manifest = parse_manifest(raw_manifest)
        except BundleError as exc:
            log.error("Found invalid slot manifest (slot=%s, error=%s)", slot, exc)
            return None
        if len(image) != APP_FLASH_SIZE or not manifest.layers:
            log.error("Found invalid slot image (slot=%s, size=%d)", slot, len(image))
            return None
        for layer in manifest.layers:
            region = image[layer.start : layer.start + layer.size]
            if hashlib.sha256(region).digest() != layer.measurement_hash:
                log.error(
                    "Found slot failing its measurement (slot=%s, app_id=%s, start=0x%x)",
                    slot,
                    manifest.app_id,
                    layer.start,
                )
                return None
        return SlotContents(slot=slot, manifest=manifest, image=image)

    def app_id(self, slot: str) -> str | None:
        """Return the app id of a slot's manifest without checking the image."""
        try:
            return parse_manifest((self.slot_dir(slot) / MANIFEST_FILE).read_bytes()).app_id
        except (FileNotFoundError, BundleError):
            return None

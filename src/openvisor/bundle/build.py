"""Creating and signing bundles."""

from __future__ import annotations

import logging
from pathlib import Path

from openvisor.bundle.container import read_bundle, write_bundle
from openvisor.bundle.image import build_image
from openvisor.bundle.manifest import (
    ManifestOptions,
    app_id,
    build_app_body,
    build_opaque_manifest,
    parse_manifest,
)
from openvisor.bundle.signing import Signer, key_id
from openvisor.bundle.verify import check_layers

log = logging.getLogger(__name__)


def create_bundle(
    elf_path: Path, options: ManifestOptions | None = None, *, signer: Signer | None = None
) -> bytes:
    """Build a bundle (ZIP bytes) from an application ELF.

    Without a signer the manifest is unsigned (``signer_id`` 0, empty
    signature), as the public bundler writes it.
    """
    image = build_image(elf_path)
    body = build_app_body(image, options or ManifestOptions())
    manifest = build_opaque_manifest(body, signer)
    log.info(
        "Created bundle (elf=%s, app_id=%s, image_size=%d, signed=%s)",
        elf_path,
        app_id(body),
        len(image),
        signer is not None,
    )
    return write_bundle(manifest, [image])


def sign_bundle(bundle: bytes, signer: Signer) -> bytes:
    """Return the bundle with its manifest (re)signed by ``signer``; layers are unchanged.

    The bundle's layers and hashes are checked first, so a corrupt bundle is
    never signed.
    """
    contents = read_bundle(bundle)
    manifest = parse_manifest(contents.manifest)
    check_layers(manifest, contents.layers)
    signed = build_opaque_manifest(manifest.body, signer)
    log.info(
        "Signed bundle (app_id=%s, signer_id=%016x)", manifest.app_id, key_id(signer.public_key)
    )
    layers = [contents.layers[ref.fetch_hash.hex()] for ref in manifest.layers]
    return write_bundle(signed, layers)

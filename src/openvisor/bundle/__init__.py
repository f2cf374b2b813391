"""Application bundles: format, image building from ELF, signing and verification.

Typical use::

    from openvisor.bundle import ManifestOptions, create_bundle, verify_bundle

    data = create_bundle(Path("app.elf"), ManifestOptions(minimum_kernel_version=1))
    verified = verify_bundle(data, trust=None, allow_unsigned=True)
    print(verified.app_id)
"""

from __future__ import annotations

from openvisor.bundle.build import create_bundle, sign_bundle
from openvisor.bundle.container import Bundle, read_bundle, read_bundle_file, write_bundle
from openvisor.bundle.image import APP_FLASH_BASE, APP_FLASH_SIZE, build_image
from openvisor.bundle.manifest import (
    Manifest,
    ManifestOptions,
    app_id,
    build_app_body,
    build_opaque_manifest,
    measurement_hash,
    parse_manifest,
)
from openvisor.bundle.signing import (
    PrivateKeySigner,
    Signer,
    key_id,
    load_public_key_pem,
    public_key_to_pem,
    verify_signature,
)
from openvisor.bundle.trust import TrustStore
from openvisor.bundle.verify import Problem, SignatureState, VerifiedBundle, verify_bundle

__all__ = [
    "APP_FLASH_BASE",
    "APP_FLASH_SIZE",
    "Bundle",
    "Manifest",
    "ManifestOptions",
    "PrivateKeySigner",
    "Problem",
    "SignatureState",
    "Signer",
    "TrustStore",
    "VerifiedBundle",
    "app_id",
    "build_app_body",
    "build_image",
    "build_opaque_manifest",
    "create_bundle",
    "key_id",
    "load_public_key_pem",
    "measurement_hash",
    "parse_manifest",
    "public_key_to_pem",
    "read_bundle",
    "read_bundle_file",
    "sign_bundle",
    "verify_bundle",
    "verify_signature",
    "write_bundle",
]

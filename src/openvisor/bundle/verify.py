"""Bundle verification with typed results.

:func:`verify_bundle` checks a bundle completely (container, manifest,
layers, hashes, regions, signature, kernel version) and returns a
:class:`VerifiedBundle`, or raises :class:`~openvisor.errors.BundleError`
(malformed) or :class:`~openvisor.errors.VerificationError` (failed check)
whose ``problem`` is one of :class:`Problem`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from enum import StrEnum

from openvisor.bundle.container import Bundle, read_bundle
from openvisor.bundle.image import APP_FLASH_SIZE, GAP_FILL
from openvisor.bundle.manifest import Manifest, measurement_hash, parse_manifest
from openvisor.bundle.signing import verify_signature
from openvisor.bundle.trust import TrustStore
from openvisor.errors import BundleError, VerificationError

log = logging.getLogger(__name__)


class Problem(StrEnum):
    """Reason codes for a rejected bundle (the ``problem`` attribute of the raised error)."""

    NOT_A_ZIP = "not-a-zip"
    MISSING_MANIFEST = "missing-manifest"
    INVALID_MANIFEST = "invalid-manifest"
    MANIFEST_TOO_LARGE = "manifest-too-large"
    BUNDLE_TOO_LARGE = "bundle-too-large"
    ZIP_BOMB = "zip-bomb"
    NO_LAYERS = "no-layers"
    LAYER_MISSING = "layer-missing"
    LAYER_EXTRA = "layer-extra"
    HASH_MISMATCH = "hash-mismatch"
    LAYER_TOO_LARGE = "layer-too-large"
    REGION_OUT_OF_RANGE = "region-out-of-range"
    REGIONS_OVERLAP = "regions-overlap"
    UNSUPPORTED_REGION = "unsupported-region"
    ENCRYPTED_LAYER = "encrypted-layer"
    UNSIGNED = "unsigned"
    UNKNOWN_SIGNER = "unknown-signer"
    BAD_SIGNATURE = "bad-signature"
    UNSUPPORTED_KEY_TYPE = "unsupported-key-type"
    KERNEL_TOO_OLD = "kernel-too-old"
    INVALID_BUNDLE = "invalid-bundle"


class SignatureState(StrEnum):
    """Outcome of the signature check of a verified manifest."""

    TRUSTED = "trusted"  # signed by a key in the trust store
    UNSIGNED = "unsigned"  # signer 0, accepted only where unsigned bundles are allowed


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle that passed every check, with its flash image assembled."""

    manifest: Manifest
    image: bytes  # application flash from 0x0800_0000, 0xFF-padded to the region size
    signature: SignatureState

    @property
    def app_id(self) -> str:
        """The SHA-256 of the manifest body, in hex."""
        return self.manifest.app_id

    @property
    def signer_id(self) -> int:
        """The manifest's signer id (0 when unsigned)."""
        return self.manifest.signer_id


def _reject(problem: Problem, message: str) -> BundleError:
    return BundleError(message, problem=problem.value)


def check_layers(manifest: Manifest, layers: dict[str, bytes]) -> bytes:
    """Check layer references against the entries and assemble the flash image."""
    if not manifest.layers:
        raise _reject(Problem.NO_LAYERS, "manifest lists no layers; rebuild the bundle")

    referenced: set[str] = set()
    spans: list[tuple[int, int]] = []
    image = bytearray([GAP_FILL]) * APP_FLASH_SIZE
    for index, ref in enumerate(manifest.layers):
        name = ref.fetch_hash.hex()
        if ref.region_kind != "internal_flash":
            raise _reject(
                Problem.UNSUPPORTED_REGION,
                f"layer {index} targets {ref.region_kind or 'no region'}; openvisor installs "
                "application layers to internal flash only",
            )
        if ref.encrypted_with_key_id:
            raise _reject(
                Problem.ENCRYPTED_LAYER,
                f"layer {index} is encrypted with key {ref.encrypted_with_key_id:016x}; "
                "encrypted layers are not supported",
            )
        if ref.size == 0 or ref.start + ref.size > APP_FLASH_SIZE:
            raise _reject(
                Problem.REGION_OUT_OF_RANGE,
                f"layer {index} region start=0x{ref.start:x} size=0x{ref.size:x} is outside "
                f"application flash (0x0..0x{APP_FLASH_SIZE:x})",
            )
        for start, end in spans:
            if ref.start < end and start < ref.start + ref.size:
                raise _reject(
                    Problem.REGIONS_OVERLAP,
                    f"layer {index} region 0x{ref.start:x}..0x{ref.start + ref.size:x} overlaps "
                    f"region 0x{start:x}..0x{end:x}",
                )
        spans.append((ref.start, ref.start + ref.size))

        if len(ref.fetch_hash) != 32 or name not in layers:
            raise _reject(
                Problem.LAYER_MISSING,
                f"layer {index} ({name or 'no fetch hash'}) is not in the bundle",
            )
        referenced.add(name)
        data = layers[name]
        if hashlib.sha256(data).digest() != ref.fetch_hash:
            raise VerificationError(
                f"layer {name} does not match its fetch hash (content SHA-256 "
                f"{hashlib.sha256(data).hexdigest()}); the bundle is corrupt or tampered",
                problem=Problem.HASH_MISMATCH.value,
            )
        if len(data) >= ref.size:
            raise _reject(
                Problem.LAYER_TOO_LARGE,
                f"layer {name} has {len(data)} bytes, not less than its {ref.size}-byte region",
            )
        if measurement_hash(data, ref.size) != ref.measurement_hash:
            raise VerificationError(
                f"layer {name} does not match its measurement hash "
                f"{ref.measurement_hash.hex()}; the manifest is corrupt or tampered",
                problem=Problem.HASH_MISMATCH.value,
            )
        image[ref.start : ref.start + len(data)] = data

    extra = sorted(set(layers) - referenced)
    if extra:
        raise _reject(Problem.LAYER_EXTRA, f"bundle has entries no layer references: {extra}")
    return bytes(image)


def _check_signature(
    manifest: Manifest, trust: TrustStore | None, *, allow_unsigned: bool
) -> SignatureState:
    if not manifest.signed:
        if not allow_unsigned:
            raise VerificationError(
                "manifest is unsigned; upload the bundle to the cloud to have it signed, "
                "or sign it with ov bundle --sign-key",
                problem=Problem.UNSIGNED.value,
            )
        log.warning("Accepting unsigned manifest (app_id=%s)", manifest.app_id)
        return SignatureState.UNSIGNED

    public_key = trust.get(manifest.signer_id) if trust is not None else None
    if public_key is None:
        raise VerificationError(
            f"manifest signer {manifest.signer_id:016x} is not in the trust store; provision "
            "the device with that key or sign with a trusted key",
            problem=Problem.UNKNOWN_SIGNER.value,
        )
    if not verify_signature(public_key, manifest.body, manifest.signature):
        raise VerificationError(
            f"manifest signature by signer {manifest.signer_id:016x} is invalid; the manifest "
            "was altered after signing or signed with another key",
            problem=Problem.BAD_SIGNATURE.value,
        )
    return SignatureState.TRUSTED


def verify_bundle(
    bundle: Bundle | bytes,
    *,
    trust: TrustStore | None,
    allow_unsigned: bool = False,
    kernel_version: int | None = None,
) -> VerifiedBundle:
    """Check a bundle completely and return it with its flash image assembled.

    ``kernel_version`` None skips the minimum-kernel-version check (for tools
    that are not a device).
    """
    if isinstance(bundle, bytes):
        bundle = read_bundle(bundle)
    manifest = parse_manifest(bundle.manifest)
    image = check_layers(manifest, bundle.layers)
    state = _check_signature(manifest, trust, allow_unsigned=allow_unsigned)
    if kernel_version is not None and manifest.minimum_kernel_version > kernel_version:
        raise VerificationError(
            f"bundle needs kernel version {manifest.minimum_kernel_version} or later; this "
            f"device runs {kernel_version}. Rebuild it with `ov bundle create "
            f"--minimum-kernel-version {kernel_version}` or lower",
            problem=Problem.KERNEL_TOO_OLD.value,
        )
    return VerifiedBundle(manifest=manifest, image=image, signature=state)

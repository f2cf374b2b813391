"""Application manifests: building the body the public bundler writes, and reading one back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from google.protobuf.unknown_fields import UnknownFieldSet  # type: ignore[import-untyped]

from openvisor.bundle import schema
from openvisor.bundle.image import APP_FLASH_SIZE, GAP_FILL
from openvisor.bundle.signing import (
    PUBLIC_KEY_SIZE,
    Signer,
    check_public_key,
    key_id,
    manifest_message,
)
from openvisor.errors import BundleError

# A manifest of one layer is about 150 bytes; 64 KiB leaves room for many layers and keys.
MAX_MANIFEST_SIZE = 64 * 1024


@dataclass(frozen=True)
class ManifestOptions:
    """Manifest fields a developer chooses when bundling (all default to 0 or unset).

    The public bundler sets only ``debug_auth_pubkey``, ``minimum_kernel_version``,
    ``connection_grace_time_sec`` and ``minimum_check_in_time_sec``. The crash and
    politeness fields are openvisor additions. The default options give that
    tool's output byte for byte.
    """

    debug_auth_pubkey: bytes | None = None
    minimum_kernel_version: int = 0
    connection_grace_time_sec: int = 0
    minimum_check_in_time_sec: int = 0
    maximum_politeness_time_sec: int = 0
    crash_minimum_restart_ms: int = 0
    crash_maximum_restart_ms: int = 0
    crash_report_pubkey: bytes | None = None
    crash_include_stack_bytes: int = 0

    def has_crash_policy(self) -> bool:
        """Return whether any crash-policy field is set."""
        return bool(
            self.crash_minimum_restart_ms
            or self.crash_maximum_restart_ms
            or self.crash_report_pubkey
            or self.crash_include_stack_bytes
        )


def measurement_hash(layer: bytes, region_size: int) -> bytes:
    """Return SHA-256 of the layer padded with 0xFF to the region size."""
    digest = hashlib.sha256(layer)
    digest.update(bytes([GAP_FILL]) * (region_size - len(layer)))
    return digest.digest()


def _check_u32(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise BundleError(f"{name}={value} does not fit in 32 bits; use 0..4294967295")


def build_app_body(image: bytes, options: ManifestOptions) -> bytes:
    """Serialize the ``AppManifest.AppBody`` for one flash image (one layer)."""
    if len(image) >= APP_FLASH_SIZE:
        raise BundleError(
            f"flash image of {len(image)} bytes does not fit the {APP_FLASH_SIZE}-byte "
            "application region; shrink the application",
            problem="layer-too-large",
        )
    for name in (
        "minimum_kernel_version",
        "connection_grace_time_sec",
        "minimum_check_in_time_sec",
        "maximum_politeness_time_sec",
        "crash_minimum_restart_ms",
        "crash_maximum_restart_ms",
        "crash_include_stack_bytes",
    ):
        _check_u32(name, getattr(options, name))

    body = schema.AppBody()
    layer = body.layers.add()
    layer.target.internal_flash.start = 0
    layer.target.internal_flash.size = APP_FLASH_SIZE
    layer.fetch_hash = hashlib.sha256(image).digest()
    layer.measurement_hash = measurement_hash(image, APP_FLASH_SIZE)

    if options.debug_auth_pubkey is not None:
        check_public_key(options.debug_auth_pubkey)
        body.debug.debug_auth_pubkey = options.debug_auth_pubkey
    if options.has_crash_policy():
        body.crash.minimum_restart_ms = options.crash_minimum_restart_ms
        body.crash.maximum_restart_ms = options.crash_maximum_restart_ms
        if options.crash_report_pubkey is not None:
            check_public_key(options.crash_report_pubkey)
            body.crash.crash_report_pubkey = options.crash_report_pubkey
        body.crash.include_stack_bytes = options.crash_include_stack_bytes

    # The public bundler always writes these two, empty when their values are 0.
    body.update.SetInParent()
    body.update.maximum_politeness_time_sec = options.maximum_politeness_time_sec
    body.update.minimum_kernel_version = options.minimum_kernel_version
    body.connectivity.SetInParent()
    body.connectivity.connection_grace_time_sec = options.connection_grace_time_sec
    body.connectivity.minimum_check_in_time_sec = options.minimum_check_in_time_sec
    return bytes(body.SerializeToString(deterministic=True))


def build_opaque_manifest(body: bytes, signer: Signer | None = None) -> bytes:
    """Serialize an ``OpaqueManifest`` around ``body``, signed when a signer is given."""
    manifest = schema.OpaqueManifest(body=body)
    if signer is not None:
        manifest.signer_id = key_id(signer.public_key)
        manifest.signature = signer.sign(manifest_message(body))
    return bytes(manifest.SerializeToString(deterministic=True))


def app_id(body: bytes) -> str:
    """Return an app's identity: the lower-case hex SHA-256 of its manifest body."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class LayerRef:
    """One layer reference of a manifest, with its target region."""

    region_kind: str  # "internal_flash" or "external_flash"
    start: int
    size: int
    encrypted_with_key_id: int
    fetch_hash: bytes
    measurement_hash: bytes


@dataclass(frozen=True)
class Manifest:
    """A decoded application manifest.

    ``body`` keeps the exact signed bytes; the other fields are decoded from it.
    """

    raw: bytes
    body: bytes
    signer_id: int
    signature: bytes
    layers: list[LayerRef]
    debug_auth_pubkey: bytes
    debuggable: bool
    crash: dict[str, Any] = field(default_factory=dict)
    maximum_politeness_time_sec: int = 0
    minimum_kernel_version: int = 0
    connection_grace_time_sec: int = 0
    minimum_check_in_time_sec: int = 0

    @property
    def app_id(self) -> str:
        """The SHA-256 of the manifest body, in hex: the app's identity."""
        return app_id(self.body)

    @property
    def signed(self) -> bool:
        """Whether the manifest carries a signer id or a signature."""
        return self.signer_id != 0 or bool(self.signature)


def parse_manifest(raw: bytes) -> Manifest:
    """Decode ``OpaqueManifest`` bytes and the ``AppBody`` inside them."""
    if len(raw) > MAX_MANIFEST_SIZE:
        raise BundleError(
            f"manifest of {len(raw)} bytes exceeds the {MAX_MANIFEST_SIZE}-byte limit",
            problem="manifest-too-large",
        )
    opaque = schema.OpaqueManifest()
    body = schema.AppBody()
    try:
        opaque.ParseFromString(raw)
        body.ParseFromString(opaque.body)
    except DecodeError as exc:
        raise BundleError(
            f"manifest is not a valid OpaqueManifest/AppBody protobuf: {exc}",
            problem="invalid-manifest",
        ) from exc
    # The envelope has three fixed fields; anything else (a known field sent with
    # the wrong wire type lands here too) means the manifest is not one.
    unknown = [(item.field_number, item.wire_type) for item in UnknownFieldSet(opaque)]
    if unknown:
        raise BundleError(
            "manifest is not a valid OpaqueManifest: unexpected (field number, wire type) "
            f"{unknown[:4]}; rebuild the bundle with ov bundle",
            problem="invalid-manifest",
        )

    layers = []
    for ref in body.layers:
        kind = ref.target.WhichOneof("region") or ""
        region = getattr(ref.target, kind) if kind else None
        layers.append(
            LayerRef(
                region_kind=kind,
                start=int(region.start) if region is not None else 0,
                size=int(region.size) if region is not None else 0,
                encrypted_with_key_id=int(ref.encrypted_with_key_id),
                fetch_hash=bytes(ref.fetch_hash),
                measurement_hash=bytes(ref.measurement_hash),
            )
        )
    crash: dict[str, Any] = {}
    if body.HasField("crash"):
        crash = {
            "minimum_restart_ms": int(body.crash.minimum_restart_ms),
            "maximum_restart_ms": int(body.crash.maximum_restart_ms),
            "crash_report_pubkey": bytes(body.crash.crash_report_pubkey),
            "include_stack_bytes": int(body.crash.include_stack_bytes),
        }
    debug_key = bytes(body.debug.debug_auth_pubkey)
    if debug_key and len(debug_key) != PUBLIC_KEY_SIZE:
        raise BundleError(
            f"debug_auth_pubkey has {len(debug_key)} bytes; expected a 65-byte P-256 point",
            problem="unsupported-key-type",
        )
    for name, key in (
        ("debug_auth_pubkey", debug_key),
        ("crash_report_pubkey", crash.get("crash_report_pubkey", b"")),
    ):
        if key:
            try:
                check_public_key(key)
            except BundleError as exc:
                raise BundleError(
                    f"manifest {name} is not a NIST P-256 key: {exc}; bundle again with a "
                    "P-256 public key (ov keys generate)",
                    problem="unsupported-key-type",
                ) from exc
    return Manifest(
        raw=raw,
        body=bytes(opaque.body),
        signer_id=int(opaque.signer_id),
        signature=bytes(opaque.signature),
        layers=layers,
        debug_auth_pubkey=debug_key,
        debuggable=bool(body.debug.debuggable),
        crash=crash,
        maximum_politeness_time_sec=int(body.update.maximum_politeness_time_sec),
        minimum_kernel_version=int(body.update.minimum_kernel_version),
        connection_grace_time_sec=int(body.connectivity.connection_grace_time_sec),
        minimum_check_in_time_sec=int(body.connectivity.minimum_check_in_time_sec),
    )

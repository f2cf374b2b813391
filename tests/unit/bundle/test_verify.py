"""Bundle validation: every rejection names its problem."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest

from openvisor.bundle import (
    ManifestOptions,
    PrivateKeySigner,
    Problem,
    SignatureState,
    TrustStore,
    build_app_body,
    build_opaque_manifest,
    schema,
    verify_bundle,
    write_bundle,
)
from openvisor.bundle.container import MAX_LAYER_SIZE
from openvisor.bundle.manifest import MAX_MANIFEST_SIZE, measurement_hash
from openvisor.errors import BundleError, VerificationError

IMAGE = bytes(range(256)) * 16 + os.urandom(1000)


@pytest.fixture(scope="module")
def signer() -> PrivateKeySigner:
    return PrivateKeySigner.generate()


@pytest.fixture(scope="module")
def trust(signer: PrivateKeySigner) -> TrustStore:
    store = TrustStore()
    store.add(signer.public_key, label="test")
    return store


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _body_with_layers(layers: list[tuple[int, int, bytes]]) -> bytes:
    body = schema.AppBody()
    for start, size, data in layers:
        ref = body.layers.add()
        ref.target.internal_flash.start = start
        ref.target.internal_flash.size = size
        ref.fetch_hash = hashlib.sha256(data).digest()
        ref.measurement_hash = measurement_hash(data, size)
    body.update.SetInParent()
    body.connectivity.SetInParent()
    return bytes(body.SerializeToString())


def _expect(
    problem: Problem, data: bytes, trust: TrustStore | None = None, **kwargs: object
) -> str:
    with pytest.raises(BundleError) as info:
        verify_bundle(data, trust=trust, **kwargs)  # type: ignore[arg-type]
    assert info.value.problem == problem.value, str(info.value)
    return str(info.value)


def test_signed_bundle_verifies(signer: PrivateKeySigner, trust: TrustStore) -> None:
    body = build_app_body(IMAGE, ManifestOptions(minimum_kernel_version=2))
    data = write_bundle(build_opaque_manifest(body, signer), [IMAGE])
    verified = verify_bundle(data, trust=trust, kernel_version=2)
    assert verified.signature is SignatureState.TRUSTED
    assert verified.app_id == hashlib.sha256(body).hexdigest()
    assert verified.image[: len(IMAGE)] == IMAGE
    assert verified.image[len(IMAGE) :] == b"\xff" * (0x100000 - len(IMAGE))


def test_unsigned_needs_permission() -> None:
    data = write_bundle(build_opaque_manifest(build_app_body(IMAGE, ManifestOptions())), [IMAGE])
    _expect(Problem.UNSIGNED, data)
    assert verify_bundle(data, trust=None, allow_unsigned=True).signature is SignatureState.UNSIGNED


def test_not_a_zip_rejected() -> None:
    message = _expect(Problem.NOT_A_ZIP, b"this is not a zip archive")
    assert "not a ZIP" in message


def test_missing_manifest_rejected() -> None:
    _expect(Problem.MISSING_MANIFEST, _zip({hashlib.sha256(IMAGE).hexdigest(): IMAGE}))


def test_layer_missing_rejected() -> None:
    manifest = build_opaque_manifest(build_app_body(IMAGE, ManifestOptions()))
    message = _expect(Problem.LAYER_MISSING, _zip({"manifest": manifest}), allow_unsigned=True)
    assert hashlib.sha256(IMAGE).hexdigest() in message


def test_extra_layer_rejected() -> None:
    manifest = build_opaque_manifest(build_app_body(IMAGE, ManifestOptions()))
    entries = {"manifest": manifest, hashlib.sha256(IMAGE).hexdigest(): IMAGE, "0" * 64: b"x"}
    message = _expect(Problem.LAYER_EXTRA, _zip(entries), allow_unsigned=True)
    assert "0" * 64 in message


def test_tampered_layer_rejected(signer: PrivateKeySigner, trust: TrustStore) -> None:
    manifest = build_opaque_manifest(build_app_body(IMAGE, ManifestOptions()), signer)
    tampered = bytearray(IMAGE)
    tampered[100] ^= 0x01
    entries = {"manifest": manifest, hashlib.sha256(IMAGE).hexdigest(): bytes(tampered)}
    message = _expect(Problem.HASH_MISMATCH, _zip(entries), trust)
    assert "fetch hash" in message


def test_measurement_mismatch_rejected() -> None:
    body = schema.AppBody.FromString(build_app_body(IMAGE, ManifestOptions()))
    body.layers[0].measurement_hash = hashlib.sha256(b"other").digest()
    manifest = build_opaque_manifest(bytes(body.SerializeToString()))
    message = _expect(Problem.HASH_MISMATCH, write_bundle(manifest, [IMAGE]), allow_unsigned=True)
    assert "measurement hash" in message


def test_layer_as_large_as_region_rejected() -> None:
    layer = b"\x00" * 0x1000
    body = _body_with_layers([(0, 0x1000, layer)])
    data = write_bundle(build_opaque_manifest(body), [layer])
    _expect(Problem.LAYER_TOO_LARGE, data, allow_unsigned=True)


def test_region_out_of_range_rejected() -> None:
    body = _body_with_layers([(0xF0000, 0x20000, IMAGE)])
    data = write_bundle(build_opaque_manifest(body), [IMAGE])
    message = _expect(Problem.REGION_OUT_OF_RANGE, data, allow_unsigned=True)
    assert "0xf0000" in message


def test_overlapping_regions_rejected() -> None:
    second = b"\x01" * 100
    body = _body_with_layers([(0, 0x10000, IMAGE), (0x8000, 0x10000, second)])
    data = write_bundle(build_opaque_manifest(body), [IMAGE, second])
    _expect(Problem.REGIONS_OVERLAP, data, allow_unsigned=True)


def test_unknown_signer_rejected(signer: PrivateKeySigner) -> None:
    other = PrivateKeySigner.generate()
    manifest = build_opaque_manifest(build_app_body(IMAGE, ManifestOptions()), other)
    trust = TrustStore()
    trust.add(signer.public_key)
    message = _expect(Problem.UNKNOWN_SIGNER, write_bundle(manifest, [IMAGE]), trust)
    assert "not in the trust store" in message


def test_forged_signature_rejected(signer: PrivateKeySigner, trust: TrustStore) -> None:
    manifest = schema.OpaqueManifest.FromString(
        build_opaque_manifest(build_app_body(IMAGE, ManifestOptions()), signer)
    )
    forged = bytearray(manifest.signature)
    forged[5] ^= 0x40
    manifest.signature = bytes(forged)
    data = write_bundle(bytes(manifest.SerializeToString()), [IMAGE])
    _expect(Problem.BAD_SIGNATURE, data, trust)


def test_altered_body_fails_signature(signer: PrivateKeySigner, trust: TrustStore) -> None:
    signed = schema.OpaqueManifest.FromString(
        build_opaque_manifest(build_app_body(IMAGE, ManifestOptions()), signer)
    )
    signed.body = build_app_body(IMAGE, ManifestOptions(minimum_check_in_time_sec=5))
    data = write_bundle(bytes(signed.SerializeToString()), [IMAGE])
    _expect(Problem.BAD_SIGNATURE, data, trust)


def test_unsupported_debug_key_rejected() -> None:
    body = schema.AppBody.FromString(build_app_body(IMAGE, ManifestOptions()))
    body.debug.debug_auth_pubkey = b"\x02" + b"\x11" * 32  # compressed point
    data = write_bundle(build_opaque_manifest(bytes(body.SerializeToString())), [IMAGE])
    _expect(Problem.UNSUPPORTED_KEY_TYPE, data, allow_unsigned=True)


def test_manifest_too_large_rejected() -> None:
    body = schema.AppBody.FromString(build_app_body(IMAGE, ManifestOptions()))
    body.crash.crash_report_pubkey = b"\x00" * (MAX_MANIFEST_SIZE + 1)
    manifest = build_opaque_manifest(bytes(body.SerializeToString()))
    _expect(Problem.MANIFEST_TOO_LARGE, write_bundle(manifest, [IMAGE]), allow_unsigned=True)


def test_zip_bomb_rejected() -> None:
    bomb = b"\x00" * (64 * 1024 * 1024)  # deflates to about 64 KiB
    manifest = build_opaque_manifest(build_app_body(IMAGE, ManifestOptions()))
    data = _zip({"manifest": manifest, hashlib.sha256(bomb).hexdigest(): bomb})
    assert len(data) < 1024 * 1024
    _expect(Problem.ZIP_BOMB, data, allow_unsigned=True)


def test_understated_entry_size_rejected() -> None:
    """A header understating an entry's size stops inflation at the stated size."""
    big = b"\x00" * (MAX_LAYER_SIZE + 4096)
    name = hashlib.sha256(big).hexdigest()
    manifest = build_opaque_manifest(build_app_body(IMAGE, ManifestOptions()))
    data = bytearray(_zip({"manifest": manifest, name: big}))
    # Patch the uncompressed size (offset 24 in the central directory header) to 100 bytes.
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    message = _expect(Problem.NOT_A_ZIP, bytes(data), allow_unsigned=True)
    assert "CRC" in message


def test_kernel_too_old_rejected(signer: PrivateKeySigner, trust: TrustStore) -> None:
    body = build_app_body(IMAGE, ManifestOptions(minimum_kernel_version=7))
    data = write_bundle(build_opaque_manifest(body, signer), [IMAGE])
    with pytest.raises(VerificationError) as info:
        verify_bundle(data, trust=trust, kernel_version=6)
    assert info.value.problem == Problem.KERNEL_TOO_OLD.value
    assert verify_bundle(data, trust=trust, kernel_version=7).app_id

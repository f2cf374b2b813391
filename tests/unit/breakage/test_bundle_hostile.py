"""Hostile and damaged bundles: every one is rejected with a BundleError naming the problem.

No input may escape as another exception type (ValueError, EOFError,
RuntimeError ...), because the device and the cloud turn only BundleError
into a clear rejection.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zipfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openvisor.bundle import (
    ManifestOptions,
    PrivateKeySigner,
    Problem,
    TrustStore,
    build_app_body,
    build_opaque_manifest,
    load_public_key_pem,
    schema,
    verify_bundle,
    write_bundle,
)
from openvisor.bundle.container import Bundle, layer_entry_name
from openvisor.bundle.manifest import measurement_hash
from openvisor.errors import BundleError, VerificationError

IMAGE = bytes(range(256)) * 24 + b"end of app"


@pytest.fixture(scope="module")
def signer() -> PrivateKeySigner:
    return PrivateKeySigner.generate()


@pytest.fixture(scope="module")
def trust(signer: PrivateKeySigner) -> TrustStore:
    store = TrustStore()
    store.add(signer.public_key, label="test")
    return store


@pytest.fixture(scope="module")
def signed_bundle(signer: PrivateKeySigner) -> bytes:
    body = build_app_body(IMAGE, ManifestOptions())
    return write_bundle(build_opaque_manifest(body, signer), [IMAGE])


def _rejects(data: bytes | Bundle, trust: TrustStore | None = None) -> BundleError:
    with pytest.raises(BundleError) as caught:
        verify_bundle(data, trust=trust, allow_unsigned=trust is None, kernel_version=1)
    return caught.value


def _with_body(body: schema.AppBody, layers: dict[str, bytes]) -> Bundle:
    return Bundle(build_opaque_manifest(body.SerializeToString()), layers)


def _one_layer_body() -> schema.AppBody:
    body = schema.AppBody()
    body.ParseFromString(build_app_body(IMAGE, ManifestOptions()))
    return body


@pytest.mark.parametrize("cut", [0, 1, 22, 30, 100, -1, -22, -23, -60])
def test_truncated_zip_is_not_a_zip(signed_bundle: bytes, trust: TrustStore, cut: int) -> None:
    error = _rejects(signed_bundle[:cut], trust)
    assert error.problem in {Problem.NOT_A_ZIP, Problem.MISSING_MANIFEST}
    assert "ov bundle" in str(error) or "manifest" in str(error)


def test_bad_entry_offset_is_not_a_zip(signed_bundle: bytes) -> None:
    data = bytearray(signed_bundle)
    directory = data.rfind(b"PK\x01\x02")
    # Local header offset of the last entry, far before the start of the file.
    struct.pack_into("<I", data, directory + 42, 0xFFFF_0000)
    error = _rejects(bytes(data))
    assert error.problem == Problem.NOT_A_ZIP
    assert "not a ZIP archive or is damaged" in str(error)


def test_encrypted_entry_is_not_a_zip(signed_bundle: bytes) -> None:
    data = bytearray(signed_bundle)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        while position >= 0:
            data[position + flag_offset] |= 0x01  # general purpose bit 0: encrypted
            position = data.find(signature, position + 4)
    error = _rejects(bytes(data))
    assert error.problem == Problem.NOT_A_ZIP
    assert "encrypted" in str(error)


def test_random_byte_damage_never_escapes(signed_bundle: bytes, trust: TrustStore) -> None:
    rnd = random.Random(4)
    for _ in range(1500):
        data = bytearray(signed_bundle)
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        try:
            verify_bundle(bytes(data), trust=trust, kernel_version=1)
        except BundleError as exc:
            assert exc.problem in set(Problem)
            assert str(exc)


def test_duplicate_manifest_entries_rejected(signed_bundle: bytes) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest", b"first")
        with pytest.warns(UserWarning):
            archive.writestr("manifest", b"second")
    error = _rejects(buffer.getvalue())
    assert error.problem == Problem.INVALID_BUNDLE
    assert "duplicate entries ['manifest']" in str(error)


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a/../../b", "C:\\x", "ma\x00nifest"])
def test_path_like_entry_names_are_extra_layers(name: str) -> None:
    body = build_app_body(IMAGE, ManifestOptions())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest", build_opaque_manifest(body))
        archive.writestr(layer_entry_name(IMAGE), IMAGE)
        archive.writestr(name, b"payload")
    error = _rejects(buffer.getvalue())
    assert error.problem == Problem.LAYER_EXTRA


def test_huge_declared_size_is_a_zip_bomb(signed_bundle: bytes) -> None:
    data = bytearray(signed_bundle)
    directory = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, directory + 24, 0xFFFF_FFF0)  # uncompressed size
    error = _rejects(bytes(data))
    assert error.problem == Problem.ZIP_BOMB
    assert "over the 4194304-byte limit" in str(error)


def test_manifest_of_wrong_field_types_is_invalid() -> None:
    # Field 1 of OpaqueManifest (signer_id, varint) sent as a length-delimited string.
    raw = b"\x0a\x03abc" + b"\x12\x00"
    error = _rejects(Bundle(raw, {}))
    assert error.problem == Problem.INVALID_MANIFEST
    assert "OpaqueManifest" in str(error)
    assert "(1, 2)" in str(error)


def test_no_layers_rejected() -> None:
    body = _one_layer_body()
    del body.layers[:]
    error = _rejects(_with_body(body, {layer_entry_name(IMAGE): IMAGE}))
    assert error.problem == Problem.NO_LAYERS


def test_two_overlapping_layers_rejected() -> None:
    body = _one_layer_body()
    body.layers[0].target.internal_flash.size = 0x8_0000
    body.layers[0].measurement_hash = measurement_hash(IMAGE, 0x8_0000)
    second = body.layers.add()
    second.CopyFrom(body.layers[0])
    second.target.internal_flash.start = 0x4_0000
    error = _rejects(_with_body(body, {layer_entry_name(IMAGE): IMAGE}))
    assert error.problem == Problem.REGIONS_OVERLAP
    assert "0x80000" in str(error)


@pytest.mark.parametrize(
    ("start", "size"), [(0x10_0000, 0x1000), (0xFFFF_F000, 0x2000), (0, 0x10_0001), (0, 0)]
)
def test_region_beyond_application_flash_rejected(start: int, size: int) -> None:
    body = _one_layer_body()
    body.layers[0].target.internal_flash.start = start
    body.layers[0].target.internal_flash.size = size
    body.layers[0].measurement_hash = measurement_hash(IMAGE, max(size, len(IMAGE)))
    error = _rejects(_with_body(body, {layer_entry_name(IMAGE): IMAGE}))
    assert error.problem == Problem.REGION_OUT_OF_RANGE
    assert f"start=0x{start:x}" in str(error)


def test_external_flash_region_rejected() -> None:
    body = _one_layer_body()
    body.layers[0].target.external_flash.size = 0x1000
    error = _rejects(_with_body(body, {layer_entry_name(IMAGE): IMAGE}))
    assert error.problem == Problem.UNSUPPORTED_REGION


def test_trusted_signer_id_forged_signature(signer: PrivateKeySigner, trust: TrustStore) -> None:
    body = build_app_body(IMAGE, ManifestOptions())
    forged = schema.OpaqueManifest()
    forged.ParseFromString(build_opaque_manifest(body, PrivateKeySigner.generate()))
    forged.signer_id = next(iter(trust.keys))
    error = _rejects(write_bundle(forged.SerializeToString(), [IMAGE]), trust)
    assert isinstance(error, VerificationError)
    assert error.problem == Problem.BAD_SIGNATURE
    assert f"{forged.signer_id:016x}" in str(error)


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 64, b"\xff" * 64, b"1" * 72])
def test_malformed_signature_is_bad(
    signer: PrivateKeySigner, trust: TrustStore, signature: bytes
) -> None:
    body = build_app_body(IMAGE, ManifestOptions())
    manifest = schema.OpaqueManifest(
        signer_id=next(iter(trust.keys)), body=body, signature=signature
    )
    error = _rejects(write_bundle(manifest.SerializeToString(), [IMAGE]), trust)
    assert error.problem == Problem.BAD_SIGNATURE


def test_signature_without_signer_is_unknown_signer(trust: TrustStore) -> None:
    body = build_app_body(IMAGE, ManifestOptions())
    manifest = schema.OpaqueManifest(body=body, signature=b"\x01" * 64)
    error = _rejects(write_bundle(manifest.SerializeToString(), [IMAGE]), trust)
    assert error.problem == Problem.UNKNOWN_SIGNER


@pytest.mark.parametrize("field", ["debug_auth_pubkey", "crash_report_pubkey"])
def test_manifest_key_off_curve_rejected(field: str) -> None:
    body = _one_layer_body()
    not_on_curve = b"\x04" + b"\x01" * 64
    if field == "debug_auth_pubkey":
        body.debug.debug_auth_pubkey = not_on_curve
    else:
        body.crash.crash_report_pubkey = not_on_curve
    error = _rejects(_with_body(body, {layer_entry_name(IMAGE): IMAGE}))
    assert error.problem == Problem.UNSUPPORTED_KEY_TYPE
    assert field in str(error)
    assert "P-256" in str(error)


def test_non_p256_keys_rejected() -> None:
    other_curve = ec.generate_private_key(ec.SECP384R1())
    pem = other_curve.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(VerificationError, match="secp384r1") as caught:
        PrivateKeySigner.from_pem(pem, source="k.pem")
    assert caught.value.problem == Problem.UNSUPPORTED_KEY_TYPE
    with pytest.raises(VerificationError, match="secp384r1"):
        load_public_key_pem(pem, source="k.pem")
    with pytest.raises(VerificationError, match="not an uncompressed P-256 point"):
        TrustStore().add(b"\x02" + b"\x01" * 32)


def test_upper_case_layer_name_missing() -> None:
    body = build_app_body(IMAGE, ManifestOptions())
    entries = {"manifest": build_opaque_manifest(body), layer_entry_name(IMAGE).upper(): IMAGE}
    error = _rejects(
        Bundle(entries["manifest"], {k: v for k, v in entries.items() if k != "manifest"})
    )
    assert error.problem == Problem.LAYER_MISSING
    assert hashlib.sha256(IMAGE).hexdigest() in str(error)

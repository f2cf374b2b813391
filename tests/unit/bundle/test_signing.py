"""Signing scheme: key ids, signature encoding and key-type checks."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from openvisor.bundle import PrivateKeySigner, key_id, load_public_key_pem, verify_signature
from openvisor.errors import VerificationError


def test_key_id_follows_scheme() -> None:
    signer = PrivateKeySigner.generate()
    point = signer.public_key
    expected = int.from_bytes(hashlib.sha256(b"\x00\x00" + point).digest()[:8], "big")
    assert len(point) == 65
    assert point[0] == 0x04
    assert key_id(point) == expected


def test_signature_is_raw_r_s_over_context() -> None:
    signer = PrivateKeySigner.generate()
    body = b"\x0a\x03abc"
    signature = signer.sign(b"twlo-mv-manifest-v1\x00" + body)
    assert len(signature) == 64
    # Check with the cryptography library directly, outside our verify function.
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), signer.public_key)
    public.verify(der, b"twlo-mv-manifest-v1\x00" + body, ec.ECDSA(hashes.SHA256()))
    assert verify_signature(signer.public_key, body, signature)
    assert not verify_signature(signer.public_key, body + b"x", signature)
    assert not verify_signature(signer.public_key, body, signature[:63])


def test_pem_round_trip() -> None:
    signer = PrivateKeySigner.generate()
    assert load_public_key_pem(signer.public_pem()) == signer.public_key
    assert load_public_key_pem(signer.private_pem()) == signer.public_key
    assert PrivateKeySigner.from_pem(signer.private_pem()).public_key == signer.public_key


def test_other_curve_rejected() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(VerificationError) as info:
        load_public_key_pem(pem, source="p384.pem")
    assert info.value.problem == "unsupported-key-type"
    assert "secp384r1" in str(info.value)


def test_rsa_key_rejected() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(VerificationError) as info:
        PrivateKeySigner.from_pem(pem, source="rsa.pem")
    assert info.value.problem == "unsupported-key-type"


def test_invalid_point_rejected() -> None:
    with pytest.raises(VerificationError):
        key_id(b"\x04" + b"\x00" * 64)

"""Manifest signing: ECDSA P-256 with SHA-256 over a domain-separated message.

| item | value |
|---|---|
| signed message | ``b"twlo-mv-manifest-v1\\x00"`` + ``OpaqueManifest.body`` |
| signature | 64 bytes: ``r`` then ``s``, each 32 bytes big-endian |
| public key | 65-byte uncompressed X9.62 point (0x04, X, Y) |
| key id | first 8 bytes, big-endian, of SHA-256(0x00 0x00 + public key) |

Signing goes through the small :class:`Signer` interface, so a hardware
key store can stand in for a key file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from openvisor.errors import BundleError, VerificationError

MANIFEST_SIGNATURE_CONTEXT = b"twlo-mv-manifest-v1\x00"
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 65


class Signer(Protocol):
    """Something that signs manifest bodies with a P-256 key."""

    @property
    def public_key(self) -> bytes:
        """The 65-byte uncompressed public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte ``r || s`` ECDSA-SHA256 signature of ``message``."""
        ...


class PrivateKeySigner:
    """A :class:`Signer` holding a P-256 private key in memory.

    Example::

        signer = PrivateKeySigner.from_pem_file(Path("dev-sign.pem"))
        signature = signer.sign(b"message")
    """

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise VerificationError(
                f"unsupported signing key curve {private_key.curve.name}; "
                "use a NIST P-256 key (ov keys generate)",
                problem="unsupported-key-type",
            )
        self._key = private_key

    @classmethod
    def generate(cls) -> PrivateKeySigner:
        """Create a signer with a fresh random P-256 key."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes, *, source: str = "PEM data") -> PrivateKeySigner:
        """Load a PEM (PKCS#8 or SEC1, unencrypted) P-256 private key."""
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise VerificationError(
                f"{source} is not an unencrypted PEM private key ({exc}); "
                "create one with ov keys generate",
                problem="unsupported-key-type",
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise VerificationError(
                f"{source} contains a {type(key).__name__}, not an EC key; use a NIST P-256 key",
                problem="unsupported-key-type",
            )
        return cls(key)

    @classmethod
    def from_pem_file(cls, path: Path) -> PrivateKeySigner:
        """Load a signer from a PEM private key file."""
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise BundleError(f"cannot read signing key {path}: {exc}") from exc
        return cls.from_pem(pem, source=str(path))

    @property
    def public_key(self) -> bytes:
        """The 65-byte uncompressed public key."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def private_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        """Return the public key as SubjectPublicKeyInfo PEM."""
        return public_key_to_pem(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte ``r || s`` ECDSA-SHA256 signature of ``message``."""
        der = self._key.sign(message, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def key_id(public_key: bytes) -> int:
    """Return the 64-bit key id (``signer_id``) of a 65-byte public key."""
    check_public_key(public_key)
    digest = hashlib.sha256(b"\x00\x00" + public_key).digest()
    return int.from_bytes(digest[:8], "big")


def check_public_key(public_key: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a 65-byte uncompressed P-256 point, raising VerificationError when invalid."""
    if len(public_key) != PUBLIC_KEY_SIZE or public_key[0] != 0x04:
        raise VerificationError(
            f"public key of {len(public_key)} bytes starting 0x{public_key[:1].hex() or '--'} "
            "is not an uncompressed P-256 point (65 bytes starting 0x04)",
            problem="unsupported-key-type",
        )
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    except ValueError as exc:
        raise VerificationError(
            f"public key {public_key.hex()[:16]}... is not a point on P-256: {exc}",
            problem="unsupported-key-type",
        ) from exc


def load_public_key_pem(pem: bytes, *, source: str = "PEM data") -> bytes:
    """Return the 65-byte point of a P-256 public (or private) key in PEM form."""
    try:
        if b"PRIVATE KEY" in pem:
            private = serialization.load_pem_private_key(pem, password=None)
            key: object = private.public_key()
        else:
            key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise VerificationError(
            f"{source} is not a PEM key ({exc}); create one with ov keys generate",
            problem="unsupported-key-type",
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        curve = getattr(getattr(key, "curve", None), "name", type(key).__name__)
        raise VerificationError(
            f"{source} contains a {curve} key; only NIST P-256 (secp256r1) keys are supported",
            problem="unsupported-key-type",
        )
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def public_key_to_pem(public_key: bytes) -> bytes:
    """Encode a 65-byte P-256 point as SubjectPublicKeyInfo PEM."""
    return check_public_key(public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def manifest_message(body: bytes) -> bytes:
    """Return the bytes a manifest signature covers."""
    return MANIFEST_SIGNATURE_CONTEXT + body


def verify_signature(public_key: bytes, body: bytes, signature: bytes) -> bool:
    """Return whether ``signature`` is a valid signature of manifest ``body`` by the key."""
    key = check_public_key(public_key)
    if len(signature) != SIGNATURE_SIZE:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), manifest_message(body), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True

"""The cloud's bundle-signing key and the manifest wire format it signs.

Scheme (the public Microvisor bundle format): ECDSA P-256 with SHA-256
over ``b"twlo-mv-manifest-v1\\x00" + body``. The signature is 64 bytes,
``r`` then ``s``, each 32 bytes big-endian. The key id (``signer_id``) is
the first 8 bytes, big-endian, of SHA-256 over ``b"\\x00\\x00"`` plus the
65-byte uncompressed public key.

Byte layout of ``OpaqueManifest`` (protobuf, proto3):

====== ========= ==========================
field  wire type content
====== ========= ==========================
1      varint    signer_id (uint64)
2      bytes     body (serialised AppBody)
3      bytes     signature (64 bytes)
====== ========= ==========================
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openvisor.cloud.models import SigningKey
from openvisor.cloud.security import SecretBox
from openvisor.errors import BundleError, ConfigError, VerificationError

log = logging.getLogger(__name__)

SIGNING_CONTEXT = b"twlo-mv-manifest-v1\x00"


def key_id(public_point: bytes) -> int:
    """Compute the ``signer_id`` of a 65-byte uncompressed P-256 public key."""
    return int.from_bytes(hashlib.sha256(b"\x00\x00" + public_point).digest()[:8], "big")


@dataclass(frozen=True)
class CloudSigner:
    """The cloud's P-256 bundle-signing key.

    >>> signer = CloudSigner(ec.generate_private_key(ec.SECP256R1()))
    >>> signer.verify(b"body", signer.sign(b"body"))
    """

    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_point(self) -> bytes:
        """The 65-byte uncompressed public key that devices trust."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def signer_id(self) -> int:
        """The key id written into signed manifests."""
        return key_id(self.public_point)

    def sign(self, body: bytes) -> bytes:
        """Sign a manifest body and return the 64-byte ``r || s`` signature."""
        der = self.private_key.sign(SIGNING_CONTEXT + body, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, body: bytes, signature: bytes) -> None:
        """Check a signature this key made; raise :class:`VerificationError` if invalid."""
        if len(signature) != 64:
            raise VerificationError(f"signature is {len(signature)} bytes: expected 64")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self.private_key.public_key().verify(
                der, SIGNING_CONTEXT + body, ec.ECDSA(hashes.SHA256())
            )
        except InvalidSignature as exc:
            raise VerificationError(
                f"manifest signature does not verify with signer {self.signer_id:#018x}"
            ) from exc


def load_signer(session: Session, *, key_file: Path | None, box: SecretBox) -> CloudSigner:
    """Load the signing key from a PEM file, or from SQL (created on first use)."""
    if key_file is not None:
        try:
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load signing key {key_file}: give a PEM P-256 private key ({exc})"
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ConfigError(f"signing key {key_file} is not a P-256 key: use a NIST P-256 key")
        return CloudSigner(key)

    row = session.get(SigningKey, 1)
    if row is None:
        generated = ec.generate_private_key(ec.SECP256R1())
        pem = generated.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        try:
            with session.begin_nested():
                session.add(SigningKey(id=1, private_key_pem=box.seal(pem)))
            session.commit()
            log.info(
                "Created bundle-signing key (signer_id=%#018x)", CloudSigner(generated).signer_id
            )
        except IntegrityError:
            # Another instance created the key first: use that one.
            session.rollback()
        row = session.get(SigningKey, 1)
        assert row is not None
    key = serialization.load_pem_private_key(box.open(row.private_key_pem).encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return CloudSigner(key)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise BundleError("truncated or oversized varint in manifest")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def iter_fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """Decode a protobuf message into ``(field, wire type, value)`` triples."""
    fields: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        tag, pos = _read_varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            fields.append((number, wire, value))
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise BundleError(f"field {number} runs past the end of the manifest")
            fields.append((number, wire, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            fields.append((number, wire, data[pos : pos + 8]))
            pos += 8
        elif wire == 5:
            fields.append((number, wire, data[pos : pos + 4]))
            pos += 4
        else:
            raise BundleError(f"unsupported protobuf wire type {wire} in field {number}")
    return fields


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@dataclass(frozen=True)
class OpaqueManifest:
    """A manifest with its body kept as the exact bytes that are signed."""

    signer_id: int
    body: bytes
    signature: bytes

    @classmethod
    def parse(cls, data: bytes) -> OpaqueManifest:
        """Parse serialised ``OpaqueManifest`` bytes."""
        signer_id, body, signature = 0, b"", b""
        for number, _wire, value in iter_fields(data):
            if number == 1 and isinstance(value, int):
                signer_id = value
            elif number == 2 and isinstance(value, bytes):
                body = value
            elif number == 3 and isinstance(value, bytes):
                signature = value
        return cls(signer_id, body, signature)

    def serialize(self) -> bytes:
        """Serialise in field order, leaving out proto3 default values."""
        out = bytearray()
        if self.signer_id:
            out += b"\x08" + _varint(self.signer_id)
        if self.body:
            out += b"\x12" + _varint(len(self.body)) + self.body
        if self.signature:
            out += b"\x1a" + _varint(len(self.signature)) + self.signature
        return bytes(out)


def layer_fetch_hashes(body: bytes) -> list[bytes]:
    """Return the ``fetch_hash`` of every layer an ``AppBody`` lists."""
    hashes_: list[bytes] = []
    for number, _wire, value in iter_fields(body):
        if number == 1 and isinstance(value, bytes):
            for sub_number, _sub_wire, sub_value in iter_fields(value):
                if sub_number == 3 and isinstance(sub_value, bytes):
                    hashes_.append(sub_value)
    return hashes_

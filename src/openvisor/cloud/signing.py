"""The cloud's bundle-signing key.

Signatures follow the bundle format (``openvisor.bundle``): ECDSA P-256
with SHA-256 over the manifest body with its context prefix, 64 bytes
``r || s``. The key id (``signer_id``) that devices look up in their trust
store is derived from the public key by :func:`openvisor.bundle.key_id`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openvisor.bundle import PrivateKeySigner, key_id, verify_signature
from openvisor.cloud.models import SigningKey
from openvisor.cloud.security import SecretBox
from openvisor.errors import ConfigError, OpenvisorError

log = logging.getLogger(__name__)


class CloudSigner(PrivateKeySigner):
    """The cloud's P-256 bundle-signing key: a bundle ``Signer`` plus its key id.

    >>> signer = CloudSigner(ec.generate_private_key(ec.SECP256R1()))
    >>> len(signer.public_point)
    65
    """

    @property
    def public_point(self) -> bytes:
        """The 65-byte uncompressed public key that devices trust."""
        return self.public_key

    @property
    def signer_id(self) -> int:
        """The key id written into signed manifests."""
        return key_id(self.public_key)

    def verifies(self, body: bytes, signature: bytes) -> bool:
        """Check that ``signature`` over a manifest body was made by this key."""
        return verify_signature(self.public_key, body, signature)


def load_signer(session: Session, *, key_file: Path | None, box: SecretBox) -> CloudSigner:
    """Load the signing key from a PEM file, or from SQL (created on first use)."""
    if key_file is not None:
        try:
            key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load signing key {key_file}: give a PEM P-256 private key ({exc})"
            ) from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"signing key {key_file} is not an EC key: use a NIST P-256 key")
        try:
            return CloudSigner(key)
        except OpenvisorError as exc:
            raise ConfigError(f"signing key {key_file} is not usable: {exc}") from exc

    row = session.get(SigningKey, 1)
    if row is None:
        generated = ec.generate_private_key(ec.SECP256R1())
        pem = generated.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        try:
            session.add(SigningKey(id=1, private_key_pem=box.seal(pem)))
            session.commit()
            log.info(
                "Created bundle-signing key (signer_id=%016x)", CloudSigner(generated).signer_id
            )
        except IntegrityError:
            # Another instance created the key first: use that one.
            session.rollback()
        row = session.get(SigningKey, 1)
        if row is None:
            raise ConfigError("the bundle-signing key row vanished: check the database")
    loaded = serialization.load_pem_private_key(
        box.open(row.private_key_pem).encode(), password=None
    )
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ConfigError("the stored bundle-signing key is not an EC key: restore the database")
    return CloudSigner(loaded)

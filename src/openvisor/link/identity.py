"""A device's identity: its id and P-256 key pair, kept in its state directory.

Files under ``<state dir>/identity/``:

- ``device.json``: ``{"device_id": "UV..."}``
- ``device-key.pem``: the PKCS#8 private key (mode 0600)
- ``device-cert.pem``: an optional X.509 certificate for the key, for
  brokers that authenticate devices by TLS client certificate

The key signs the broker password (`mqtt_password`): the string
``v1.<unix seconds>.<base64url DER ECDSA-SHA256 signature>`` over
``openvisor-mqtt:<device id>:<unix seconds>``. A broker that has the
device's public key checks it with `verify_mqtt_password`; nothing secret
ever leaves the device.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openvisor import atomicfile
from openvisor.errors import LinkError, StateError
from openvisor.link.topics import check_device_id

log = logging.getLogger(__name__)

# A signed password stays valid this long either side of the broker's clock.
PASSWORD_WINDOW_S = 300


def new_device_id() -> str:
    """Return a fresh device id: ``UV`` and 32 lowercase hex digits (128 random bits)."""
    return "UV" + secrets.token_hex(16)


@dataclass
class DeviceIdentity:
    """A device id with its P-256 private key.

    Example::

        identity = DeviceIdentity.load_or_create(state_dir)
        password = identity.mqtt_password()
    """

    device_id: str
    private_key: ec.EllipticCurvePrivateKey
    certificate_pem: bytes | None = None

    @classmethod
    def create(cls, state_dir: Path, *, device_id: str | None = None) -> DeviceIdentity:
        """Create a new identity in ``state_dir``; raise if one exists there."""
        folder = state_dir / "identity"
        if (folder / "device.json").exists():
            raise StateError(
                f"device state {state_dir} already has an identity; load it or use a new "
                "state directory"
            )
        identity = cls(
            check_device_id(device_id or new_device_id()), ec.generate_private_key(ec.SECP256R1())
        )
        identity._save(folder)
        log.info("Create device identity (device=%s, state_dir=%s)", identity.device_id, state_dir)
        return identity

    @classmethod
    def load(cls, state_dir: Path) -> DeviceIdentity:
        """Load the identity stored in ``state_dir``."""
        folder = state_dir / "identity"
        info = atomicfile.read_json(folder / "device.json")
        if not isinstance(info, dict) or not isinstance(info.get("device_id"), str):
            raise StateError(
                f"device state {state_dir} has no identity; provision the device first"
            )
        try:
            key = serialization.load_pem_private_key((folder / "device-key.pem").read_bytes(), None)
        except (OSError, ValueError) as exc:
            raise StateError(f"device key in {folder} is unreadable ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise StateError(f"device key in {folder} is not a P-256 private key")
        cert_path = folder / "device-cert.pem"
        cert = cert_path.read_bytes() if cert_path.exists() else None
        return cls(check_device_id(info["device_id"]), key, cert)

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DeviceIdentity:
        """Load the identity in ``state_dir``, creating one on first use."""
        if (state_dir / "identity" / "device.json").exists():
            return cls.load(state_dir)
        return cls.create(state_dir)

    def _save(self, folder: Path) -> None:
        key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomicfile.write_bytes(folder / "device-key.pem", key_pem)
        os.chmod(folder / "device-key.pem", 0o600)
        atomicfile.write_json(folder / "device.json", {"device_id": self.device_id})

    def save_certificate(self, state_dir: Path, certificate_pem: bytes) -> None:
        """Store a certificate issued for this device's key."""
        cert = x509.load_pem_x509_certificate(certificate_pem)
        key = cert.public_key()
        if (
            not isinstance(key, ec.EllipticCurvePublicKey)
            or key.public_numbers() != self.private_key.public_key().public_numbers()
        ):
            raise LinkError(
                f"certificate subject {cert.subject.rfc4514_string()} does not match the key "
                f"of device {self.device_id}; issue it from this device's public key"
            )
        atomicfile.write_bytes(state_dir / "identity" / "device-cert.pem", certificate_pem)
        self.certificate_pem = certificate_pem

    def public_key_pem(self) -> str:
        """Return the public key as a PEM SubjectPublicKeyInfo."""
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def mqtt_password(self, *, now: float | None = None) -> str:
        """Return a fresh signed broker password (see the module docstring)."""
        stamp = int(time.time() if now is None else now)
        signed = f"openvisor-mqtt:{self.device_id}:{stamp}".encode()
        signature = self.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return f"v1.{stamp}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def verify_mqtt_password(
    device_id: str, password: str, public_key_pem: str, *, now: float | None = None
) -> bool:
    """Return whether ``password`` was signed by ``device_id``'s key within the window."""
    parts = password.split(".")
    if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
        return False
    stamp = int(parts[1])
    current = time.time() if now is None else now
    if abs(current - stamp) > PASSWORD_WINDOW_S:
        return False
    try:
        signature = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        key = serialization.load_pem_public_key(public_key_pem.encode())
    except ValueError:
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(
            signature, f"openvisor-mqtt:{device_id}:{stamp}".encode(), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        return False
    return True

"""Device identity: id format, key storage and signed broker passwords."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from openvisor.errors import LinkError, StateError
from openvisor.link import topics
from openvisor.link.identity import DeviceIdentity, new_device_id, verify_mqtt_password


def test_new_ids_are_unique_and_valid() -> None:
    ids = {new_device_id() for _ in range(100)}
    assert len(ids) == 100
    for value in ids:
        assert topics.DEVICE_ID_PATTERN.fullmatch(value)


def test_create_then_load(tmp_path: Path) -> None:
    created = DeviceIdentity.create(tmp_path)
    loaded = DeviceIdentity.load(tmp_path)
    assert loaded.device_id == created.device_id
    assert loaded.public_key_pem() == created.public_key_pem()
    assert isinstance(loaded.private_key.curve, ec.SECP256R1)
    mode = (tmp_path / "identity" / "device-key.pem").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_create_refuses_existing(tmp_path: Path) -> None:
    DeviceIdentity.create(tmp_path)
    with pytest.raises(StateError, match="already has an identity"):
        DeviceIdentity.create(tmp_path)


def test_load_or_create_is_stable(tmp_path: Path) -> None:
    first = DeviceIdentity.load_or_create(tmp_path).device_id
    assert DeviceIdentity.load_or_create(tmp_path).device_id == first


def test_load_missing_identity(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="provision"):
        DeviceIdentity.load(tmp_path)


def test_password_verifies(tmp_path: Path) -> None:
    identity = DeviceIdentity.create(tmp_path)
    password = identity.mqtt_password(now=1_000_000)
    pem = identity.public_key_pem()
    assert verify_mqtt_password(identity.device_id, password, pem, now=1_000_010)


def test_password_rejections(tmp_path: Path) -> None:
    identity = DeviceIdentity.create(tmp_path)
    other = DeviceIdentity.create(tmp_path / "other")
    password = identity.mqtt_password(now=1_000_000)
    pem = identity.public_key_pem()
    # Too old, signed by another key, for another id, or malformed.
    assert not verify_mqtt_password(identity.device_id, password, pem, now=1_000_000 + 301)
    assert not verify_mqtt_password(identity.device_id, password, other.public_key_pem(), now=1e6)
    assert not verify_mqtt_password(other.device_id, password, pem, now=1_000_000)
    assert not verify_mqtt_password(identity.device_id, "v1.1000000.AAAA", pem, now=1_000_000)
    assert not verify_mqtt_password(identity.device_id, "secret", pem, now=1_000_000)


def _certificate(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.PEM)


def test_certificate_must_match_key(tmp_path: Path) -> None:
    identity = DeviceIdentity.create(tmp_path)
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(LinkError, match="does not match"):
        identity.save_certificate(tmp_path, _certificate(stranger))
    identity.save_certificate(tmp_path, _certificate(identity.private_key))
    assert DeviceIdentity.load(tmp_path).certificate_pem == identity.certificate_pem

"""Debug tunnel handshake, encryption, key rejection and replay protection."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openvisor.errors import DebugAuthError, DebugError
from openvisor.gdb.tunnel import (
    FRAME_DATA,
    ClientTunnel,
    DebugReplayError,
    DeviceTunnel,
    RejectReason,
    load_private_key,
    public_point,
    raise_rejected,
    reject_frame,
)


def _pair() -> tuple[ClientTunnel, DeviceTunnel]:
    key = ec.generate_private_key(ec.SECP256R1())
    client = ClientTunnel(key)
    device = DeviceTunnel(public_point(key))
    confirmation = client.finish(device.accept(client.hello()))
    client.confirm(device.confirm(confirmation))
    return client, device


def test_round_trip_both_directions() -> None:
    client, device = _pair()
    assert device.open(client.seal(b"$g#67")) == b"$g#67"
    assert client.open(device.seal(b"+$OK#9a")) == b"+$OK#9a"
    assert device.confirmed


def test_ciphertext_hides_packet() -> None:
    client, _device = _pair()
    frame = client.seal(b"$g#67" * 4)
    assert frame[0] == FRAME_DATA
    assert b"$g#67" not in frame


def test_wrong_key_is_rejected() -> None:
    bundled = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    client = ClientTunnel(other)
    device = DeviceTunnel(public_point(bundled))
    confirmation = client.finish(device.accept(client.hello()))
    with pytest.raises(DebugAuthError, match="does not match the debug_auth_pubkey"):
        device.confirm(confirmation)
    assert not device.confirmed


def test_missing_bundle_key_is_rejected() -> None:
    client = ClientTunnel(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(DebugAuthError, match="no debug_auth_pubkey"):
        DeviceTunnel(None).accept(client.hello())


def test_replayed_frame_is_rejected() -> None:
    client, device = _pair()
    frame = client.seal(b"$s#73")
    assert device.open(frame) == b"$s#73"
    with pytest.raises(DebugReplayError):
        device.open(frame)
    assert device.rejected_frames == 1
    # The session goes on with the next fresh frame.
    assert device.open(client.seal(b"$g#67")) == b"$g#67"


def test_altered_frame_is_rejected() -> None:
    client, device = _pair()
    frame = bytearray(client.seal(b"$g#67"))
    frame[-1] ^= 1
    with pytest.raises(DebugAuthError, match="failed authentication"):
        device.open(bytes(frame))


def test_frame_from_other_session_is_rejected() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    old_client, _old_device = _pair()
    old_frame = old_client.seal(b"$g#67")
    client = ClientTunnel(key)
    device = DeviceTunnel(public_point(key))
    device.confirm(client.finish(device.accept(client.hello())))
    with pytest.raises(DebugAuthError):
        device.open(old_frame)


def test_lost_frame_ends_session() -> None:
    client, device = _pair()
    client.seal(b"lost")
    with pytest.raises(DebugError, match="were lost"):
        device.open(client.seal(b"next"))


def test_reject_frame_raises_auth_error() -> None:
    frame = reject_frame(RejectReason.BAD_KEY, "wrong key")
    with pytest.raises(DebugAuthError, match="wrong key"):
        raise_rejected(frame)


def test_load_private_key_rejects_other_curves() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(DebugAuthError, match="P-256"):
        load_private_key(pem)


def test_load_private_key_rejects_garbage() -> None:
    with pytest.raises(DebugAuthError, match="not an unencrypted PEM"):
        load_private_key(b"not a key")

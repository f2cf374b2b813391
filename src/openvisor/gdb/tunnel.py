"""End-to-end encryption of the debug tunnel between ``ov debug`` and the device kernel.

The cloud relays tunnel frames without being able to read or forge them.
The developer holds a P-256 private key whose public half is the bundle's
``debug_auth_pubkey``; the device trusts no other key for debugging.

Handshake (two frames, then data)::

    client -> device  HELLO  version | client ephemeral public key | client nonce
    device -> client  HELLO  version | device ephemeral public key | device nonce
    client -> device  DATA   seq 0, empty plaintext (key confirmation)
    device -> client  DATA   seq 0, empty plaintext

Both sides compute two ECDH secrets: ephemeral x ephemeral (forward
secrecy) and device ephemeral x the developer's static key (only the holder
of the private key can compute it). HKDF-SHA256 (RFC 5869) over both, salted
with a hash of the two HELLO frames and the static public key, yields one
AES-256-GCM key per direction. A device that cannot open the first DATA
frame answers REJECT and ends the session.

Frame layout (all integers big-endian)::

    offset  size  field
    0       1     type: 1 HELLO (client), 2 HELLO (device), 3 DATA, 4 REJECT
    HELLO:
    1       1     version (1)
    2       65    ephemeral public key, uncompressed X9.62 point
    67      16    random nonce
    DATA:
    1       8     sequence number, from 0 per direction
    9       n+16  AES-GCM ciphertext and tag; associated data = bytes 0..8
    REJECT:
    1       1     reason code (see RejectReason)
    2       n     UTF-8 text for the developer (not authenticated)

Each DATA plaintext after the key confirmation starts with one byte
saying what follows: 0 bytes of the GDB remote protocol, 1 GDB connected
to ``ov debug`` (the stub starts afresh), 2 GDB disconnected.

The GCM nonce is a 4-byte direction label followed by the 8-byte sequence
number, so no nonce repeats under one key. A receiver accepts only the next
sequence number: an older one is a replay and is dropped, a later one means
frames were lost and ends the session.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openvisor.errors import DebugAuthError, DebugError

log = logging.getLogger(__name__)

VERSION = 1
FRAME_CLIENT_HELLO = 1
FRAME_DEVICE_HELLO = 2
FRAME_DATA = 3
FRAME_REJECT = 4

PLAIN_RSP = 0
PLAIN_ATTACH = 1
PLAIN_DETACH = 2

POINT_BYTES = 65
NONCE_BYTES = 16
TAG_BYTES = 16
HELLO_BYTES = 1 + 1 + POINT_BYTES + NONCE_BYTES
DATA_HEADER = struct.Struct(">BQ")  # type, sequence number
MAX_PLAINTEXT = 64 * 1024

_KDF_INFO = b"openvisor debug tunnel v1"
_LABEL_TO_DEVICE = b"c2d\x00"
_LABEL_TO_CLIENT = b"d2c\x00"


class RejectReason(IntEnum):
    """Reason a device ended a debug session."""

    BAD_KEY = 1
    NOT_DEBUGGABLE = 2
    PROTOCOL = 3
    BUSY = 4
    REPLAY = 5


class DebugReplayError(DebugAuthError):
    """A tunnel frame repeated a sequence number already accepted."""

    def __init__(self, sequence: int, expected: int) -> None:
        super().__init__(
            f"debug frame with sequence number {sequence} was already received "
            f"(next expected {expected}): replayed frame rejected"
        )
        self.sequence = sequence
        self.expected = expected


def load_private_key(pem: bytes, source: object = None) -> ec.EllipticCurvePrivateKey:
    """Load a P-256 private key from PEM, raising DebugAuthError for any other key.

    ``source`` (a path or name) is quoted in the error messages when given.
    """
    label = f"debugging key {source}" if source is not None else "debugging key"
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DebugAuthError(
            f"{label} is not an unencrypted PEM private key ({exc}): create a key pair with "
            "`ov keys generate debug` and pass debug.pem"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise DebugAuthError(
            f"{label} is not a NIST P-256 (prime256v1) EC key: bundles accept only P-256; "
            "create a key pair with `ov keys generate debug`"
        )
    return key


def public_point(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """Return the 65-byte uncompressed X9.62 point of a P-256 key."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _load_point(point: bytes, what: str) -> ec.EllipticCurvePublicKey:
    if len(point) != POINT_BYTES or point[0] != 0x04:
        raise DebugAuthError(f"{what} is not a 65-byte uncompressed P-256 point")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise DebugAuthError(f"{what} is not a point on P-256") from exc


def _hello(frame_type: int, point: bytes, nonce: bytes) -> bytes:
    return bytes([frame_type, VERSION]) + point + nonce


def _parse_hello(frame: bytes, frame_type: int) -> tuple[bytes, bytes]:
    if len(frame) != HELLO_BYTES or frame[0] != frame_type:
        raise DebugError(f"expected a {HELLO_BYTES}-byte HELLO frame of type {frame_type}")
    if frame[1] != VERSION:
        raise DebugError(
            f"debug tunnel version {frame[1]} is not supported (this side speaks {VERSION}): "
            "update openvisor on both ends"
        )
    return frame[2 : 2 + POINT_BYTES], frame[2 + POINT_BYTES :]


def reject_frame(reason: RejectReason, text: str) -> bytes:
    """Build a REJECT frame."""
    return bytes([FRAME_REJECT, int(reason)]) + text.encode("utf-8")


def parse_reject(frame: bytes) -> tuple[RejectReason, str]:
    """Return the reason and text of a REJECT frame."""
    try:
        reason = RejectReason(frame[1])
    except (IndexError, ValueError):
        reason = RejectReason.PROTOCOL
    return reason, frame[2:].decode("utf-8", errors="replace")


def _derive_keys(
    *, ephemeral_secret: bytes, static_secret: bytes, transcript: bytes
) -> tuple[bytes, bytes]:
    salt = hashlib.sha256(transcript).digest()
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=salt, info=_KDF_INFO).derive(
        ephemeral_secret + static_secret
    )
    return okm[:32], okm[32:]


class _Direction:
    """One direction of the tunnel: a key, a nonce label and a sequence counter."""

    def __init__(self, key: bytes, label: bytes) -> None:
        self._aead = AESGCM(key)
        self._label = label
        self.sequence = 0

    def seal(self, plaintext: bytes) -> bytes:
        header = DATA_HEADER.pack(FRAME_DATA, self.sequence)
        nonce = self._label + header[1:]
        self.sequence += 1
        return header + self._aead.encrypt(nonce, plaintext, header)

    def open(self, frame: bytes) -> bytes:
        if len(frame) < DATA_HEADER.size + TAG_BYTES or frame[0] != FRAME_DATA:
            raise DebugError(f"debug DATA frame of {len(frame)} bytes is malformed")
        header = frame[: DATA_HEADER.size]
        _type, sequence = DATA_HEADER.unpack(header)
        if sequence < self.sequence:
            raise DebugReplayError(sequence, self.sequence)
        if sequence > self.sequence:
            raise DebugError(
                f"debug frames {self.sequence}..{sequence - 1} were lost: the session ends"
            )
        try:
            plaintext = self._aead.decrypt(
                self._label + header[1:], frame[DATA_HEADER.size :], header
            )
        except InvalidTag as exc:
            raise DebugAuthError(
                f"debug frame {sequence} failed authentication: wrong key or altered frame"
            ) from exc
        self.sequence += 1
        return plaintext


class ClientTunnel:
    """The developer's end of the tunnel (``ov debug``).

    Example::

        client = ClientTunnel(load_private_key(pem))
        send(client.hello())
        send(client.finish(receive()))       # key confirmation frame
        client.confirm(receive())             # raises DebugAuthError if rejected
        send(client.seal(b"$g#67"))
    """

    def __init__(self, static_key: ec.EllipticCurvePrivateKey) -> None:
        self._static = static_key
        self._ephemeral = ec.generate_private_key(ec.SECP256R1())
        self._hello = _hello(FRAME_CLIENT_HELLO, public_point(self._ephemeral), os.urandom(16))
        self._send: _Direction | None = None
        self._receive: _Direction | None = None

    def hello(self) -> bytes:
        """Return the client HELLO frame."""
        return self._hello

    def finish(self, device_hello: bytes) -> bytes:
        """Derive the keys from the device HELLO and return the key confirmation frame."""
        if device_hello[:1] == bytes([FRAME_REJECT]):
            raise_rejected(device_hello)
        point, _nonce = _parse_hello(device_hello, FRAME_DEVICE_HELLO)
        device_public = _load_point(point, "device ephemeral key")
        transcript = self._hello + device_hello + public_point(self._static)
        to_device, to_client = _derive_keys(
            ephemeral_secret=self._ephemeral.exchange(ec.ECDH(), device_public),
            static_secret=self._static.exchange(ec.ECDH(), device_public),
            transcript=transcript,
        )
        self._send = _Direction(to_device, _LABEL_TO_DEVICE)
        self._receive = _Direction(to_client, _LABEL_TO_CLIENT)
        return self._send.seal(b"")

    def confirm(self, frame: bytes) -> None:
        """Check the device's key confirmation, raising DebugAuthError when it rejected us."""
        if self.open(frame) != b"":
            raise DebugError("device key confirmation carried data: protocol mismatch")

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt RSP bytes for the device."""
        if self._send is None:
            raise DebugError("debug tunnel handshake is not finished: call finish() first")
        return self._send.seal(plaintext)

    def open(self, frame: bytes) -> bytes:
        """Decrypt a frame from the device; REJECT frames raise DebugAuthError."""
        if frame[:1] == bytes([FRAME_REJECT]):
            raise_rejected(frame)
        if self._receive is None:
            raise DebugError("debug tunnel handshake is not finished: call finish() first")
        return self._receive.open(frame)


def raise_rejected(frame: bytes) -> None:
    """Raise the error a REJECT frame stands for."""
    reason, text = parse_reject(frame)
    if reason in (RejectReason.BAD_KEY, RejectReason.NOT_DEBUGGABLE, RejectReason.REPLAY):
        raise DebugAuthError(f"device rejected the debug session: {text}")
    raise DebugError(f"device ended the debug session: {text}")


class DeviceTunnel:
    """The device kernel's end of the tunnel, bound to the bundle's ``debug_auth_pubkey``.

    Example::

        device = DeviceTunnel(bundle_debug_pubkey)
        send(device.accept(client_hello))
        send(device.confirm(receive()))      # raises DebugAuthError for a wrong key
        gdb_bytes = device.open(receive())
    """

    def __init__(self, debug_auth_pubkey: bytes | None) -> None:
        self._static_point = debug_auth_pubkey
        self._send: _Direction | None = None
        self._receive: _Direction | None = None
        self.confirmed = False
        self.rejected_frames = 0

    def accept(self, client_hello: bytes) -> bytes:
        """Reply to a client HELLO with the device HELLO, or raise DebugAuthError."""
        if not self._static_point:
            raise DebugAuthError(
                "the running application's bundle has no debug_auth_pubkey: rebuild the "
                "bundle with a debugging key to allow debugging"
            )
        static_public = _load_point(self._static_point, "bundle debug_auth_pubkey")
        point, _nonce = _parse_hello(client_hello, FRAME_CLIENT_HELLO)
        client_public = _load_point(point, "client ephemeral key")
        ephemeral = ec.generate_private_key(ec.SECP256R1())
        device_hello = _hello(FRAME_DEVICE_HELLO, public_point(ephemeral), os.urandom(16))
        transcript = client_hello + device_hello + self._static_point
        to_device, to_client = _derive_keys(
            ephemeral_secret=ephemeral.exchange(ec.ECDH(), client_public),
            static_secret=ephemeral.exchange(ec.ECDH(), static_public),
            transcript=transcript,
        )
        self._receive = _Direction(to_device, _LABEL_TO_DEVICE)
        self._send = _Direction(to_client, _LABEL_TO_CLIENT)
        return device_hello

    def confirm(self, frame: bytes) -> bytes:
        """Check the client's key confirmation and return the device's own."""
        try:
            self.open(frame)
        except DebugAuthError as exc:
            raise DebugAuthError(
                "debugging key does not match the debug_auth_pubkey of the running "
                "application's bundle: use the private key whose public key was bundled"
            ) from exc
        self.confirmed = True
        return self.seal(b"")

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt RSP bytes for the client."""
        if self._send is None:
            raise DebugError("debug tunnel handshake is not finished")
        return self._send.seal(plaintext)

    def open(self, frame: bytes) -> bytes:
        """Decrypt a frame from the client; replays and forgeries raise DebugAuthError."""
        if self._receive is None:
            raise DebugError("debug tunnel handshake is not finished")
        try:
            return self._receive.open(frame)
        except DebugAuthError:
            self.rejected_frames += 1
            raise

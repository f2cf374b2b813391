"""Our bundles against the public bundler's algorithm, written here from the format description.

The reference below follows the published steps. The layer comes from objcopy
to Intel HEX, then to a binary with gap fill 0xFF. The manifest has one layer
in internal flash at offset 0 of a 1 MiB region, an optional debug key, and
always an update and a connectivity message. The signer is 0 and there is no
signature. The protobuf bytes are encoded by hand, so the check shares no
code with our schema.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.bundle import (
    ManifestOptions,
    PrivateKeySigner,
    create_bundle,
    read_bundle,
    verify_bundle,
)
from openvisor.ota import OtaManager

REGION_SIZE = 0x100000


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _uint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _reference_image(elf: Path, tmp_path: Path) -> bytes:
    hex_path = tmp_path / "app.hex"
    bin_path = tmp_path / "app.bin"
    subprocess.run(["arm-none-eabi-objcopy", "-O", "ihex", str(elf), str(hex_path)], check=True)
    subprocess.run(
        ["arm-none-eabi-objcopy", "-I", "ihex", "-O", "binary", "--gap-fill=0xff"]
        + [str(hex_path), str(bin_path)],
        check=True,
    )
    return bin_path.read_bytes()


def _reference_bundle(
    elf: Path,
    tmp_path: Path,
    *,
    debug_key: bytes | None,
    minimum_kernel_version: int,
    grace: int,
    check_in: int,
) -> tuple[bytes, bytes]:
    """Return (manifest bytes, layer bytes) as the public bundler makes them."""
    layer = _reference_image(elf, tmp_path)
    padded = layer + b"\xff" * (REGION_SIZE - len(layer))
    region = _len_field(1, _uint_field(1, 0) + _uint_field(2, REGION_SIZE))
    layer_ref = (
        _len_field(1, region)
        + _len_field(3, hashlib.sha256(layer).digest())
        + _len_field(4, hashlib.sha256(padded).digest())
    )
    body = _len_field(1, layer_ref)
    if debug_key is not None:
        body += _len_field(2, _len_field(2, debug_key))
    body += _len_field(4, _uint_field(2, minimum_kernel_version))
    body += _len_field(5, _uint_field(1, grace) + _uint_field(2, check_in))
    manifest = _len_field(2, body)
    return manifest, layer


@pytest.mark.parametrize(
    ("with_debug_key", "minimum_kernel_version", "grace", "check_in"),
    [(False, 0, 0, 0), (True, 3, 60, 0), (False, 0, 0, 900), (True, 1, 300, 3600)],
)
def test_bundle_matches_reference(
    firmware: Callable[[str], Path],
    tmp_path: Path,
    with_debug_key: bool,
    minimum_kernel_version: int,
    grace: int,
    check_in: int,
) -> None:
    elf = firmware("hello")
    debug_key = PrivateKeySigner.generate().public_key if with_debug_key else None
    expected_manifest, expected_layer = _reference_bundle(
        elf,
        tmp_path,
        debug_key=debug_key,
        minimum_kernel_version=minimum_kernel_version,
        grace=grace,
        check_in=check_in,
    )
    options = ManifestOptions(
        debug_auth_pubkey=debug_key,
        minimum_kernel_version=minimum_kernel_version,
        connection_grace_time_sec=grace,
        minimum_check_in_time_sec=check_in,
    )

    ours = read_bundle(create_bundle(elf, options))

    assert ours.manifest == expected_manifest
    assert list(ours.layers) == [hashlib.sha256(expected_layer).hexdigest()]
    assert ours.layers[hashlib.sha256(expected_layer).hexdigest()] == expected_layer


def test_reference_bundle_is_accepted(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    elf = firmware("hello")
    manifest, layer = _reference_bundle(
        elf, tmp_path, debug_key=None, minimum_kernel_version=0, grace=0, check_in=0
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(hashlib.sha256(layer).hexdigest(), layer)
        archive.writestr("manifest", manifest)
    data = buffer.getvalue()

    verified = verify_bundle(data, trust=None, allow_unsigned=True, kernel_version=1)
    assert verified.app_id == hashlib.sha256(manifest[2 + (len(manifest) > 129) :]).hexdigest()
    assert verified.image[: len(layer)] == layer

    ota = OtaManager(tmp_path / "device", kernel_version=1, allow_unsigned=True)
    app_id = ota.install_local(data)
    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == app_id
    assert boot.image[: len(layer)] == layer

"""Loading application images: ELF, raw image, bundle, and the crash policy they carry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from openvisor.bundle import ManifestOptions, build_image, create_bundle
from openvisor.device.image import AppImage, policy_from_manifest
from openvisor.errors import BundleError, ImageError


def test_elf_keeps_its_path(firmware: Callable[[str], Path]) -> None:
    image = AppImage.from_path(firmware("hello"))
    assert image.elf_path == firmware("hello")
    assert image.data == b""
    assert image.name == "hello"


def test_raw_image(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    raw = tmp_path / "hello.bin"
    raw.write_bytes(build_image(firmware("hello")))
    image = AppImage.from_path(raw)
    assert image.elf_path is None
    assert image.data == raw.read_bytes()


def test_raw_image_too_large(tmp_path: Path) -> None:
    raw = tmp_path / "big.bin"
    raw.write_bytes(b"\x00" * ((1 << 20) + 1))
    with pytest.raises(ImageError, match="more than the 1 MiB"):
        AppImage.from_path(raw)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        AppImage.from_path(tmp_path / "nope.elf")
    empty = tmp_path / "empty.elf"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="is empty"):
        AppImage.from_path(empty)


def test_bundle_with_crash_policy(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    options = ManifestOptions(crash_minimum_restart_ms=200, crash_include_stack_bytes=64)
    path = tmp_path / "hello.zip"
    path.write_bytes(create_bundle(firmware("hello"), options))
    image = AppImage.from_path(path)
    raw = build_image(firmware("hello"))
    assert image.data[: len(raw)] == raw
    assert set(image.data[len(raw) :]) <= {0xFF}
    assert image.crash_policy.min_restart_us == 200_000
    assert image.crash_policy.max_restart_us == 60_000_000
    assert image.crash_policy.stack_bytes == 64
    assert len(image.app_id) == 64


def test_bundle_needing_newer_kernel(firmware: Callable[[str], Path], tmp_path: Path) -> None:
    path = tmp_path / "future.zip"
    path.write_bytes(create_bundle(firmware("hello"), ManifestOptions(minimum_kernel_version=99)))
    with pytest.raises(BundleError, match="kernel version"):
        AppImage.from_path(path)


def test_policy_from_empty_manifest_section() -> None:
    policy = policy_from_manifest({})
    assert policy.min_restart_us == 1_000_000
    assert policy.stack_bytes == 256

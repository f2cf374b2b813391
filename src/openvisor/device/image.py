"""Application images a device can boot: an ELF, a raw flash image or a bundle."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openvisor.errors import ImageError
from openvisor.kernel.abi import KERNEL_VERSION
from openvisor.kernel.crash import CrashPolicy

ELF_MAGIC = b"\x7fELF"
APP_FLASH_SIZE = 1 << 20


@dataclass(frozen=True)
class AppImage:
    """An application image for flash, with the crash policy and id the kernel uses.

    ``elf_path`` is set for ELF images (loaded with symbols, used to symbolize
    crash reports); otherwise ``data`` is the raw flash image from 0x0800_0000.
    """

    name: str
    data: bytes = b""
    elf_path: Path | None = None
    crash_policy: CrashPolicy = field(default_factory=CrashPolicy)
    app_id: str = ""
    debug_auth_pubkey: bytes = b""
    """The bundle's debugging public key (65-byte P-256 point); empty: not debuggable remotely."""

    @classmethod
    def from_path(
        cls,
        path: Path,
        *,
        trust: Any = None,
        allow_unsigned: bool = True,
        symbols: Path | None = None,
    ) -> AppImage:
        """Load an ELF, a bundle (verified against ``trust``) or a raw image from ``path``.

        Raises :class:`~openvisor.errors.ImageError` for an unreadable file and
        :class:`~openvisor.errors.VerificationError` (a ``BundleError``) for a bundle
        that fails verification.
        """
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"cannot read application image {path}: {exc.strerror}") from exc
        if not data:
            raise ImageError(f"application image {path} is empty: build the app first")
        if data.startswith(ELF_MAGIC):
            return cls(name=path.stem, elf_path=path)
        if zipfile.is_zipfile(path):
            return cls.from_bundle(data, name=path.stem, trust=trust, allow_unsigned=allow_unsigned)
        if len(data) > APP_FLASH_SIZE:
            raise ImageError(
                f"raw image {path} is {len(data)} bytes, more than the 1 MiB of application "
                "flash: pass an ELF or a bundle instead"
            )
        return cls(name=path.stem, data=data, elf_path=symbols)

    @classmethod
    def from_bundle(
        cls, data: bytes, *, name: str, trust: Any = None, allow_unsigned: bool = True
    ) -> AppImage:
        """Verify a bundle and take its flash image and crash policy."""
        from openvisor.bundle import verify_bundle

        verified = verify_bundle(
            data, trust=trust, allow_unsigned=allow_unsigned, kernel_version=KERNEL_VERSION
        )
        return cls(
            name=name,
            data=verified.image,
            crash_policy=policy_from_manifest(verified.manifest.crash),
            app_id=verified.app_id,
            debug_auth_pubkey=bytes(verified.manifest.debug_auth_pubkey or b""),
        )


def policy_from_manifest(crash: dict[str, Any]) -> CrashPolicy:
    """Build the crash policy of a manifest's ``crash`` section (missing values are 0 = default)."""
    return CrashPolicy(
        minimum_restart_ms=int(crash.get("minimum_restart_ms", 0) or 0),
        maximum_restart_ms=int(crash.get("maximum_restart_ms", 0) or 0),
        include_stack_bytes=int(crash.get("include_stack_bytes", 0) or 0),
    )

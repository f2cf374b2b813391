"""Application images a device can boot: an ELF, a raw flash image or a bundle."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openvisor.errors import ImageError
from openvisor.kernel.abi import KERNEL_VERSION
from openvisor.kernel.crash import CrashPolicy

if TYPE_CHECKING:
    from openvisor.machine.loader import LoadedImage

ELF_MAGIC = b"\x7fELF"
# Local file header, and end of central directory (an empty archive).
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
APP_FLASH_BASE = 0x0800_0000
APP_FLASH_SIZE = 1 << 20
APP_SRAM_BASE = 0x2000_0000
APP_SRAM_SIZE = 512 << 10


@dataclass(frozen=True)
class AppImage:
    """An application image for flash, with the crash policy and id the kernel uses.

    ``elf_path`` is set for ELF images (loaded with symbols, used to symbolize
    crash reports); otherwise ``data`` is the raw flash image from 0x0800_0000.
    The image is read and parsed once, on first use (:attr:`loaded`); every
    later boot reloads flash from those segments.
    """

    name: str
    data: bytes = b""
    elf_path: Path | None = None
    crash_policy: CrashPolicy = field(default_factory=CrashPolicy)
    app_id: str = ""
    debug_auth_pubkey: bytes = b""
    """The bundle's debugging public key (65-byte P-256 point); empty: not debuggable remotely."""

    @cached_property
    def loaded(self) -> LoadedImage:
        """The parsed segments and symbols, read from ``elf_path`` or ``data`` once."""
        from openvisor.machine.loader import load_elf_file, raw_image

        if self.elf_path is not None and not self.data:
            return load_elf_file(self.elf_path)
        return raw_image(self.data)

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
        except FileNotFoundError as exc:
            raise ImageError(
                f"cannot read application image {path}: file not found; check the path, "
                "or build the app first (e.g. make -C firmware)"
            ) from exc
        except OSError as exc:
            raise ImageError(f"cannot read application image {path}: {exc.strerror}") from exc
        if not data:
            raise ImageError(f"application image {path} is empty: build the app first")
        if data.startswith(ELF_MAGIC):
            _check_arm_elf(path)
            return cls(name=path.stem, elf_path=path)
        # A damaged bundle still starts with a ZIP signature and must not pass as a raw image.
        if data.startswith(ZIP_SIGNATURES) or zipfile.is_zipfile(path):
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


def _check_arm_elf(path: Path) -> None:
    """Raise ImageError unless ``path`` is a 32-bit Arm ELF, naming its machine otherwise."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as stream:
            elf = ELFFile(stream)
            machine, elf_class = elf["e_machine"], elf.elfclass
    except (OSError, ELFError) as exc:
        raise ImageError(f"{path} is not a readable ELF file ({exc}): build the app again") from exc
    if machine != "EM_ARM" or elf_class != 32:
        raise ImageError(
            f"{path} is not a 32-bit Arm ELF (machine {machine}, class {elf_class}): "
            "build the application for the Cortex-M33 with arm-none-eabi-gcc"
        )


def policy_from_manifest(crash: dict[str, Any]) -> CrashPolicy:
    """Build the crash policy of a manifest's ``crash`` section (missing values are 0 = default)."""
    return CrashPolicy(
        minimum_restart_ms=int(crash.get("minimum_restart_ms", 0) or 0),
        maximum_restart_ms=int(crash.get("maximum_restart_ms", 0) or 0),
        include_stack_bytes=int(crash.get("include_stack_bytes", 0) or 0),
    )


def vector_table_problem(image: AppImage, source: Path | str) -> str | None:
    """Say why ``image`` cannot start, judged by its vector table, or return None.

    The first two words at the start of application flash are the initial stack
    pointer, which must lie in application SRAM, and the reset vector, which
    must be a Thumb address (odd) in application flash.
    """
    head = _flash_head(image)
    if head is None or len(head) < 8:
        return (
            f"{source} has no vector table at {APP_FLASH_BASE:#010x}: "
            "pass an application ELF, a bundle or a raw image of application flash"
        )
    initial_sp = int.from_bytes(head[0:4], "little")
    reset = int.from_bytes(head[4:8], "little")
    sp_ok = APP_SRAM_BASE < initial_sp <= APP_SRAM_BASE + APP_SRAM_SIZE
    reset_ok = bool(reset & 1) and APP_FLASH_BASE <= reset & ~1 < APP_FLASH_BASE + APP_FLASH_SIZE
    if sp_ok and reset_ok:
        return None
    return (
        f"{source} does not start with an application vector table (initial SP "
        f"{initial_sp:#010x}, reset vector {reset:#010x}; expected SP in SRAM "
        f"{APP_SRAM_BASE:#010x}-{APP_SRAM_BASE + APP_SRAM_SIZE:#010x} and an odd reset "
        f"address in flash {APP_FLASH_BASE:#010x}-{APP_FLASH_BASE + APP_FLASH_SIZE:#010x}): "
        "pass an application ELF, a bundle or a raw image linked at 0x08000000"
    )


def _flash_head(image: AppImage) -> bytes | None:
    """The first 8 bytes the image puts at the start of application flash."""
    if image.data or image.elf_path is None:
        return image.data[:8]
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(image.elf_path, "rb") as stream:
            for segment in ELFFile(stream).iter_segments():
                if segment["p_type"] != "PT_LOAD":
                    continue
                start = int(segment["p_paddr"])
                if start <= APP_FLASH_BASE < start + int(segment["p_filesz"]):
                    skip = APP_FLASH_BASE - start
                    return bytes(segment.data()[skip : skip + 8])
    except (OSError, ELFError):
        return None
    return None

"""The error hierarchy shared by every openvisor package.

::

    OpenvisorError
    ├── ImageError            an ELF or raw image cannot be loaded
    ├── EmulationError        the emulator core failed (never an app fault)
    │   └── MemoryAccessError a host access to emulated memory hit no memory
    ├── BundleError           a bundle is malformed
    │   └── VerificationError a signature, hash or policy check failed
    ├── UpdateError           an over-the-air update cannot proceed
    ├── StateError            device state on disk is missing or corrupt
    ├── LinkError             the device link to the cloud failed
    ├── DebugError            a debugging session failed
    │   └── DebugAuthError    a debugging key or frame was rejected
    ├── CloudError            the cloud service rejected or failed a request
    └── ConfigError           a setting or profile value is invalid

Errors carry their context (address, size, bundle id, device id) as
attributes, and third-party errors are chained with ``raise ... from exc``.
"""

from __future__ import annotations


class OpenvisorError(Exception):
    """Base class of every error openvisor raises on purpose."""


class ImageError(OpenvisorError):
    """An application image (ELF, raw flash image) is invalid or unreadable."""


class EmulationError(OpenvisorError):
    """The emulator itself failed; application faults are reported, not raised."""


class BundleError(OpenvisorError):
    """A bundle is malformed: not a zip, missing manifest, bad layer and so on.

    ``problem`` is a short machine-readable code such as ``"hash-mismatch"``
    (the values are listed in ``openvisor.bundle.verify.Problem``).
    """

    def __init__(self, message: str, *, problem: str = "invalid-bundle") -> None:
        super().__init__(message)
        self.problem = problem


class VerificationError(BundleError):
    """A bundle failed a hash, signature, trust or policy check."""


class UpdateError(OpenvisorError):
    """An over-the-air update cannot be downloaded, verified or installed."""


class StateError(OpenvisorError):
    """Device state on disk is missing, unreadable or inconsistent."""


class LinkError(OpenvisorError):
    """The device link (MQTT or in-memory) failed."""


class DebugError(OpenvisorError):
    """A debugging session failed."""


class DebugAuthError(DebugError):
    """A debugging key, handshake or frame was rejected."""


class CloudError(OpenvisorError):
    """The cloud service rejected or failed a request."""

    def __init__(self, message: str, *, status: int = 0, code: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ConfigError(OpenvisorError):
    """A setting, flag or profile value is invalid."""


class MemoryAccessError(EmulationError):
    """A raw memory access by the host (kernel, debugger) hit no application memory."""

    def __init__(self, message: str, *, address: int, size: int) -> None:
        super().__init__(message)
        self.address = address
        self.size = size

"""SIDs: two-letter prefix plus 32 lowercase hex digits, as the Microvisor API uses."""

from __future__ import annotations

import re
import secrets

ACCOUNT = "AC"
DEVICE = "UV"
APP = "KA"
API_KEY = "SK"
DEPLOYMENT = "DP"
CRASH_REPORT = "CR"
UPDATE_OUTCOME = "UO"
DEBUG_SESSION = "DS"

_SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")


def new_sid(prefix: str) -> str:
    """Create a random SID with the given two-letter prefix."""
    return prefix + secrets.token_hex(16)


def is_sid(value: str, prefix: str) -> bool:
    """Tell whether ``value`` is a well-formed SID with ``prefix``."""
    return value.startswith(prefix) and _SID_RE.match(value) is not None

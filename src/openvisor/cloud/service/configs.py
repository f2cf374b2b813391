"""Configs and secrets at account and device scope.

Secret values are write-only through the API: these functions return
:class:`ConfigEntry` rows whose ``value`` the API layer never serialises
for secrets, and only :func:`fetch_for_device` hands a secret's plain value
out, to the device's config-fetch channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvisor.cloud.models import ConfigEntry, utcnow
from openvisor.cloud.security import SecretBox
from openvisor.cloud.service import commands
from openvisor.cloud.service.common import (
    PageRequest,
    PageResult,
    conflict,
    invalid,
    not_found,
    paginate,
)
from openvisor.cloud.service.devices import get_device_by_sid

log = logging.getLogger(__name__)

CONFIG = "config"
SECRET = "secret"
STORES = (CONFIG, SECRET)

MAX_KEY_LENGTH = 100
MAX_VALUE_LENGTH = 4096


def _check_key(key: str) -> None:
    if not key:
        raise invalid("missing Key: send a key of 1 to 100 characters")
    if len(key) > MAX_KEY_LENGTH:
        raise invalid(f"Key {key[:20]!r}... is {len(key)} characters long: the maximum is 100")
    if not key.isprintable() or any(c in key for c in "/?#"):
        raise invalid(f"invalid Key {key!r}: use printable characters without '/', '?' or '#'")
    # Clients that do not percent-encode path values (the SDK) could never
    # address these keys again: '%' is decoded by the server, and '.' and '..'
    # are path segments that URL normalisation removes.
    if "%" in key or key in (".", ".."):
        raise invalid(f"invalid Key {key!r}: use a key without '%' that is not '.' or '..'")


def _check_value(key: str, value: str) -> None:
    # The value itself is not echoed: it may be a secret.
    if len(value) > MAX_VALUE_LENGTH:
        raise invalid(f"Value of {key!r} is {len(value)} characters long: the maximum is 4096")


def _label(store: str) -> str:
    return "Secret" if store == SECRET else "Config"


def list_entries(
    session: Session, account_sid: str, owner_sid: str, store: str, paging: PageRequest
) -> PageResult[ConfigEntry]:
    """List the configs or secrets of an account or device, ordered by key."""
    stmt = (
        select(ConfigEntry)
        .where(
            ConfigEntry.account_sid == account_sid,
            ConfigEntry.owner_sid == owner_sid,
            ConfigEntry.store == store,
        )
        .order_by(ConfigEntry.key)
    )
    return paginate(session, stmt, paging)


def get_entry(
    session: Session, account_sid: str, owner_sid: str, store: str, key: str
) -> ConfigEntry:
    """Fetch one config or secret."""
    entry = session.get(ConfigEntry, (owner_sid, store, key))
    if entry is None or entry.account_sid != account_sid:
        raise not_found(_label(store), key)
    return entry


def create_entry(
    session: Session,
    account_sid: str,
    owner_sid: str,
    store: str,
    *,
    key: str,
    value: str,
    box: SecretBox,
) -> ConfigEntry:
    """Create a config or secret; the key must be new for its owner."""
    _check_key(key)
    _check_value(key, value)
    if session.get(ConfigEntry, (owner_sid, store, key)) is not None:
        raise conflict(f"{_label(store)} {key!r} already exists: update it or delete it first")
    entry = ConfigEntry(owner_sid=owner_sid, store=store, key=key, account_sid=account_sid)
    _write_value(session, entry, value, box, "Created")
    return entry


def update_entry(
    session: Session,
    account_sid: str,
    owner_sid: str,
    store: str,
    *,
    key: str,
    value: str,
    box: SecretBox,
) -> ConfigEntry:
    """Replace the value of a config or secret (a secret's ``date_rotated`` moves)."""
    entry = get_entry(session, account_sid, owner_sid, store, key)
    _check_value(key, value)
    _write_value(session, entry, value, box, "Updated")
    return entry


def _write_value(
    session: Session, entry: ConfigEntry, value: str, box: SecretBox, verb: str
) -> None:
    # Secret values are stored sealed, and fetch_for_device opens them.
    entry.value = box.seal(value) if entry.store == SECRET else value
    entry.date_updated = utcnow()
    # This adds a new entry. An entry loaded through the session is already in it.
    session.add(entry)
    _announce(session, entry.owner_sid, entry.store, entry.key)
    session.flush()
    log.info("%s %s (owner_sid=%s, key=%s)", verb, entry.store, entry.owner_sid, entry.key)


def delete_entry(session: Session, account_sid: str, owner_sid: str, store: str, key: str) -> None:
    """Delete a config or secret."""
    entry = get_entry(session, account_sid, owner_sid, store, key)
    session.delete(entry)
    _announce(session, owner_sid, store, key)
    session.flush()
    log.info("Deleted %s (owner_sid=%s, key=%s)", store, owner_sid, key)


def _announce(session: Session, owner_sid: str, store: str, key: str) -> None:
    # Only device-scoped changes go to a device; account-wide changes are
    # fetched on demand, because announcing them would touch every device.
    if owner_sid.startswith("UV"):
        commands.enqueue_command(
            session, owner_sid, commands.CONFIG_CHANGED, {"store": store, "key": key}
        )


@dataclass(frozen=True)
class FetchItem:
    """One item of a device's config-fetch request (store ``config``/``secret``, scope
    ``account``/``device``)."""

    store: str
    scope: str
    key: str


class KeyFetchResult(IntEnum):
    """Per-item result, numbered as ``MvConfigKeyFetchResult``."""

    OK = 0
    KEYNOTFOUND = 1
    SERVERERROR = 2


@dataclass(frozen=True)
class FetchResult:
    """The result for one item and, when it is ``OK``, the value."""

    result: KeyFetchResult
    value: str | None = None


def fetch_for_device(
    session: Session, device_sid: str, items: list[FetchItem], *, box: SecretBox
) -> list[FetchResult]:
    """Serve a device's config-fetch request from its own and its account's stores."""
    device = get_device_by_sid(session, device_sid)
    results: list[FetchResult] = []
    for item in items:
        if item.store not in STORES or item.scope not in ("account", "device"):
            results.append(FetchResult(KeyFetchResult.SERVERERROR))
            continue
        owner = device.sid if item.scope == "device" else device.account_sid
        entry = session.get(ConfigEntry, (owner, item.store, item.key))
        if entry is None or entry.account_sid != device.account_sid:
            results.append(FetchResult(KeyFetchResult.KEYNOTFOUND))
            continue
        try:
            value = box.open(entry.value) if item.store == SECRET else entry.value
        except Exception:
            log.exception("Failed to decrypt secret (device_sid=%s, key=%s)", device_sid, item.key)
            results.append(FetchResult(KeyFetchResult.SERVERERROR))
            continue
        results.append(FetchResult(KeyFetchResult.OK, value))
    log.info("Served config fetch (device_sid=%s, items=%d)", device_sid, len(items))
    return results

"""Accounts, API keys and authentication of HTTP Basic credentials."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvisor.cloud import sids
from openvisor.cloud.models import Account, ApiKey, Device
from openvisor.cloud.security import hash_token, new_token, verify_token
from openvisor.cloud.service.common import PageRequest, PageResult, invalid, not_found, paginate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: an account (token or API key) or a device."""

    account_sid: str
    kind: str
    sid: str
    is_admin: bool = False

    @property
    def is_device(self) -> bool:
        """Whether the credentials are a device's link credentials."""
        return self.kind == "device"


def create_account(
    session: Session, *, friendly_name: str = "", is_admin: bool = False
) -> tuple[Account, str]:
    """Create an account and return it with its auth token (shown only here)."""
    token = new_token()
    account = Account(
        sid=sids.new_sid(sids.ACCOUNT),
        friendly_name=friendly_name,
        auth_token_hash=hash_token(token),
        is_admin=is_admin,
    )
    session.add(account)
    session.flush()
    log.info("Created account (account_sid=%s, admin=%s)", account.sid, is_admin)
    return account, token


def ensure_admin_account(session: Session, *, account_sid: str, auth_token: str) -> Account:
    """Create or update the admin account from settings so its token works."""
    if not sids.is_sid(account_sid, sids.ACCOUNT):
        raise invalid(
            f"invalid admin account SID {account_sid!r}: use AC followed by 32 hex digits"
        )
    account = session.get(Account, account_sid)
    if account is None:
        account = Account(sid=account_sid, friendly_name="admin", auth_token_hash="")
        session.add(account)
    if not verify_token(auth_token, account.auth_token_hash):
        account.auth_token_hash = hash_token(auth_token)
    account.is_admin = True
    session.flush()
    log.info("Ensured admin account (account_sid=%s)", account_sid)
    return account


def authenticate(session: Session, username: str, password: str) -> Principal | None:
    """Check HTTP Basic credentials: AC + token, SK + secret, or UV + link secret."""
    if sids.is_sid(username, sids.ACCOUNT):
        account = session.get(Account, username)
        if account is not None and verify_token(password, account.auth_token_hash):
            return Principal(account.sid, "account", account.sid, account.is_admin)
    elif sids.is_sid(username, sids.API_KEY):
        key = session.get(ApiKey, username)
        if key is not None and verify_token(password, key.secret_hash):
            return Principal(key.account_sid, "key", key.sid)
    elif sids.is_sid(username, sids.DEVICE):
        device = session.get(Device, username)
        if device is not None and verify_token(password, device.link_secret_hash):
            return Principal(device.account_sid, "device", device.sid)
    return None


def list_accounts(session: Session, paging: PageRequest) -> PageResult[Account]:
    """List every account (admin only)."""
    return paginate(session, select(Account).order_by(Account.date_created, Account.sid), paging)


def create_api_key(
    session: Session, account_sid: str, *, friendly_name: str = ""
) -> tuple[ApiKey, str]:
    """Create an API key and return it with its secret (shown only here)."""
    if len(friendly_name) > 200:
        raise invalid("FriendlyName is longer than 200 characters: shorten it")
    secret = new_token()
    key = ApiKey(
        sid=sids.new_sid(sids.API_KEY),
        account_sid=account_sid,
        friendly_name=friendly_name,
        secret_hash=hash_token(secret),
    )
    session.add(key)
    session.flush()
    log.info("Created API key (account_sid=%s, key_sid=%s)", account_sid, key.sid)
    return key, secret


def list_api_keys(session: Session, account_sid: str, paging: PageRequest) -> PageResult[ApiKey]:
    """List the API keys of an account, oldest first."""
    stmt = (
        select(ApiKey)
        .where(ApiKey.account_sid == account_sid)
        .order_by(ApiKey.date_created, ApiKey.sid)
    )
    return paginate(session, stmt, paging)


def get_api_key(session: Session, account_sid: str, key_sid: str) -> ApiKey:
    """Fetch one API key of an account."""
    key = session.get(ApiKey, key_sid)
    if key is None or key.account_sid != account_sid:
        raise not_found("API key", key_sid)
    return key


def delete_api_key(session: Session, account_sid: str, key_sid: str) -> None:
    """Delete an API key; requests signed with it fail from then on."""
    key = get_api_key(session, account_sid, key_sid)
    session.delete(key)
    session.flush()
    log.info("Deleted API key (account_sid=%s, key_sid=%s)", account_sid, key_sid)


def require_account(session: Session, account_sid: str) -> Account:
    """Fetch an account or raise a not-found error."""
    account = session.get(Account, account_sid)
    if account is None:
        raise not_found("Account", account_sid)
    return account

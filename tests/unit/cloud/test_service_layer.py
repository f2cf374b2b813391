"""Service functions against a real, migrated SQLite database."""

from __future__ import annotations

import base64
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from openvisor.bundle import build_opaque_manifest, parse_manifest
from openvisor.cloud.security import SecretBox
from openvisor.cloud.service import accounts, commands, configs, devices, logs, ratelimit
from openvisor.cloud.signing import load_signer
from openvisor.errors import CloudError, ConfigError

Sessions = Callable[[], AbstractContextManager[Session]]


def _public_key() -> str:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return base64.b64encode(point).decode()


def _account_with_device(sessions: Sessions) -> tuple[str, str, str]:
    with sessions() as session:
        account, token = accounts.create_account(session)
        registration = devices.provision_device(session, account.sid, public_key=_public_key())
        return account.sid, token, registration.device.sid


def test_authenticate_each_credential_kind(sessions: Sessions) -> None:
    with sessions() as session:
        account, token = accounts.create_account(session, friendly_name="a")
        key, secret = accounts.create_api_key(session, account.sid)
        registration = devices.provision_device(session, account.sid, public_key=_public_key())
    with sessions() as session:
        by_token = accounts.authenticate(session, account.sid, token)
        by_key = accounts.authenticate(session, key.sid, secret)
        by_device = accounts.authenticate(
            session, registration.device.sid, registration.link_secret
        )
        assert by_token is not None and by_token.kind == "account"
        assert by_key is not None and by_key.kind == "key"
        assert by_key.account_sid == account.sid
        assert by_device is not None and by_device.is_device
        assert accounts.authenticate(session, account.sid, secret) is None
        assert accounts.authenticate(session, key.sid, token) is None
        assert accounts.authenticate(session, "someone", token) is None


def test_admin_bootstrap_is_idempotent(sessions: Sessions) -> None:
    sid = "AC" + "b" * 32
    with sessions() as session:
        accounts.ensure_admin_account(session, account_sid=sid, auth_token="first")
    with sessions() as session:
        accounts.ensure_admin_account(session, account_sid=sid, auth_token="second")
    with sessions() as session:
        assert accounts.authenticate(session, sid, "first") is None
        principal = accounts.authenticate(session, sid, "second")
        assert principal is not None and principal.is_admin
        with pytest.raises(CloudError):
            accounts.ensure_admin_account(session, account_sid="ACnope", auth_token="x")


def test_unique_names(sessions: Sessions) -> None:
    account_sid, _token, device_sid = _account_with_device(sessions)
    with sessions() as session:
        devices.update_device(session, account_sid, device_sid, unique_name="kitchen sensor")
        assert devices.get_device(session, account_sid, "kitchen sensor").sid == device_sid
        for bad in ("a/b", "what?", "UV" + "a" * 32, "x" * 201):
            with pytest.raises(CloudError) as info:
                devices.update_device(session, account_sid, device_sid, unique_name=bad)
            assert info.value.status == 400, bad
        devices.update_device(session, account_sid, device_sid, unique_name="")
        with pytest.raises(CloudError) as missing:
            devices.get_device(session, account_sid, "kitchen sensor")
        assert missing.value.status == 404


def test_command_listeners_hear_only_commits(sessions: Sessions) -> None:
    account_sid, _token, device_sid = _account_with_device(sessions)
    heard: list[str] = []
    commands.add_listener(heard.append)
    try:
        with pytest.raises(RuntimeError), sessions() as session:
            devices.update_device(session, account_sid, device_sid, restart_app=True)
            raise RuntimeError("abort the transaction")
        assert heard == []
        with sessions() as session:
            assert commands.pending_commands(session, device_sid) == []
            devices.update_device(session, account_sid, device_sid, restart_app=True)
            assert heard == []  # not before the commit
        assert heard == [device_sid]
    finally:
        commands.remove_listener(heard.append)
    with sessions() as session:
        pending = commands.pending_commands(session, device_sid)
        assert [c.kind for c in pending] == [commands.RESTART_APP]
        commands.mark_delivered(session, [c.id for c in pending])
    with sessions() as session:
        assert commands.pending_commands(session, device_sid) == []


def test_config_fetch_reads_both_scopes(sessions: Sessions) -> None:
    account_sid, _token, device_sid = _account_with_device(sessions)
    box = SecretBox(None)
    with sessions() as session:
        configs.create_entry(
            session, account_sid, account_sid, "config", key="k", value="acct", box=box
        )
        configs.create_entry(
            session, account_sid, device_sid, "config", key="k", value="dev", box=box
        )
        configs.create_entry(
            session, account_sid, device_sid, "secret", key="s", value="sv", box=box
        )
        results = configs.fetch_for_device(
            session,
            device_sid,
            [
                configs.FetchItem("config", "account", "k"),
                configs.FetchItem("config", "device", "k"),
                configs.FetchItem("secret", "device", "s"),
                configs.FetchItem("secret", "account", "s"),
                configs.FetchItem("bogus", "device", "s"),
            ],
            box=box,
        )
    assert [r.value for r in results[:3]] == ["acct", "dev", "sv"]
    assert results[3].result is configs.KeyFetchResult.KEYNOTFOUND
    assert results[4].result is configs.KeyFetchResult.SERVERERROR


def test_config_limits(sessions: Sessions) -> None:
    account_sid, _token, _device = _account_with_device(sessions)
    box = SecretBox(None)
    with sessions() as session:
        configs.create_entry(
            session, account_sid, account_sid, "config", key="k" * 100, value="v" * 4096, box=box
        )
        for key, value in (("k" * 101, "v"), ("ok", "v" * 4097), ("", "v"), ("a/b", "v")):
            with pytest.raises(CloudError) as info:
                configs.create_entry(
                    session, account_sid, account_sid, "config", key=key, value=value, box=box
                )
            assert info.value.status == 400
            assert "v" * 50 not in str(info.value)


def test_logs_deduplicate_by_sequence(sessions: Sessions) -> None:
    _account, _token, device_sid = _account_with_device(sessions)
    with sessions() as session:
        assert (
            logs.append_logs(
                session, device_sid, [logs.LogRecord("a", seq=1), logs.LogRecord("b", seq=2)]
            )
            == 2
        )
        assert (
            logs.append_logs(
                session, device_sid, [logs.LogRecord("b", seq=2), logs.LogRecord("c", seq=3)]
            )
            == 1
        )
        # Lines without a sequence number are always stored.
        assert (
            logs.append_logs(session, device_sid, [logs.LogRecord("d"), logs.LogRecord("d")]) == 2
        )
        assert [e.message for e in logs.logs_after(session, device_sid, 0)] == [
            "a",
            "b",
            "c",
            "d",
            "d",
        ]
        assert logs.latest_log_id(session, device_sid) > 0


def test_rate_limit_counts_per_subject(sessions: Sessions) -> None:
    with sessions() as session:
        for _ in range(3):
            ratelimit.hit(session, "cred:one", limit=3, window_s=3600)
        with pytest.raises(ratelimit.RateLimitError) as info:
            ratelimit.hit(session, "cred:one", limit=3, window_s=3600)
        assert info.value.status == 429
        assert info.value.retry_after > 0
        ratelimit.hit(session, "cred:two", limit=3, window_s=3600)
        ratelimit.hit_device(session, "UV" + "0" * 32, limit=1, window_s=3600)
        with pytest.raises(ratelimit.RateLimitError):
            ratelimit.hit_device(session, "UV" + "0" * 32, limit=1, window_s=3600)


def test_signer_is_created_once(sessions: Sessions, tmp_path: Path) -> None:
    box = SecretBox(None)
    with sessions() as session:
        first = load_signer(session, key_file=None, box=box)
    with sessions() as session:
        second = load_signer(session, key_file=None, box=box)
    assert first.signer_id == second.signer_id
    manifest = parse_manifest(build_opaque_manifest(b"", second))
    assert manifest.signer_id == first.signer_id
    assert first.verifies(manifest.body, manifest.signature)
    assert not first.verifies(b"\x08\x01", manifest.signature)

    key_file = tmp_path / "sign.pem"
    key_file.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with sessions() as session:
        from_file = load_signer(session, key_file=key_file, box=box)
    assert from_file.signer_id != first.signer_id
    key_file.write_text("not a key")
    with sessions() as session, pytest.raises(ConfigError):
        load_signer(session, key_file=key_file, box=box)

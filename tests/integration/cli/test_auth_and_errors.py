"""`ov auth`, settings from the profile file, and errors when the cloud is unreachable."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from openvisor.cli.local import LocalCloud

if TYPE_CHECKING:
    from conftest import OvRunner


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_cloud_names_url_and_fix(ov: OvRunner) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = ov("devices", env={"OPENVISOR_API_URL": url})
    assert result.exit_code == 3
    assert f"cannot reach the openvisor cloud at {url}" in result.output
    assert "ov up" in result.output


def test_missing_key_explains_how_to_get_one(ov: OvRunner) -> None:
    result = ov("apps", "list", env={"OPENVISOR_API_KEY": ""})
    assert result.exit_code == 1
    assert "no API key for" in result.output
    assert "ov auth login" in result.output


def test_wrong_key_is_rejected(ov: OvRunner) -> None:
    result = ov("devices", env={"OPENVISOR_API_KEY": "AC" + "0" * 32 + ":wrong"})
    assert result.exit_code == 4
    assert "rejected the API key" in result.output


def test_invalid_url_flag(ov: OvRunner) -> None:
    result = ov("--api-url", "localhost:8080", "devices")
    assert result.exit_code == 1
    assert "API URL 'localhost:8080' is invalid" in result.output


def test_login_saves_profile_then_works_without_env(
    ov: OvRunner, cloud: LocalCloud, ov_env: dict[str, str]
) -> None:
    bare = {"OPENVISOR_API_URL": "", "OPENVISOR_API_KEY": ""}
    ov.ok("--api-url", cloud.url, "auth", "login", "--key", cloud.credentials.key)
    stored = json.loads(Path(ov_env["OPENVISOR_CONFIG"]).read_text())
    assert stored["profiles"]["default"]["api_url"] == cloud.url
    assert stored["profiles"]["default"]["api_key"] == cloud.credentials.account_sid
    status = ov("auth", "status", env=bare)
    assert status.exit_code == 0, status.output
    assert "accepts this key" in status.output
    assert cloud.credentials.auth_token not in status.output
    ov.ok("auth", "logout")
    after = ov("devices", env=bare)
    assert after.exit_code == 1
    assert "no API key" in after.output


def test_login_with_bad_key_saves_nothing(ov: OvRunner, ov_env: dict[str, str]) -> None:
    result = ov("auth", "login", "--key", "AC" + "1" * 32 + ":nope")
    assert result.exit_code == 4
    assert not Path(ov_env["OPENVISOR_CONFIG"]).exists()


def test_api_keys_create_list_revoke(ov: OvRunner) -> None:
    created = json.loads(ov.ok("auth", "keys", "create", "--name", "ci", "--json").output)
    key = f"{created['sid']}:{created['secret']}"
    assert created["sid"].startswith("SK")
    assert created["sid"] in ov.ok("auth", "keys", "list").output
    with_key = ov("devices", env={"OPENVISOR_API_KEY": key})
    assert with_key.exit_code == 0, with_key.output
    ov.ok("auth", "keys", "revoke", created["sid"])
    revoked = ov("devices", env={"OPENVISOR_API_KEY": key})
    assert revoked.exit_code == 4


def test_named_profiles(ov: OvRunner, cloud: LocalCloud) -> None:
    ov.ok(
        "--api-url", cloud.url, "auth", "login", "--key", cloud.credentials.key, "--profile", "lab"
    )
    bare = {"OPENVISOR_API_URL": "", "OPENVISOR_API_KEY": ""}
    assert ov("--profile", "lab", "devices", env=bare).exit_code == 0
    unknown = ov("--profile", "nowhere", "devices", env=bare)
    assert unknown.exit_code == 1
    assert "profile 'nowhere' not found" in unknown.output

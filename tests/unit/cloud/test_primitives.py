"""SIDs, credential hashing, secret sealing, page tokens, settings and views."""

from __future__ import annotations

import base64
from datetime import datetime

import pytest
from starlette.datastructures import URL

from openvisor.cloud import sids
from openvisor.cloud.api.views import iso, page_view, secret_view
from openvisor.cloud.models import ConfigEntry
from openvisor.cloud.security import SecretBox, hash_token, new_token, verify_token
from openvisor.cloud.service.common import (
    PageResult,
    decode_page_token,
    encode_page_token,
)
from openvisor.cloud.settings import Settings
from openvisor.errors import CloudError, ConfigError


def test_sid_format() -> None:
    sid = sids.new_sid(sids.DEVICE)
    assert len(sid) == 34
    assert sid.startswith("UV")
    assert sid[2:] == sid[2:].lower()
    assert sids.is_sid(sid, sids.DEVICE)
    assert not sids.is_sid(sid, sids.APP)
    assert not sids.is_sid("UV" + "g" * 32, sids.DEVICE)
    assert not sids.is_sid("UV" + "0" * 31, sids.DEVICE)


def test_token_hash_round_trip() -> None:
    token = new_token()
    stored = hash_token(token)
    assert token not in stored
    assert verify_token(token, stored)
    assert not verify_token(token + "x", stored)
    assert hash_token(token) != stored  # salted
    assert not verify_token(token, "garbage")
    assert not verify_token(token, "md5$00$00")


def test_secret_box_seals_with_key() -> None:
    box = SecretBox(base64.b64encode(b"\x01" * 32).decode())
    sealed = box.seal("value")
    assert sealed.startswith("aesgcm:")
    assert "value" not in sealed
    assert box.open(sealed) == "value"
    assert box.seal("value") != sealed  # fresh nonce
    assert SecretBox(None).seal("value") == "value"


def test_secret_box_rejects_bad_keys() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        SecretBox(base64.b64encode(b"short").decode())
    with pytest.raises(ConfigError, match="base64"):
        SecretBox("!!!")
    sealed = SecretBox(base64.b64encode(b"\x01" * 32).decode()).seal("v")
    with pytest.raises(ConfigError, match="OPENVISOR_SECRETS_KEY"):
        SecretBox(None).open(sealed)


def test_page_token_round_trip() -> None:
    assert decode_page_token(encode_page_token(150)) == 150
    for bad in (
        "",
        "PT",
        "PTzz",
        "XX" + encode_page_token(1)[2:],
        "PT" + base64.b64encode(b'{"o":-1}').decode(),
    ):
        with pytest.raises(CloudError) as info:
            decode_page_token(bad)
        assert info.value.code == 21481
        assert info.value.status == 400


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENVISOR_DATABASE_URL", "sqlite:///env.db")
    monkeypatch.setenv("OPENVISOR_RATE_LIMIT_PER_KEY", "7")
    monkeypatch.setenv("OPENVISOR_HTTP_PROXY_ALLOW_HOSTS", '["a.example", "*.b.example"]')
    settings = Settings()
    assert settings.database_url == "sqlite:///env.db"
    assert settings.rate_limit_per_key == 7
    assert settings.http_proxy_allow_hosts == ["a.example", "*.b.example"]
    assert Settings(database_url="sqlite:///x.db").database_url == "sqlite:///x.db"


def test_iso_dates_have_second_precision() -> None:
    assert iso(datetime(2024, 1, 2, 3, 4, 5, 678901)) == "2024-01-02T03:04:05Z"
    assert iso(None) is None


def test_secret_view_has_no_value() -> None:
    entry = ConfigEntry(
        owner_sid="UV" + "1" * 32,
        store="secret",
        key="a b",
        account_sid="AC" + "1" * 32,
        value="hidden",
        date_updated=datetime(2024, 1, 1),
    )
    view = secret_view("http://h", entry)
    assert "value" not in view
    assert "hidden" not in str(view)
    assert view["url"] == f"http://h/v1/Devices/{'UV' + '1' * 32}/Secrets/a%20b"
    assert view["date_rotated"] == "2024-01-01T00:00:00Z"


def test_page_view_links() -> None:
    result: PageResult[int] = PageResult(items=[1, 2], page=1, page_size=2, offset=2, has_next=True)
    body = page_view(
        "http://h:1",
        URL("http://internal/v1/Devices?Tag=x&PageSize=2"),
        "devices",
        result,
        lambda i: {"n": i},
    )
    meta = body["meta"]
    assert body["devices"] == [{"n": 1}, {"n": 2}]
    assert meta["key"] == "devices"
    assert meta["first_page_url"] == "http://h:1/v1/Devices?Tag=x&PageSize=2&Page=0"
    assert meta["next_page_url"] == (
        f"http://h:1/v1/Devices?Tag=x&PageSize=2&Page=2&PageToken={encode_page_token(4)}"
    )
    assert meta["previous_page_url"].endswith(f"Page=0&PageToken={encode_page_token(0)}")
    last: PageResult[int] = PageResult(items=[], page=0, page_size=50, offset=0, has_next=False)
    empty = page_view("http://h", URL("http://h/v1/Apps"), "apps", last, lambda i: {})
    assert empty["meta"]["next_page_url"] is None
    assert empty["meta"]["previous_page_url"] is None

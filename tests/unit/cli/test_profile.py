"""Settings resolution: flags over environment over profile file over defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from openvisor.cli.profile import (
    DEFAULT_API_URL,
    ProfileFile,
    resolve_settings,
    validate_api_url,
)
from openvisor.errors import ConfigError


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"OPENVISOR_CONFIG": str(tmp_path / "profiles.json"), **extra}


def _write_profile(tmp_path: Path, name: str = "default", **values: str) -> None:
    stored = ProfileFile.load(tmp_path / "profiles.json")
    stored.update(name, **values)
    stored.save()


def test_defaults_without_profile(tmp_path: Path) -> None:
    settings = resolve_settings(environ=_env(tmp_path))
    assert settings.api_url == DEFAULT_API_URL
    assert settings.api_key is None
    assert not settings.has_credentials
    assert settings.sources["api_url"] == "default"


def test_profile_supplies_key_and_url(tmp_path: Path) -> None:
    _write_profile(tmp_path, api_url="http://127.0.0.1:9000/", api_key="SK1", api_secret="s1")
    settings = resolve_settings(environ=_env(tmp_path))
    assert settings.api_url == "http://127.0.0.1:9000"
    assert settings.api_key == "SK1"
    assert settings.api_secret == "s1"
    assert settings.sources["api_key"] == "profile 'default'"


def test_environment_overrides_profile(tmp_path: Path) -> None:
    _write_profile(tmp_path, api_url="http://127.0.0.1:9000", api_key="SK1", api_secret="s1")
    env = _env(tmp_path, OPENVISOR_API_URL="http://127.0.0.1:9100", OPENVISOR_API_KEY="SK2:s2")
    settings = resolve_settings(environ=env)
    assert settings.api_url == "http://127.0.0.1:9100"
    assert (settings.api_key, settings.api_secret) == ("SK2", "s2")
    assert settings.sources["api_url"] == "environment (OPENVISOR_API_URL)"


def test_environment_key_never_takes_profile_secret(tmp_path: Path) -> None:
    _write_profile(tmp_path, api_key="SK1", api_secret="s1")
    settings = resolve_settings(environ=_env(tmp_path, OPENVISOR_API_KEY="SK2"))
    assert settings.api_key == "SK2"
    assert settings.api_secret is None


def test_separate_secret_variable(tmp_path: Path) -> None:
    env = _env(tmp_path, OPENVISOR_API_KEY="SK3", OPENVISOR_API_SECRET="s3")
    settings = resolve_settings(environ=env)
    assert (settings.api_key, settings.api_secret) == ("SK3", "s3")
    assert settings.has_credentials


def test_flags_override_environment(tmp_path: Path) -> None:
    env = _env(tmp_path, OPENVISOR_API_URL="http://127.0.0.1:9100", OPENVISOR_API_KEY="SK2:s2")
    settings = resolve_settings(api_url="http://localhost:9200", api_key="SK4:s4", environ=env)
    assert settings.api_url == "http://localhost:9200"
    assert (settings.api_key, settings.api_secret) == ("SK4", "s4")
    assert settings.sources["api_key"] == "flag"


def test_named_profile_is_selected(tmp_path: Path) -> None:
    _write_profile(tmp_path, "staging", api_url="http://127.0.0.1:9300", api_key="SK5:x")
    _write_profile(tmp_path, api_url="http://127.0.0.1:9000")
    by_flag = resolve_settings(profile="staging", environ=_env(tmp_path))
    by_env = resolve_settings(environ=_env(tmp_path, OPENVISOR_PROFILE="staging"))
    assert by_flag.api_url == "http://127.0.0.1:9300"
    assert by_env.api_url == "http://127.0.0.1:9300"
    assert by_flag.profile == "staging"


def test_unknown_profile_flag_is_rejected(tmp_path: Path) -> None:
    _write_profile(tmp_path, api_url="http://127.0.0.1:9000")
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        resolve_settings(profile="nope", environ=_env(tmp_path))


def test_corrupt_profile_file_names_path(tmp_path: Path) -> None:
    (tmp_path / "profiles.json").write_text("{not json")
    with pytest.raises(ConfigError, match="profiles.json is not valid JSON"):
        resolve_settings(environ=_env(tmp_path))


def test_unknown_profile_setting_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "profiles.json").write_text('{"profiles": {"default": {"colour": "red"}}}')
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        resolve_settings(environ=_env(tmp_path))


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1", "http://", ""])
def test_invalid_api_url_is_rejected(url: str) -> None:
    with pytest.raises(ConfigError, match="is invalid"):
        validate_api_url(url)


def test_profile_file_is_private(tmp_path: Path) -> None:
    _write_profile(tmp_path, api_key="SK1", api_secret="secret")
    mode = stat.S_IMODE((tmp_path / "profiles.json").stat().st_mode)
    assert mode & 0o077 == 0


def test_update_clears_fields(tmp_path: Path) -> None:
    _write_profile(tmp_path, api_url="http://127.0.0.1:9000", api_key="SK1", api_secret="s")
    stored = ProfileFile.load(tmp_path / "profiles.json")
    stored.update("default", api_key=None, api_secret=None)
    stored.save()
    reloaded = ProfileFile.load(tmp_path / "profiles.json").get("default")
    assert reloaded.api_key is None
    assert reloaded.api_url == "http://127.0.0.1:9000"

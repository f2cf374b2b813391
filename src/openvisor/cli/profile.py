"""Command-line settings: flags, environment variables and the profile file.

A setting is taken from the first place that has it:

1. a command-line flag (``--api-url``, ``--api-key``, ``--profile``);
2. an environment variable (``OPENVISOR_API_URL``, ``OPENVISOR_API_KEY``,
   ``OPENVISOR_API_SECRET``, ``OPENVISOR_PROFILE``);
3. the named profile in the profile file;
4. the built-in default (the cloud that ``ov up`` starts on loopback).

The profile file is JSON, at ``$OPENVISOR_CONFIG`` or
``$XDG_CONFIG_HOME/openvisor/profiles.json`` (``~/.config`` when unset)::

    {
      "current": "default",
      "profiles": {
        "default": {"api_url": "http://127.0.0.1:8080",
                    "api_key": "SK...", "api_secret": "...",
                    "state_dir": "/home/me/.local/share/openvisor"}
      }
    }

It is written atomically with mode 0600 because it holds an API secret.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from openvisor import atomicfile
from openvisor.errors import ConfigError

DEFAULT_API_URL = "http://127.0.0.1:8080"
DEFAULT_PROFILE = "default"

ENV_API_URL = "OPENVISOR_API_URL"
ENV_API_KEY = "OPENVISOR_API_KEY"
ENV_API_SECRET = "OPENVISOR_API_SECRET"
ENV_PROFILE = "OPENVISOR_PROFILE"
ENV_CONFIG = "OPENVISOR_CONFIG"
ENV_STATE_DIR = "OPENVISOR_STATE_DIR"


@dataclass(frozen=True)
class Profile:
    """One named set of connection settings stored in the profile file."""

    api_url: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    state_dir: str | None = None

    def to_json(self) -> dict[str, str]:
        """Return the fields that are set, for the profile file."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, name: str, value: object, path: Path) -> Profile:
        """Build a profile from its JSON object, rejecting unknown or non-text fields."""
        if not isinstance(value, dict):
            raise ConfigError(f"profile {name!r} in {path} is not a JSON object: fix or delete it")
        known = {f.name for f in fields(cls)}
        for key, item in value.items():
            if key not in known:
                raise ConfigError(
                    f"profile {name!r} in {path} has an unknown setting {key!r}: "
                    f"expected one of {', '.join(sorted(known))}"
                )
            if not isinstance(item, str):
                raise ConfigError(f"setting {key!r} of profile {name!r} in {path} must be text")
        return cls(**value)


@dataclass
class ProfileFile:
    """The profile file: named profiles and the one in use."""

    path: Path
    current: str = DEFAULT_PROFILE
    profiles: dict[str, Profile] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ProfileFile:
        """Read the profile file; a missing file is an empty one."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return cls(path=path)
        except OSError as exc:
            raise ConfigError(f"cannot read profile file {path}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"profile file {path} is not valid JSON ({exc}): fix it or delete it "
                "and run `ov auth login` again"
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
            raise ConfigError(f"profile file {path} must hold an object with a 'profiles' object")
        current = data.get("current", DEFAULT_PROFILE)
        if not isinstance(current, str):
            raise ConfigError(f"'current' in profile file {path} must be a profile name")
        profiles = {
            name: Profile.from_json(name, value, path)
            for name, value in data.get("profiles", {}).items()
        }
        return cls(path=path, current=current, profiles=profiles)

    def save(self) -> None:
        """Write the file atomically; the temporary file is created with mode 0600."""
        data = {
            "current": self.current,
            "profiles": {name: p.to_json() for name, p in sorted(self.profiles.items())},
        }
        atomicfile.write_json(self.path, data)

    def get(self, name: str) -> Profile:
        """Return the named profile, or an empty one when it does not exist yet."""
        return self.profiles.get(name, Profile())

    def update(self, name: str, **values: str | None) -> Profile:
        """Set fields of the named profile (None clears a field) and return it."""
        profile = replace(self.get(name), **values)
        self.profiles[name] = profile
        return profile


def profile_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return where the profile file lives for this environment."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "openvisor" / "profiles.json"


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the default state directory of `ov up` (cloud database, bundles, devices)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_STATE_DIR):
        return Path(env[ENV_STATE_DIR]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "openvisor"


@dataclass(frozen=True)
class Settings:
    """The effective connection settings of one command run, with where each came from."""

    api_url: str
    api_key: str | None
    api_secret: str | None
    profile: str
    profile_path: Path
    state_dir: Path
    sources: dict[str, str]

    @property
    def has_credentials(self) -> bool:
        """Whether both halves of an API key are known."""
        return bool(self.api_key) and bool(self.api_secret)

    def missing_key_error(self) -> ConfigError:
        """Build the error for a run without a complete API key, naming where the key came from."""
        source = self.sources.get("api_key")
        if self.api_key and source is not None:
            where = "--api-key" if source == "flag" else source
            # A value without ':' may be a secret pasted alone, so only a SID is shown.
            label = f"API key {self.api_key!r}" if self.api_key[:2] in ("AC", "SK") else "API key"
            return ConfigError(
                f"{label} from {where} is invalid: it has no secret. Pass it as "
                f"SID:SECRET (e.g. --api-key SK...:SECRET), or set {ENV_API_SECRET} to the secret"
            )
        return ConfigError(
            f"no API key for {self.api_url}: run `ov auth login --key SID:SECRET`, "
            f"set {ENV_API_KEY}=SID:SECRET, or start a local cloud with `ov up`, "
            "which saves its admin key in the profile"
        )


def _split_key(value: str) -> tuple[str, str | None]:
    """Split ``SID:SECRET`` into its halves; a bare SID has no secret."""
    if ":" in value:
        sid, secret = value.split(":", 1)
        return sid, secret
    return value, None


def validate_api_url(url: str) -> str:
    """Check that ``url`` is an http(s) URL and return its base, without ``/v1`` or a slash.

    ``http://127.0.0.1:8080/v1`` (the API root) and ``http://127.0.0.1:8080`` name the
    same cloud; ov adds ``/v1`` to each request itself.
    """
    stripped = url.strip().rstrip("/").removesuffix("/v1").rstrip("/")
    parts = urlsplit(stripped)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"API URL {url!r} is invalid: expected http://HOST:PORT or https://HOST, "
            "e.g. http://127.0.0.1:8080"
        )
    return stripped


def resolve_settings(
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flags, environment and profile file into the settings of this run.

    ``api_key`` (flag or ``OPENVISOR_API_KEY``) may be ``SID:SECRET``; a bare
    SID takes its secret from ``OPENVISOR_API_SECRET`` or the profile.
    """
    env = os.environ if environ is None else environ
    path = profile_path(env)
    stored = ProfileFile.load(path)
    name = profile or env.get(ENV_PROFILE) or stored.current
    chosen = stored.get(name)
    if profile and name not in stored.profiles:
        known = ", ".join(sorted(stored.profiles)) or "none"
        raise ConfigError(
            f"profile {name!r} not found in {path} (profiles: {known}): "
            "create it with `ov auth login --profile NAME`"
        )
    sources: dict[str, str] = {}

    def pick(setting: str, flag: str | None, env_name: str, stored_value: str | None) -> str | None:
        if flag:
            sources[setting] = "flag"
            return flag
        if env.get(env_name):
            sources[setting] = f"environment ({env_name})"
            return env[env_name]
        if stored_value:
            sources[setting] = f"profile {name!r}"
            return stored_value
        return None

    url = pick("api_url", api_url, ENV_API_URL, chosen.api_url)
    if url is None:
        url = DEFAULT_API_URL
        sources["api_url"] = "default"
    key_value = pick("api_key", api_key, ENV_API_KEY, chosen.api_key)
    key_sid, key_secret = _split_key(key_value) if key_value else (None, None)
    if key_secret is None:
        if env.get(ENV_API_SECRET):
            key_secret = env[ENV_API_SECRET]
            sources["api_secret"] = f"environment ({ENV_API_SECRET})"
        elif chosen.api_secret and sources.get("api_key", "").startswith("profile"):
            key_secret = chosen.api_secret
            sources["api_secret"] = f"profile {name!r}"
    else:
        sources["api_secret"] = sources["api_key"]
    state = chosen.state_dir
    state_dir = Path(state).expanduser() if state else default_state_dir(env)
    return Settings(
        api_url=validate_api_url(url),
        api_key=key_sid,
        api_secret=key_secret,
        profile=name,
        profile_path=path,
        state_dir=state_dir,
        sources=sources,
    )

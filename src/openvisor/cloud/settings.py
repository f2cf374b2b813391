"""Service settings, read from the environment (prefix ``OPENVISOR_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of one cloud service instance.

    Every value comes from an ``OPENVISOR_``-prefixed environment variable or
    a keyword argument, for example ``OPENVISOR_DATABASE_URL`` or
    ``Settings(database_url="sqlite:///ov.db")``. Instances that share one
    database and broker behave as one service, because nothing that must be
    shared lives only in memory.
    """

    model_config = SettingsConfigDict(env_prefix="OPENVISOR_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///openvisor-cloud.db",
        description="SQLAlchemy URL: a SQLite file or postgresql+psycopg://user@host/db",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL clients reach (no /v1); built from each request when unset",
    )
    host: str = "127.0.0.1"
    port: int = 8080

    admin_account_sid: str | None = Field(
        default=None, description="Account created or updated at start (admin bootstrap)"
    )
    admin_auth_token: str | None = Field(
        default=None, description="Auth token of the admin account; stored hashed"
    )

    max_request_bytes: int = Field(default=64 * 1024, description="Largest request body")
    max_bundle_bytes: int = Field(default=8 * 1024 * 1024, description="Largest bundle upload")
    rate_limit_per_key: int = Field(default=600, description="Requests per credential per window")
    rate_limit_per_device: int = Field(default=300, description="Device messages per window")
    rate_limit_window_s: int = Field(default=60, description="Rate limit window in seconds")

    signing_key_file: Path | None = Field(
        default=None,
        description="PEM P-256 private key that signs bundles; generated and kept in SQL if unset",
    )
    secrets_key: str | None = Field(
        default=None,
        description="Base64 AES-256 key that encrypts secret values at rest; plain text if unset",
    )

    broker_url: str = Field(
        default="mqtt://127.0.0.1:1883", description="MQTT broker URL handed to devices"
    )
    topic_prefix: str = Field(default="ov", description="MQTT topic prefix handed to devices")

    http_proxy_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Host names device HTTP requests may reach ('*.example.com' allowed); "
        "empty allows every host",
    )
    http_proxy_ca_bundle: Path | None = Field(
        default=None, description="CA bundle for device HTTP requests; system CAs if unset"
    )
    http_proxy_max_response_bytes: int = Field(default=64 * 1024)

    log_poll_interval_s: float = Field(
        default=0.25, description="How often a live log stream polls the database"
    )

"""Create the initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-12-04 16:17:57.099167
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Index = tuple[str, list[str]]
# A table's name, its columns and constraints, and its indexes (name and
# columns) in creation order.
TableSpec = tuple[str, list[Any], list[Index]]


def _column(name: str, type_: Any, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, type_, nullable=nullable)


def _sid(name: str = "sid", *, nullable: bool = False) -> sa.Column[Any]:
    return _column(name, sa.String(length=34), nullable=nullable)


def _string(name: str, length: int, *, nullable: bool = False) -> sa.Column[Any]:
    return _column(name, sa.String(length=length), nullable=nullable)


def _datetime(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return _column(name, sa.DateTime(), nullable=nullable)


def _row_id() -> sa.Column[Any]:
    # SQLite assigns row ids only to an INTEGER PRIMARY KEY column.
    return _column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"))


def _references(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{table}.sid"])


def _indexes(table: str, *columns: str) -> list[Index]:
    return [(f"ix_{table}_{column}", [column]) for column in columns]


def _account_resource(
    table: str,
    *columns: sa.Column[Any],
    references: tuple[tuple[str, str], ...] = (),
    unique_name: bool = False,
) -> TableSpec:
    """Build a table keyed by SID that belongs to an account (API keys, apps, devices).

    ``references`` names further (column, table) foreign keys. They are built
    here, after the account's, because DDL lists constraints in creation order.
    """
    elements: list[Any] = [
        _sid(),
        _sid("account_sid"),
        *columns,
        _references("account_sid", "accounts"),
        *(_references(column, target) for column, target in references),
        sa.PrimaryKeyConstraint("sid"),
    ]
    if unique_name:
        elements.append(sa.UniqueConstraint("account_sid", "unique_name"))
    return table, elements, _indexes(table, "account_sid")


def _device_record(table: str, *columns: sa.Column[Any]) -> TableSpec:
    """Build a table of records that concern one device (crashes, debug sessions, outcomes)."""
    elements: list[Any] = [
        _sid(),
        _sid("account_sid"),
        _sid("device_sid"),
        *columns,
        _references("device_sid", "devices"),
        sa.PrimaryKeyConstraint("sid"),
    ]
    return table, elements, _indexes(table, "account_sid", "device_sid")


def _tables() -> list[TableSpec]:
    """Return the schema's tables in creation order (a table follows those it references)."""
    return [
        (
            "accounts",
            [
                _sid(),
                _string("friendly_name", 200),
                _string("auth_token_hash", 120),
                _column("is_admin", sa.Boolean()),
                _datetime("date_created"),
                sa.PrimaryKeyConstraint("sid"),
            ],
            [],
        ),
        (
            "config_entries",
            [
                _sid("owner_sid"),
                _string("store", 10),
                _string("key", 100),
                _sid("account_sid"),
                _column("value", sa.Text()),
                _datetime("date_updated"),
                sa.PrimaryKeyConstraint("owner_sid", "store", "key"),
            ],
            _indexes("config_entries", "account_sid"),
        ),
        (
            "rate_counters",
            [
                _string("subject", 60),
                _column("window_start", sa.BigInteger()),
                _column("count", sa.Integer()),
                sa.PrimaryKeyConstraint("subject", "window_start"),
            ],
            [],
        ),
        (
            "signing_keys",
            [
                _column("id", sa.Integer()),
                _column("private_key_pem", sa.Text()),
                _datetime("date_created"),
                sa.PrimaryKeyConstraint("id"),
            ],
            [],
        ),
        _account_resource(
            "api_keys",
            _string("friendly_name", 200),
            _string("secret_hash", 120),
            _datetime("date_created"),
        ),
        _account_resource(
            "apps",
            _string("unique_name", 200, nullable=True),
            _string("hash", 80),
            _column("manifest", sa.LargeBinary()),
            _datetime("date_created"),
            _datetime("date_updated"),
            unique_name=True,
        ),
        _account_resource(
            "devices",
            _string("unique_name", 200, nullable=True),
            _column("public_key", sa.LargeBinary()),
            _string("link_secret_hash", 120),
            _sid("target_app_sid", nullable=True),
            _datetime("date_targeted", nullable=True),
            _string("update_status", 20),
            _column("update_error_code", sa.Integer()),
            _sid("reported_app_sid", nullable=True),
            _datetime("date_reported", nullable=True),
            _datetime("logging_expires", nullable=True),
            _column("online", sa.Boolean()),
            _datetime("date_last_seen", nullable=True),
            _datetime("date_created"),
            _datetime("date_updated"),
            unique_name=True,
        ),
        (
            "app_layers",
            [
                _sid("app_sid"),
                _string("fetch_hash", 64),
                _column("data", sa.LargeBinary()),
                _references("app_sid", "apps"),
                sa.PrimaryKeyConstraint("app_sid", "fetch_hash"),
            ],
            [],
        ),
        _device_record(
            "crash_reports",
            _sid("app_sid", nullable=True),
            _column("report", sa.Text()),
            _datetime("date_created"),
        ),
        _device_record(
            "debug_sessions",
            _string("status", 10),
            _column("client_public_key", sa.Text()),
            _datetime("date_created"),
            _datetime("date_ended", nullable=True),
        ),
        _account_resource(
            "deployments",
            _sid("app_sid"),
            _string("target_type", 10),
            _string("target", 200, nullable=True),
            _string("status", 20),
            _datetime("date_created"),
            _datetime("date_updated"),
            references=(("app_sid", "apps"),),
        ),
        (
            "device_commands",
            [
                _row_id(),
                _sid("device_sid"),
                _string("kind", 20),
                _column("payload", sa.Text()),
                _datetime("date_created"),
                _datetime("date_delivered", nullable=True),
                _references("device_sid", "devices"),
                sa.PrimaryKeyConstraint("id"),
            ],
            _indexes("device_commands", "device_sid"),
        ),
        (
            "device_tags",
            [
                _sid("device_sid"),
                _string("tag", 100),
                _sid("account_sid"),
                _references("device_sid", "devices"),
                sa.PrimaryKeyConstraint("device_sid", "tag"),
            ],
            _indexes("device_tags", "account_sid", "tag"),
        ),
        (
            "log_entries",
            [
                _row_id(),
                _sid("account_sid"),
                _sid("device_sid"),
                _column("seq", sa.BigInteger(), nullable=True),
                _column("message", sa.Text()),
                _datetime("date_logged"),
                _datetime("date_received"),
                _references("device_sid", "devices"),
                sa.PrimaryKeyConstraint("id"),
                sa.UniqueConstraint("device_sid", "seq"),
            ],
            [
                *_indexes("log_entries", "account_sid"),
                ("ix_log_entries_device_id", ["device_sid", "id"]),
            ],
        ),
        _device_record(
            "update_outcomes",
            _sid("app_sid", nullable=True),
            _sid("deployment_sid", nullable=True),
            _string("outcome", 20),
            _column("error_code", sa.Integer()),
            _column("detail", sa.Text()),
            _datetime("date_created"),
        ),
        (
            "deployment_devices",
            [
                _sid("deployment_sid"),
                _sid("device_sid"),
                _string("status", 20),
                _column("error_code", sa.Integer()),
                _datetime("date_updated"),
                _references("deployment_sid", "deployments"),
                _references("device_sid", "devices"),
                sa.PrimaryKeyConstraint("deployment_sid", "device_sid"),
            ],
            [],
        ),
    ]


def upgrade() -> None:
    for table, elements, indexes in _tables():
        op.create_table(table, *elements)
        for name, columns in indexes:
            op.create_index(op.f(name), table, columns, unique=False)


def downgrade() -> None:
    for table, _, indexes in reversed(_tables()):
        for name, _ in reversed(indexes):
            op.drop_index(op.f(name), table_name=table)
        op.drop_table(table)

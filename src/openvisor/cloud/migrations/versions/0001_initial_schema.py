"""Create the initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-12-04 16:17:57.099167
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=200), nullable=False),
        sa.Column("auth_token_hash", sa.String(length=120), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_table(
        "config_entries",
        sa.Column("owner_sid", sa.String(length=34), nullable=False),
        sa.Column("store", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner_sid", "store", "key"),
    )
    op.create_index(
        op.f("ix_config_entries_account_sid"), "config_entries", ["account_sid"], unique=False
    )
    op.create_table(
        "rate_counters",
        sa.Column("subject", sa.String(length=60), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "window_start"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "api_keys",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("friendly_name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=120), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_sid"],
            ["accounts.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(op.f("ix_api_keys_account_sid"), "api_keys", ["account_sid"], unique=False)
    op.create_table(
        "apps",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("unique_name", sa.String(length=200), nullable=True),
        sa.Column("hash", sa.String(length=80), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_sid"],
            ["accounts.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("account_sid", "unique_name"),
    )
    op.create_index(op.f("ix_apps_account_sid"), "apps", ["account_sid"], unique=False)
    op.create_table(
        "devices",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("unique_name", sa.String(length=200), nullable=True),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("link_secret_hash", sa.String(length=120), nullable=False),
        sa.Column("target_app_sid", sa.String(length=34), nullable=True),
        sa.Column("date_targeted", sa.DateTime(), nullable=True),
        sa.Column("update_status", sa.String(length=20), nullable=False),
        sa.Column("update_error_code", sa.Integer(), nullable=False),
        sa.Column("reported_app_sid", sa.String(length=34), nullable=True),
        sa.Column("date_reported", sa.DateTime(), nullable=True),
        sa.Column("logging_expires", sa.DateTime(), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("date_last_seen", sa.DateTime(), nullable=True),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_sid"],
            ["accounts.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("account_sid", "unique_name"),
    )
    op.create_index(op.f("ix_devices_account_sid"), "devices", ["account_sid"], unique=False)
    op.create_table(
        "app_layers",
        sa.Column("app_sid", sa.String(length=34), nullable=False),
        sa.Column("fetch_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_sid"],
            ["apps.sid"],
        ),
        sa.PrimaryKeyConstraint("app_sid", "fetch_hash"),
    )
    op.create_table(
        "crash_reports",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("device_sid", sa.String(length=34), nullable=False),
        sa.Column("app_sid", sa.String(length=34), nullable=True),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_sid"],
            ["devices.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(
        op.f("ix_crash_reports_account_sid"), "crash_reports", ["account_sid"], unique=False
    )
    op.create_index(
        op.f("ix_crash_reports_device_sid"), "crash_reports", ["device_sid"], unique=False
    )
    op.create_table(
        "debug_sessions",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("device_sid", sa.String(length=34), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("client_public_key", sa.Text(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_ended", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_sid"],
            ["devices.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(
        op.f("ix_debug_sessions_account_sid"), "debug_sessions", ["account_sid"], unique=False
    )
    op.create_index(
        op.f("ix_debug_sessions_device_sid"), "debug_sessions", ["device_sid"], unique=False
    )
    op.create_table(
        "deployments",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("app_sid", sa.String(length=34), nullable=False),
        sa.Column("target_type", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_sid"],
            ["accounts.sid"],
        ),
        sa.ForeignKeyConstraint(
            ["app_sid"],
            ["apps.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(
        op.f("ix_deployments_account_sid"), "deployments", ["account_sid"], unique=False
    )
    op.create_table(
        "device_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_sid", sa.String(length=34), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.Column("date_delivered", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_sid"],
            ["devices.sid"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_device_commands_device_sid"), "device_commands", ["device_sid"], unique=False
    )
    op.create_table(
        "device_tags",
        sa.Column("device_sid", sa.String(length=34), nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_sid"],
            ["devices.sid"],
        ),
        sa.PrimaryKeyConstraint("device_sid", "tag"),
    )
    op.create_index(
        op.f("ix_device_tags_account_sid"), "device_tags", ["account_sid"], unique=False
    )
    op.create_index(op.f("ix_device_tags_tag"), "device_tags", ["tag"], unique=False)
    op.create_table(
        "log_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("device_sid", sa.String(length=34), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("date_logged", sa.DateTime(), nullable=False),
        sa.Column("date_received", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_sid"],
            ["devices.sid"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_sid", "seq"),
    )
    op.create_index(
        op.f("ix_log_entries_account_sid"), "log_entries", ["account_sid"], unique=False
    )
    op.create_index("ix_log_entries_device_id", "log_entries", ["device_sid", "id"], unique=False)
    op.create_table(
        "update_outcomes",
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("device_sid", sa.String(length=34), nullable=False),
        sa.Column("app_sid", sa.String(length=34), nullable=True),
        sa.Column("deployment_sid", sa.String(length=34), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("date_created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_sid"],
            ["devices.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_index(
        op.f("ix_update_outcomes_account_sid"), "update_outcomes", ["account_sid"], unique=False
    )
    op.create_index(
        op.f("ix_update_outcomes_device_sid"), "update_outcomes", ["device_sid"], unique=False
    )
    op.create_table(
        "deployment_devices",
        sa.Column("deployment_sid", sa.String(length=34), nullable=False),
        sa.Column("device_sid", sa.String(length=34), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("date_updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_sid"],
            ["deployments.sid"],
        ),
        sa.ForeignKeyConstraint(
            ["device_sid"],
            ["devices.sid"],
        ),
        sa.PrimaryKeyConstraint("deployment_sid", "device_sid"),
    )


def downgrade() -> None:
    op.drop_table("deployment_devices")
    op.drop_index(op.f("ix_update_outcomes_device_sid"), table_name="update_outcomes")
    op.drop_index(op.f("ix_update_outcomes_account_sid"), table_name="update_outcomes")
    op.drop_table("update_outcomes")
    op.drop_index("ix_log_entries_device_id", table_name="log_entries")
    op.drop_index(op.f("ix_log_entries_account_sid"), table_name="log_entries")
    op.drop_table("log_entries")
    op.drop_index(op.f("ix_device_tags_tag"), table_name="device_tags")
    op.drop_index(op.f("ix_device_tags_account_sid"), table_name="device_tags")
    op.drop_table("device_tags")
    op.drop_index(op.f("ix_device_commands_device_sid"), table_name="device_commands")
    op.drop_table("device_commands")
    op.drop_index(op.f("ix_deployments_account_sid"), table_name="deployments")
    op.drop_table("deployments")
    op.drop_index(op.f("ix_debug_sessions_device_sid"), table_name="debug_sessions")
    op.drop_index(op.f("ix_debug_sessions_account_sid"), table_name="debug_sessions")
    op.drop_table("debug_sessions")
    op.drop_index(op.f("ix_crash_reports_device_sid"), table_name="crash_reports")
    op.drop_index(op.f("ix_crash_reports_account_sid"), table_name="crash_reports")
    op.drop_table("crash_reports")
    op.drop_table("app_layers")
    op.drop_index(op.f("ix_devices_account_sid"), table_name="devices")
    op.drop_table("devices")
    op.drop_index(op.f("ix_apps_account_sid"), table_name="apps")
    op.drop_table("apps")
    op.drop_index(op.f("ix_api_keys_account_sid"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("signing_keys")
    op.drop_table("rate_counters")
    op.drop_index(op.f("ix_config_entries_account_sid"), table_name="config_entries")
    op.drop_table("config_entries")
    op.drop_table("accounts")

"""Alembic environment: runs on the connection the service hands over."""

from __future__ import annotations

from alembic import context

from openvisor.cloud.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "openvisor migrations run through openvisor.cloud.db.migrate(), "
        "which passes a connection; the alembic command line is not supported"
    )
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()

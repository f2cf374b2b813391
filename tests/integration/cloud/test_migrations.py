"""Schema migrations: idempotent, and safe when instances start together."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from openvisor.cloud.db import create_db_engine, migrate
from openvisor.cloud.models import Base


def _check_schema(url: str) -> None:
    engine = create_db_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert len(versions) == 1
    engine.dispose()


def _migrate_concurrently(url: str) -> None:
    errors: list[Exception] = []

    def run() -> None:
        engine = create_db_engine(url)
        try:
            migrate(engine)
            migrate(engine)
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_sqlite_migrations_concurrent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrate.db'}"
    _migrate_concurrently(url)
    _check_schema(url)


def test_postgres_migrations_concurrent(request: Any) -> None:
    url = request.getfixturevalue("fresh_postgres_url")
    # The shared service may have migrated this schema already; that must be harmless too.
    _migrate_concurrently(url)
    _check_schema(url)


def test_models_match_migrations(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_db_engine(f"sqlite:///{tmp_path / 'drift.db'}")
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    # A model changed without a new revision shows up here.
    assert differences == []

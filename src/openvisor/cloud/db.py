"""Database engine, sessions and schema migrations (Alembic, run at start)."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from openvisor.errors import CloudError, ConfigError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Any constant works: it serialises concurrent migrations of instances
# that share one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x6F76_636C_6F75_6401


def create_db_engine(url: str) -> Engine:
    """Create an engine for a SQLite file or a PostgreSQL URL."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(
            f"invalid database URL {url!r}: use sqlite:///path.db or "
            "postgresql+psycopg://user@host:5432/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    raise ConfigError(
        f"unsupported database {parsed.get_backend_name()!r} in {parsed.render_as_string()}: "
        "use SQLite or PostgreSQL"
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers and one writer work at once, which two service
    # instances on one file need; busy_timeout makes writers wait, not fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Create the session factory used by routes and the service layer."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest revision; safe when instances start together."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    backend = engine.url.get_backend_name()
    try:
        if backend == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            lock_path = Path(f"{engine.url.database}.migrate.lock")
            with open(lock_path, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                _upgrade(engine, config)
        elif backend == "postgresql":
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                try:
                    _upgrade(engine, config)
                finally:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                    connection.commit()
        else:
            _upgrade(engine, config)
    except SQLAlchemyError as exc:
        raise CloudError(
            f"database migration failed on {engine.url.render_as_string()}: {exc}; "
            "check that the database is reachable and writable"
        ) from exc


def _upgrade(engine: Engine, config: Config) -> None:
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    log.info("Migrated database (url=%s)", engine.url.render_as_string())

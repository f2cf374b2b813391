"""Dialect-aware statements for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_duplicates(session: Session, table: Any, rows: list[dict[str, Any]]) -> int:
    """Insert rows, skipping those that clash with a unique key; return how many went in."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    stmt = module.insert(table).values(rows).on_conflict_do_nothing().returning(key)
    # RETURNING counts reliably on both databases; rowcount is -1 on psycopg.
    return len(session.execute(stmt).all())


def upsert_increment(session: Session, table: Any, keys: dict[str, Any], column: str) -> int:
    """Insert a counter row at 1 or add 1 to it atomically; return the new value."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(**keys, **{column: 1})
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={column: getattr(table.c, column) + 1}
    ).returning(getattr(table.c, column))
    return int(session.execute(stmt).scalar_one())

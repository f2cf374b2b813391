"""A migrated SQLite database per test for the service-layer unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from openvisor.cloud.db import create_db_engine, create_session_factory, migrate, session_scope


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[Callable[[], AbstractContextManager[Session]]]:
    """Open committed sessions on a fresh, migrated SQLite file."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'unit.db'}")
    migrate(engine)
    factory = create_session_factory(engine)
    yield lambda: session_scope(factory)
    engine.dispose()

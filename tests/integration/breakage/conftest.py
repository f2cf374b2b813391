"""Fixtures for hostile-input tests of the cloud: one real service per database.

The service start-up and account helpers are those of the cloud integration
tests, loaded from their conftest by path (test folders are not packages).
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_CLOUD_CONFTEST = Path(__file__).resolve().parents[1] / "cloud" / "conftest.py"


def _load_cloud_helpers() -> ModuleType:
    name = "openvisor_tests_cloud_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _CLOUD_CONFTEST)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


cloud = _load_cloud_helpers()


@pytest.fixture(scope="session")
def cloud_helpers() -> ModuleType:
    """The cloud test helpers: start_service, create_account, provision, build_bundle, upload."""
    return cloud


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def hostile_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """A service on SQLite or on a fresh PostgreSQL schema, with the default body limit."""
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'cloud.db'}"
        service = cloud.start_service(
            database_url, tmp_path_factory.mktemp("logs"), secrets_key=cloud.SECRETS_KEY
        )
        yield service
        service.stop()
        return
    base_url: str = request.getfixturevalue("postgres_url")
    schema = "ov_breakage_" + secrets.token_hex(6)
    engine = create_engine(base_url)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    service = cloud.start_service(
        url.render_as_string(hide_password=False),
        tmp_path_factory.mktemp("logs"),
        secrets_key=cloud.SECRETS_KEY,
    )
    yield service
    service.stop()
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()

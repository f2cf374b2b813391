"""A real cloud on a loopback port and a way to run `ov` commands against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from openvisor.cli.local import AdminCredentials, LocalCloud
from openvisor.cli.main import app
from openvisor.link.memory import MemoryHub


@dataclass
class OvRunner:
    """Runs `ov` in-process with settings that point at one test cloud."""

    env: dict[str, str]
    runner: CliRunner

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        merged = {**self.env, **(env or {})}
        return self.runner.invoke(app, list(args), input=input, env=merged, catch_exceptions=False)

    def ok(self, *args: str, input: str | None = None) -> Result:
        """Run a command that must succeed; fail the test with its output otherwise."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (
            f"ov {' '.join(args)} exited {result.exit_code}:\n{result.output}"
        )
        return result


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """A cloud with SQLite in a temporary folder, served on a free loopback port."""
    local = LocalCloud(tmp_path_factory.mktemp("cloud"), credentials=AdminCredentials.generate())
    local.start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def hub() -> MemoryHub:
    """An in-memory device link for the module's cloud and devices."""
    return MemoryHub()


@pytest.fixture(scope="module")
def linked_cloud(tmp_path_factory: pytest.TempPathFactory, hub: MemoryHub) -> Iterator[LocalCloud]:
    """A cloud that also serves devices over the module's in-memory device link."""
    local = LocalCloud(
        tmp_path_factory.mktemp("cloud"),
        credentials=AdminCredentials.generate(),
        service_link=hub.service_link(),
    )
    local.start()
    yield local
    local.stop()


def _symbol_address(elf: Path, name: str) -> int:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with elf.open("rb") as stream:
        table = ELFFile(stream).get_section_by_name(".symtab")
        assert isinstance(table, SymbolTableSection)
        (symbol,) = table.get_symbol_by_name(name)
        return int(symbol["st_value"])


@pytest.fixture
def symbol_address() -> Callable[[Path, str], int]:
    """Return a function that reads a symbol's st_value from an ELF file."""
    return _symbol_address


@pytest.fixture
def ov_env(tmp_path: Path, cloud: LocalCloud) -> dict[str, str]:
    """Environment that points `ov` at the test cloud with private profile and cache folders."""
    return {
        "OPENVISOR_CONFIG": str(tmp_path / "profiles.json"),
        "OPENVISOR_API_URL": cloud.url,
        "OPENVISOR_API_KEY": cloud.credentials.key,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "COLUMNS": "200",
    }


@pytest.fixture
def ov(ov_env: dict[str, str]) -> OvRunner:
    """Run `ov` commands against the module's cloud."""
    return OvRunner(env=ov_env, runner=CliRunner())


@pytest.fixture
def provision(cloud: LocalCloud) -> Callable[..., str]:
    """Register a device with the cloud by its REST provisioning endpoint; returns its SID."""
    import httpx
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def register(unique_name: str | None = None) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        form = {"PublicKey": pem}
        if unique_name:
            form["UniqueName"] = unique_name
        auth = (cloud.credentials.account_sid, cloud.credentials.auth_token)
        response = httpx.post(f"{cloud.url}/v1/Provisioning", data=form, auth=auth)
        assert response.status_code == 201, response.text
        return str(response.json()["sid"])

    return register

"""Fixtures shared by the whole suite: the firmware build and the service URLs."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = ROOT / "firmware"
FIRMWARE_BUILD = FIRMWARE_DIR / "build"


def _build_firmware() -> None:
    """Run `make -C firmware` once per machine at a time (xdist workers share the tree)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail(
            "arm-none-eabi-gcc is not installed: run ./scripts/install.sh --test "
            "to install the Arm GNU toolchain"
        )
    FIRMWARE_BUILD.mkdir(exist_ok=True)
    with open(FIRMWARE_BUILD / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            ["make", "-C", str(FIRMWARE_DIR), "-j2"], capture_output=True, text=True, check=False
        )
    if result.returncode != 0:
        pytest.fail(f"firmware build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")


@pytest.fixture(scope="session")
def firmware() -> Callable[[str], Path]:
    """Return a function mapping an application name under firmware/apps to its built ELF."""
    _build_firmware()

    def elf(name: str) -> Path:
        path = FIRMWARE_BUILD / f"{name}.elf"
        if not path.exists():
            pytest.fail(f"firmware image {path} was not built: is firmware/apps/{name} missing?")
        return path

    return elf


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The production database URL; skips unless OPENVISOR_TEST_POSTGRES_URL is set."""
    url = os.environ.get("OPENVISOR_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "set OPENVISOR_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) "
            "to run the PostgreSQL tests"
        )
    return url


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    """The production broker URL; skips unless OPENVISOR_TEST_MQTT_URL is set."""
    url = os.environ.get("OPENVISOR_TEST_MQTT_URL")
    if not url:
        pytest.skip(
            "set OPENVISOR_TEST_MQTT_URL (e.g. mqtt://127.0.0.1:1883) to run the tests "
            "against an external MQTT broker"
        )
    return url

"""What a new user meets first: files passed by path, crash symbols, app names, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from openvisor.cli.local import LocalCloud
from openvisor.cli.symbols import app_id_of_bundle
from openvisor.link import messages as msg
from openvisor.link.memory import MemoryHub

if TYPE_CHECKING:
    from conftest import OvRunner


@pytest.fixture(scope="module")
def cloud(linked_cloud: LocalCloud) -> LocalCloud:
    """The module's cloud, serving devices over the in-memory device link."""
    return linked_cloud


def test_crashes_symbolized_without_elf_flag(
    ov: OvRunner,
    hub: MemoryHub,
    provision: Callable[..., str],
    firmware: Callable[[str], Path],
    symbol_address: Callable[[Path, str], int],
) -> None:
    device = provision()
    elf = firmware("hello")
    app = json.loads(ov.ok("apps", "upload", str(elf), "--json").output)
    from openvisor.bundle import ManifestOptions, create_bundle

    app_id = app_id_of_bundle(create_bundle(elf, ManifestOptions()))
    main = symbol_address(elf, "main") & ~1
    link = hub.device_link(device)
    link.start()
    try:
        body = {
            "kind": "fault",
            "detail": "",
            "micros": 5,
            "uptime_us": 5,
            "pc": main + 4,
            "lr": main,
            "sp": 0x2007_FFE0,
            "xpsr": 0,
            "fault_address": None,
            "access": "",
            "registers": {},
            "stack": "",
            "symbols": {},
            "restart_delay_us": 0,
            "crash_count": 1,
            "app_id": app_id,
        }
        link.send(msg.Report(report_kind="crash", report_id=f"{device}-1", body=body))
    finally:
        link.stop()
    records = [json.loads(line) for line in ov.ok("crashes", device, "--json").stdout.splitlines()]
    hello_apps = {
        a["sid"]
        for a in json.loads(ov.ok("apps", "list", "--json").output)
        if a["hash"] == "sha256:" + app_id
    }
    assert app["sid"] in hello_apps
    assert records[0]["app_sid"] in hello_apps
    assert records[0]["report"]["symbols"]["pc"].startswith("main+0x4")


@pytest.mark.parametrize("name", ["nosuch.elf", "firmware/build/nosuch.elf", "missing.zip"])
def test_deploy_missing_file_not_found(
    ov: OvRunner, provision: Callable[..., str], name: str
) -> None:
    device = provision()
    result = ov("deploy", name, "--device", device, "--no-wait")
    assert result.exit_code == 1
    assert f"file not found: {name}" in result.output
    assert "app" not in result.output.split("file not found")[0].lower()


def test_deploy_names_app_after_file(
    ov: OvRunner, provision: Callable[..., str], firmware: Callable[[str], Path]
) -> None:
    device = provision()
    elf = firmware("hello")
    ov.ok("deploy", str(elf), "--device", device, "--no-wait")
    ov.ok("deploy", str(elf), "--device", device, "--no-wait")
    apps = json.loads(ov.ok("apps", "list", "--json").output)
    names = {a["unique_name"] for a in apps}
    assert "hello" in names
    assert "hello-2" in names
    listing = ov.ok("deployments").output
    assert "hello-2" in listing
    assert "KA" not in listing.replace("KA…", "")


def test_devices_show_running_app_name(
    ov: OvRunner,
    hub: MemoryHub,
    provision: Callable[..., str],
    firmware: Callable[[str], Path],
) -> None:
    device = provision()
    elf = firmware("hello")
    app = json.loads(ov.ok("apps", "upload", str(elf), "--name", "shown-name", "--json").output)
    ov.ok("deploy", app["sid"], "--device", device, "--no-wait")
    from openvisor.bundle import ManifestOptions, create_bundle

    app_id = app_id_of_bundle(create_bundle(elf, ManifestOptions()))
    link = hub.device_link(device)
    link.start()
    try:
        deployments = json.loads(ov.ok("deployments", "list", "--json").output)
        deployment = next(d["sid"] for d in deployments if d["app_sid"] == app["sid"])
        body = {"status": "confirmed", "app_id": app_id, "deployment_sid": deployment}
        link.send(msg.Report(report_kind="update", report_id=f"{device}-u1", body=body))
    finally:
        link.stop()
    row = next(line for line in ov.ok("devices").output.splitlines() if device in line)
    assert "shown-name" in row
    assert app["sid"] not in row
    details = ov.ok("device", "show", device).output
    assert "shown-name" in details

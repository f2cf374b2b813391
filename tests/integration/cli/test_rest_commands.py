"""`ov` commands that only talk to the cloud's REST API, run against a real cloud."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import OvRunner


def test_config_account_scope_round_trip(ov: OvRunner) -> None:
    ov.ok("config", "set", "greeting", "hello world")
    assert ov.ok("config", "get", "greeting").output == "hello world\n"
    ov.ok("config", "set", "greeting", "bonjour")
    assert ov.ok("config", "get", "greeting").output == "bonjour\n"
    listed = json.loads(ov.ok("config", "list", "--json").output)
    assert [(e["key"], e["value"]) for e in listed] == [("greeting", "bonjour")]
    ov.ok("config", "delete", "greeting")
    missing = ov("config", "get", "greeting")
    assert missing.exit_code == 1
    assert "config 'greeting' not found" in missing.output


def test_config_device_scope(ov: OvRunner, provision: Callable[..., str]) -> None:
    device = provision("cfg-device")
    ov.ok("config", "set", "interval", "5", "--device", "cfg-device")
    assert ov.ok("config", "get", "interval", "--device", device).output == "5\n"
    account = ov.ok("config", "list").output
    assert "interval" not in account
    assert "interval" in ov.ok("config", "list", "--device", device).output


def test_secret_value_never_printed(ov: OvRunner, provision: Callable[..., str]) -> None:
    set_result = ov.ok("secret", "set", "api-token", "--stdin", input="s3cr3t-value\n")
    assert "s3cr3t-value" not in set_result.output
    listed = ov.ok("secret", "list", "--json").output
    assert "api-token" in listed
    assert "s3cr3t-value" not in listed
    device = provision()
    ov.ok("secret", "set", "wifi", "--device", device, input="psk-123")
    device_list = ov.ok("secret", "list", "--device", device).output
    assert "wifi" in device_list
    assert "psk-123" not in device_list
    ov.ok("secret", "delete", "api-token")
    assert "api-token" not in ov.ok("secret", "list").output


def test_empty_secret_rejected(ov: OvRunner) -> None:
    result = ov("secret", "set", "empty", "--stdin", input="")
    assert result.exit_code == 1
    assert "empty value for secret 'empty'" in result.output


def test_devices_listed_tagged_renamed(ov: OvRunner, provision: Callable[..., str]) -> None:
    device = provision()
    listed = json.loads(ov.ok("devices", "--json").output)
    assert device in [d["sid"] for d in listed]
    tagged = ov.ok("device", "tag", device, "lab", "floor-2")
    assert "floor-2, lab" in tagged.output or "lab, floor-2" in tagged.output
    by_tag = json.loads(ov.ok("device", "list", "--tag", "lab", "--json").output)
    assert [d["sid"] for d in by_tag] == [device]
    ov.ok("device", "tag", device, "lab", "--remove")
    assert "lab" not in ov.ok("device", "tag", device).output
    ov.ok("device", "rename", device, "bench-unit")
    shown = json.loads(ov.ok("device", "show", "bench-unit", "--json").output)
    assert shown["sid"] == device
    assert shown["unique_name"] == "bench-unit"
    table = ov.ok("devices").output
    assert device in table
    assert "offline" in table


def test_restart_unknown_device_fails(ov: OvRunner) -> None:
    result = ov("restart", "UV" + "0" * 32)
    assert result.exit_code == 1
    assert "404" in result.output


def test_restart_known_device(ov: OvRunner, provision: Callable[..., str]) -> None:
    device = provision()
    assert f"Restart requested for {device}" in ov.ok("restart", device).output


def test_apps_upload_list_inspect_delete(
    ov: OvRunner, firmware: Callable[[str], Path], tmp_path: Path
) -> None:
    elf = firmware("hello")
    uploaded = json.loads(ov.ok("apps", "upload", str(elf), "--name", "hello-app", "--json").output)
    assert uploaded["sid"].startswith("KA")
    listed = json.loads(ov.ok("apps", "list", "--json").output)
    assert "hello-app" in [a["unique_name"] for a in listed]
    inspected = json.loads(ov.ok("apps", "inspect", "hello-app", "--json").output)
    assert inspected["sid"] == uploaded["sid"]
    assert inspected["signer id"] != "unsigned"
    local = json.loads(ov.ok("apps", "inspect", str(elf), "--json").output)
    assert local["signer id"] == "unsigned"
    assert local["app id"] == inspected["app id"]
    stored = tmp_path / "cache" / "openvisor" / "elf" / f"{local['app id']}.elf"
    assert stored.read_bytes() == elf.read_bytes()
    ov.ok("apps", "delete", "hello-app")
    assert "hello-app" not in ov.ok("apps", "list").output


def test_apps_upload_rejects_other_files(ov: OvRunner, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    result = ov("apps", "upload", str(junk))
    assert result.exit_code == 1
    assert "neither an ELF nor a bundle zip" in result.output
    missing = ov("apps", "upload", str(tmp_path / "absent.zip"))
    assert missing.exit_code == 1
    assert "file not found" in missing.output


def test_deploy_needs_one_target(ov: OvRunner) -> None:
    result = ov("deploy", "some-app", "--device", "d", "--all")
    assert result.exit_code == 1
    assert "choose exactly one target" in result.output


def test_deploy_then_cancel(
    ov: OvRunner, provision: Callable[..., str], firmware: Callable[[str], Path]
) -> None:
    device = provision()
    created = ov.ok("deploy", str(firmware("hello")), "--device", device, "--no-wait").output
    deployment = next(word for word in created.split() if word.startswith("DP"))
    listed = json.loads(ov.ok("deployments", "list", "--json").output)
    assert deployment in [d["sid"] for d in listed]
    shown = json.loads(ov.ok("deployments", "show", deployment, "--json").output)
    assert [d["device_sid"] for d in shown["devices"]] == [device]
    assert shown["devices"][0]["status"] == "pending"
    assert "cancelled" in ov.ok("deployments", "cancel", deployment).output
    assert deployment in ov.ok("deployments").output


def test_deploy_wait_times_out_for_offline_device(
    ov: OvRunner, provision: Callable[..., str], firmware: Callable[[str], Path]
) -> None:
    device = provision()
    ov.ok("apps", "upload", str(firmware("hello")), "--name", "timeout-app")
    result = ov("deploy", "timeout-app", "--device", device, "--timeout", "1")
    assert result.exit_code == 1
    assert "did not finish within 1 s" in result.output
    assert device in result.output


def test_logs_and_crashes_of_new_device(ov: OvRunner, provision: Callable[..., str]) -> None:
    device = provision()
    disabled = ov.ok("logs", device)
    assert disabled.stdout == ""
    assert "Logging is off" in disabled.stderr
    enabled = ov.ok("logs", device, "--enable", "--json")
    assert enabled.stdout == ""
    assert json.loads(ov.ok("device", "show", device, "--json").output)["logging"]["enabled"]
    assert "Logging is off" not in ov.ok("logs", device).stderr
    assert f"No crash reports for {device}" in ov.ok("crashes", device).output

"""Command registration and help, error translation, output helpers, crash symbolization."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from openvisor.cli.commands.logs import symbolize
from openvisor.cli.context import EXIT_UNAUTHORIZED, EXIT_UNREACHABLE, describe_error
from openvisor.cli.demo import example_elf
from openvisor.cli.main import app
from openvisor.cli.output import format_bytes, format_seconds, format_time, parse_time
from openvisor.errors import CloudError, ConfigError


def test_every_command_module_registered() -> None:
    names = {command.name for command in app.registered_commands}
    names |= {group.name for group in app.registered_groups}
    expected = {
        "demo",
        "up",
        "run",
        "device",
        "devices",
        "restart",
        "apps",
        "deploy",
        "deployments",
        "logs",
        "crashes",
        "config",
        "secret",
        "auth",
        "bundle",
        "keys",
        "debug",
    }
    assert expected <= names


def test_help_of_every_command_exits_zero() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--help"]).exit_code == 0
    names = [command.name for command in app.registered_commands]
    names += [group.name for group in app.registered_groups]
    for name in names:
        assert name is not None
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, f"ov {name} --help: {result.output}"
        assert "Unavailable" not in result.output, f"ov {name} failed to import"
        assert "Usage: ov " in result.output


def test_help_of_every_subcommand_exits_zero() -> None:
    runner = CliRunner()
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        for name, child in getattr(command, "commands", {}).items():
            paths.append([*path, name])
            walk(child, [*path, name])

    walk(root, [])
    assert ["auth", "keys", "create"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"ov {' '.join(path)} --help: {result.output}"
        assert f"Usage: ov {' '.join(path)}" in result.output


def test_version_flag() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("ov ")


def test_unreachable_cloud_message() -> None:
    message, hint, code = describe_error(CloudError("connection refused"), "http://127.0.0.1:9")
    assert code == EXIT_UNREACHABLE
    assert "http://127.0.0.1:9" in message
    assert hint is not None
    assert "ov up" in hint


def test_rejected_key_message() -> None:
    message, _, code = describe_error(CloudError("bad", status=401), "http://127.0.0.1:9")
    assert code == EXIT_UNAUTHORIZED
    assert "rejected the API key" in message


def test_other_errors_pass_through() -> None:
    assert describe_error(ConfigError("bad value"), None) == ("bad value", None, 1)
    assert describe_error(CloudError("missing", status=404), None)[2] == 1


def test_output_formatting() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(4979) == "4.9 KiB"
    assert format_bytes(3 * 1024 * 1024) == "3.0 MiB"
    assert format_bytes(None) == "-"
    assert format_seconds(1.44) == "1.4 s"
    assert format_seconds(125) == "2 min 05 s"
    assert format_time("2026-12-04T16:31:27Z") == "2026-12-04 16:31:27"
    parsed = parse_time("2026-12-04T16:31:27Z")
    assert parsed is not None
    assert (parsed.hour, parsed.minute, parsed.second) == (16, 31, 27)
    assert parse_time(None) is None


def test_symbolize_names_pc_and_lr() -> None:
    elf = example_elf("demo_v3")
    report = {"pc": 0x0800_1050, "lr": 0x0800_14D1, "fault_address": 0x0C00_0000}
    names = symbolize(report, elf)
    assert names["pc"].startswith("main+0x")
    assert names["lr"].startswith("Reset_Handler+0x")
    assert "fault_address" not in names


def test_symbolize_keeps_kernel_names() -> None:
    report = {"pc": 0x0800_1050, "symbols": {"pc": "main+0x8 (main.c:3)"}}
    assert symbolize(report, None) == {"pc": "main+0x8 (main.c:3)"}
    assert symbolize(report, example_elf("demo_v3"))["pc"] == "main+0x8 (main.c:3)"


def test_example_elf_missing(tmp_path: Path) -> None:
    try:
        example_elf("no_such_app")
    except Exception as exc:  # noqa: BLE001 - checked just below
        assert "example app" in str(exc)
        assert "make -C firmware" in str(exc)
    else:
        raise AssertionError("a missing example must raise")

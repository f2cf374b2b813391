"""Rough edges a new user meets first: API URLs, help text, live progress output."""

from __future__ import annotations

import io
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from openvisor.cli.main import app
from openvisor.cli.output import app_label, live_view
from openvisor.cli.profile import validate_api_url


def test_api_url_drops_v1_suffix() -> None:
    assert validate_api_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080"
    assert validate_api_url("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert validate_api_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            paths.extend(_command_paths(sub, (*path, name)))
    return paths


def test_help_shows_no_python_types() -> None:
    root = typer.main.get_command(app)
    runner = CliRunner()
    for path in _command_paths(root):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        for leak in ("<bool>", "<int>", "<float>", "<str>", "list[", "<path>", "int range"):
            assert leak not in result.output.lower(), f"ov {' '.join(path)} --help: {leak}"


def test_run_state_help_reads_cleanly() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert "to use and keep ." not in result.output
    assert "to use and keep" in result.output


def test_live_view_ends_line_off_terminal() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=80)
    with live_view(console) as live:
        live.update(Text("10.5 s elapsed"))
    console.print("device log next line")
    assert "10.5 s elapsed\n" in stream.getvalue()
    assert "\ndevice log next line" in stream.getvalue()


def test_app_label_prefers_unique_name() -> None:
    sid = "KA" + "0123456789abcdef" * 2
    assert app_label(sid, {sid: "demo_v1"}) == "demo_v1"
    assert app_label(sid, {}) == "KA01234567…"
    assert app_label(None, {}) is None

"""`ov logs` (server log lines of a device) and `ov crashes` (symbolized crash reports)."""

from __future__ import annotations

import base64
import itertools
import json
from collections import deque
from importlib import resources
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from openvisor.cli import symbols
from openvisor.cli.context import state_of
from openvisor.cli.output import format_time, table
from openvisor.errors import CloudError

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON object per line.")


def register(app: typer.Typer) -> None:
    """Add `ov logs` and `ov crashes`."""
    app.command("logs")(logs)
    app.command("crashes")(crashes)


def print_log_line(console: Console, entry: Any, *, as_json: bool) -> None:
    """Print one log entry as ``TIME DEVICE message`` or as a JSON line."""
    if as_json:
        typer.echo(json.dumps(entry))
        return
    console.print(
        f"[dim]{format_time(entry['date_logged'])}[/] {escape(entry['message'])}",
        highlight=False,
        markup=True,
        soft_wrap=True,
    )


def logs(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device SID or unique name."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep streaming new lines until Ctrl-C."
    ),
    limit: int = typer.Option(
        50, "--limit", "-n", min=1, max=1000, help="How many recent lines to show first."
    ),
    enable: bool = typer.Option(
        False, "--enable", help="Turn the device's server logging on (for 24 h) first."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a device's server log lines (mvServerLog), oldest first.

    Devices send log lines only while logging is on (`--enable` turns it on).
    """
    state = state_of(ctx)
    client = state.client()
    if enable:
        client.update_device(device, logging_enabled=True)
    elif not client.get_device(device)["logging"]["enabled"]:
        state.err_console.print(
            f"Logging is off for {device}, so it sends no new lines: add --enable to turn it on."
        )
    # NOTE: the logs API has no "newest N" query, so every stored line is read and only
    # the last ``limit`` are kept. A device with a long history is slow to show.
    recent: deque[dict[str, Any]] = deque(client.list_logs(device), maxlen=limit)
    last_id = 0
    for entry in recent:
        print_log_line(state.console, entry, as_json=as_json)
        last_id = max(last_id, int(entry["id"]))
    if not follow:
        return
    for entry in client.stream_logs(device, after=last_id):
        print_log_line(state.console, entry, as_json=as_json)


def _example_elfs() -> list[Path]:
    """ELFs of the example apps shipped with the package, for symbol lookup."""
    folder = resources.files("openvisor") / "examples"
    try:
        return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".elf"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def symbolize(report: dict[str, Any], elf: Path | None) -> dict[str, str]:
    """Name ``pc``, ``lr`` and the fault address of a crash report from ``elf``."""
    from openvisor.kernel.crash import Symbolizer

    names: dict[str, str] = dict(report.get("symbols") or {})
    if elf is None:
        return names
    symbolizer = Symbolizer(elf)
    for key in ("pc", "lr", "fault_address"):
        address = report.get(key)
        if isinstance(address, int) and key not in names:
            described = symbolizer.describe(address)
            if described:
                names[key] = described
    return names


def find_elf(client: Any, app_sid: str | None, explicit: Path | None = None) -> Path | None:
    """The ELF to name a crash's addresses: ``explicit``, else the one stored for the app."""
    if explicit is not None:
        return explicit
    if not app_sid:
        return None
    try:
        manifest = base64.b64decode(client.get_manifest(app_sid)["encoded_bytes"])
    except CloudError as exc:
        if exc.status != 404:
            raise
        return None  # the app was deleted since the crash
    return symbols.find(symbols.app_id_of_manifest(manifest), extra=_example_elfs())


def crashes(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device SID or unique name."),
    elf: Path | None = typer.Option(
        None,
        "--elf",
        exists=True,
        dir_okay=False,
        help="The crashed app's ELF, to name addresses; found automatically when it was "
        "uploaded from an ELF on this machine.",
    ),
    limit: int = typer.Option(5, "--limit", "-n", min=1, help="How many recent reports."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a device's crash reports, newest first, with addresses named from the ELF."""
    state = state_of(ctx)
    client = state.client()
    reports = list(itertools.islice(client.list_crash_reports(device), limit))
    elfs: dict[str | None, Path | None] = {}
    for record in reports:
        report = dict(record["report"])
        app_sid = record["app_sid"]
        if app_sid not in elfs:
            elfs[app_sid] = find_elf(client, app_sid, elf)
        report["symbols"] = symbolize(report, elfs[app_sid])
        if as_json:
            typer.echo(json.dumps({**record, "report": report}))
            continue
        print_crash(state.console, record, report)
    if not reports and not as_json:
        state.console.print(f"No crash reports for {device}.")


def print_crash(console: Console, record: Any, report: dict[str, Any]) -> None:
    """Print one crash report as a table of the fields a developer looks at first."""
    names = report.get("symbols", {})

    def address(key: str) -> str:
        value = report.get(key)
        if not isinstance(value, int):
            return "-"
        name = names.get(key)
        return f"0x{value:08x} {name}" if name else f"0x{value:08x}"

    rows = [
        ("kind", report.get("kind")),
        ("detail", report.get("detail")),
        ("app", record["app_sid"]),
        ("pc", address("pc")),
        ("lr", address("lr")),
        ("sp", address("sp")),
        ("fault address", address("fault_address")),
        ("access", report.get("access")),
        ("uptime", f"{report.get('uptime_us', 0) / 1e6:.3f} s"),
        ("stack", (report.get("stack") or "")[:64] or None),
    ]
    console.print(f"[bold]Crash {record['sid']}[/] at {format_time(record['date_created'])}")
    console.print(table(None, ("FIELD", "VALUE"), rows))
    if not names:
        console.print("[dim]No ELF found for this app: pass --elf APP.elf to name addresses.[/]")

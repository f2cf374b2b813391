"""`ov deploy` with a live view of each device, and `ov deployments list|show|cancel`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table

from openvisor.cli.commands.apps import app_names, free_app_name, upload
from openvisor.cli.context import CliState, fail, state_of
from openvisor.cli.output import app_label, live_view, print_json, table, text
from openvisor.errors import UpdateError

deployments_app = typer.Typer(
    help="List, show and cancel deployments.", invoke_without_command=True
)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")

# Per-device deployment statuses in the order a successful update passes them.
STAGES = ("pending", "downloading", "installed", "succeeded")
FINAL_STATUSES = frozenset({"succeeded", "failed", "rolled-back", "cancelled", "superseded"})
STATUS_STYLE = {
    "pending": "dim",
    "downloading": "cyan",
    "installed": "blue",
    "succeeded": "green",
    "failed": "red",
    "rolled-back": "yellow",
    "cancelled": "magenta",
    "superseded": "magenta",
}
STATUS_TEXT = {
    "pending": "waiting for the device",
    "downloading": "downloading in the background; the current app keeps running",
    "installed": "verified and installed in the spare slot; trial boot",
    "succeeded": "confirmed: the new app runs",
    "failed": "failed; the previous app keeps running",
    "rolled-back": "crashed on trial; rolled back to the previous app",
    "cancelled": "cancelled",
    "superseded": "replaced by a newer deployment",
}


def register(app: typer.Typer) -> None:
    """Add `ov deploy` and `ov deployments`."""
    app.command("deploy")(deploy)
    app.add_typer(deployments_app, name="deployments")


def _device_table(rows: list[Any], started: float) -> Table:
    view = Table(title="Deployment progress", title_justify="left", header_style="bold")
    view.add_column("DEVICE")
    view.add_column("PROGRESS", width=24)
    view.add_column("STATUS")
    view.add_column("DETAIL")
    for row in rows:
        status = row["status"]
        stage = STAGES.index(status) if status in STAGES else len(STAGES) - 1
        style = STATUS_STYLE.get(status, "white")
        bar = ProgressBar(
            total=len(STAGES) - 1,
            completed=stage,
            width=22,
            complete_style=style,
            finished_style=style,
        )
        detail = STATUS_TEXT.get(status, "")
        if row["error_code"]:
            detail = f"{detail} (error code {row['error_code']})"
        view.add_row(row["device_sid"], bar, f"[{style}]{status}[/]", detail)
    view.caption = f"{time.monotonic() - started:.1f} s elapsed"
    return view


def watch_deployment(
    state: CliState,
    deployment_sid: str,
    *,
    timeout: float,
    interval: float = 0.5,
    on_poll: Callable[[list[Any]], None] | None = None,
) -> list[Any]:
    """Show each device's status live until all are final; return the final rows.

    Raises :class:`UpdateError` when ``timeout`` seconds pass first.
    """
    client = state.client()
    started = time.monotonic()
    rows: list[Any] = []
    with live_view(state.console) as live:
        while True:
            rows = list(client.list_deployment_devices(deployment_sid))
            live.update(Group(_device_table(rows, started)))
            if on_poll is not None:
                on_poll(rows)
            if rows and all(row["status"] in FINAL_STATUSES for row in rows):
                return rows
            if time.monotonic() - started > timeout:
                break
            time.sleep(interval)
    pending = [f"{row['device_sid']} ({row['status']})" for row in rows]
    raise UpdateError(
        f"deployment {deployment_sid} did not finish within {timeout:.0f} s "
        f"(devices still updating: {', '.join(pending) or 'none assigned'}); check that the "
        f"devices are online with `ov devices` and follow it with "
        f"`ov deployments show {deployment_sid}`"
    )


def deploy(
    ctx: typer.Context,
    app: str = typer.Argument(
        ...,
        metavar="APP|FILE",
        help="Bundle zip or ELF to upload first, or an uploaded app's SID or unique name.",
    ),
    device: str | None = typer.Option(
        None, "--device", "-d", metavar="DEVICE", help="Deploy to one device (SID or name)."
    ),
    tag: str | None = typer.Option(
        None, "--tag", "-t", metavar="TAG", help="Deploy to every device with this tag."
    ),
    all_devices: bool = typer.Option(False, "--all", help="Deploy to the whole fleet."),
    name: str | None = typer.Option(
        None, "--name", "-n", metavar="NAME", help="Unique name of the app when uploading."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Show progress until done."),
    timeout: float = typer.Option(
        300.0, "--timeout", metavar="SECONDS", help="Maximum wait for the devices, in seconds."
    ),
) -> None:
    """Deploy an app to a device, a tag or the fleet and watch it install.

    Exits 0 when every device confirmed the new app, 1 when any failed or rolled back.
    """
    state = state_of(ctx)
    chosen = [flag for flag, value in (("--device", device), ("--tag", tag)) if value]
    if all_devices:
        chosen.append("--all")
    if len(chosen) != 1:
        fail(
            "choose exactly one target: --device ID, --tag TAG or --all "
            f"(got {', '.join(chosen) or 'none'})"
        )
    client = state.client()
    path = Path(app)
    if path.exists():
        record = upload(state, path, name or free_app_name(client, path.stem))
        app_sid = record["sid"]
        state.console.print(f"Uploaded {app} as app {record['unique_name']} ({app_sid}).")
    elif "/" in app or app.endswith((".elf", ".zip")):
        fail(
            f"file not found: {app}",
            hint="check the path (build firmware with `make -C firmware`), "
            "or pass an uploaded app's SID or unique name",
        )
    else:
        app_sid = client.get_app(app)["sid"]
    if all_devices:
        deployment = client.create_deployment(app_sid, target_type="fleet")
    elif tag:
        deployment = client.create_deployment(app_sid, target_type="tag", target=tag)
    else:
        deployment = client.create_deployment(app_sid, target_type="device", target=device)
    sid = deployment["sid"]
    state.console.print(f"Created deployment [bold]{sid}[/] of {app_sid}.")
    if not wait:
        return
    rows = watch_deployment(state, sid, timeout=timeout)
    failed = [row for row in rows if row["status"] != "succeeded"]
    if failed:
        names = ", ".join(f"{row['device_sid']} ({row['status']})" for row in failed)
        fail(
            f"deployment {sid} did not succeed on {names}",
            hint="see why with `ov crashes DEVICE` and `ov logs DEVICE`",
        )
    state.console.print(f"Deployment {sid} succeeded on {len(rows)} device(s).")


def _target(deployment: dict[str, Any]) -> str:
    if deployment["target_type"] == "fleet":
        return "the whole fleet"
    return f"{deployment['target_type']} {deployment['target']}"


@deployments_app.callback()
def deployments_default(ctx: typer.Context) -> None:
    """List deployments when no subcommand is given."""
    if ctx.invoked_subcommand is None:
        deployments_list(ctx, as_json=False)


@deployments_app.command("list")
def deployments_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List deployments, newest first."""
    state = state_of(ctx)
    items = list(state.client().list_deployments())
    if as_json:
        print_json(state.console, items)
        return
    names = app_names(state.client())
    rows = (
        (d["sid"], app_label(d["app_sid"], names), _target(d), d["status"], d["date_created"])
        for d in items
    )
    columns = ("SID", "APP", "TARGET", "STATUS", "CREATED")
    state.console.print(table("Deployments", columns, rows, empty="no deployments"))


@deployments_app.command("show")
def deployments_show(
    ctx: typer.Context,
    deployment: str = typer.Argument(..., help="Deployment SID (DP...)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a deployment and each device's status."""
    state = state_of(ctx)
    client = state.client()
    record = client.get_deployment(deployment)
    rows = list(client.list_deployment_devices(deployment))
    if as_json:
        print_json(state.console, {"deployment": record, "devices": rows})
        return
    state.console.print(
        f"Deployment [bold]{record['sid']}[/]: app {record['app_sid']} to {_target(record)}, "
        f"{record['status']}, created {text(record['date_created'])}"
    )
    device_rows = (
        (r["device_sid"], r["status"], r["error_code"] or None, r["date_updated"]) for r in rows
    )
    columns = ("DEVICE", "STATUS", "ERROR CODE", "UPDATED")
    state.console.print(table(None, columns, device_rows, empty="no devices targeted"))


@deployments_app.command("cancel")
def deployments_cancel(
    ctx: typer.Context, deployment: str = typer.Argument(..., help="Deployment SID (DP...).")
) -> None:
    """Cancel a deployment; devices not yet updated keep their current app."""
    state = state_of(ctx)
    record = state.client().cancel_deployment(deployment)
    state.console.print(f"Deployment {record['sid']} is {record['status']}.")

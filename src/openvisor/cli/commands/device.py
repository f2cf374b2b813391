"""`ov device ...`, `ov devices` and `ov restart`: the fleet as the cloud sees it."""

from __future__ import annotations

from typing import Any

import typer

from openvisor.cli.commands.apps import app_names
from openvisor.cli.context import state_of
from openvisor.cli.output import app_label, print_json, table

device_app = typer.Typer(
    help="List, provision, tag, run and break virtual devices.", no_args_is_help=True
)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


def register(app: typer.Typer) -> None:
    """Add `ov device`, `ov devices` and `ov restart`."""
    from openvisor.cli.commands import device_local

    device_local.register(device_app)
    app.add_typer(device_app, name="device")
    app.command("devices")(devices)
    app.command("restart")(restart)


def _presence(device: dict[str, Any]) -> str:
    return "online" if device["presence"]["online"] else "offline"


def _device_rows(
    items: list[dict[str, Any]], names: dict[str, str | None]
) -> list[tuple[Any, ...]]:
    return [
        (
            device["sid"],
            device["unique_name"],
            _presence(device),
            app_label(device["app"]["reported_sid"], names),
            device["app"]["update_status"],
            device["tags"],
            device["presence"]["date_last_seen"],
        )
        for device in items
    ]


def devices(
    ctx: typer.Context,
    tag: str | None = typer.Option(None, "--tag", "-t", help="Only devices with this tag."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List devices with presence, running app and update status."""
    state = state_of(ctx)
    items = list(state.client().list_devices(tag=tag))
    if as_json:
        print_json(state.console, items)
        return
    columns = ("SID", "NAME", "PRESENCE", "RUNNING APP", "UPDATE", "TAGS", "LAST SEEN")
    rows = _device_rows(items, app_names(state.client()))
    state.console.print(table("Devices", columns, rows, empty="no devices"))


@device_app.command("list")
def device_list(
    ctx: typer.Context,
    tag: str | None = typer.Option(None, "--tag", "-t", help="Only devices with this tag."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List devices (same as `ov devices`)."""
    devices(ctx, tag=tag, as_json=as_json)


@device_app.command("show")
def device_show(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device SID or unique name."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one device in detail."""
    state = state_of(ctx)
    client = state.client()
    record = client.get_device(device)
    if as_json:
        print_json(state.console, record)
        return
    app = record["app"]
    names = app_names(client)

    def named(app_sid: str | None) -> str | None:
        name = names.get(app_sid or "")
        return f"{name} ({app_sid})" if name else app_sid

    rows = [
        ("sid", record["sid"]),
        ("unique name", record["unique_name"]),
        ("presence", _presence(record)),
        ("last seen", record["presence"]["date_last_seen"]),
        ("tags", record["tags"]),
        ("target app", named(app["target_sid"])),
        ("running app", named(app["reported_sid"])),
        ("update status", app["update_status"]),
        ("update error code", app["update_error_code"]),
        ("logging", "enabled" if record["logging"]["enabled"] else "disabled"),
    ]
    state.console.print(table(f"Device {record['sid']}", ("FIELD", "VALUE"), rows))


@device_app.command("tag")
def device_tag(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device SID or unique name."),
    tags: list[str] = typer.Argument(None, help="Tags to add (or remove with --remove)."),
    remove: bool = typer.Option(False, "--remove", "-r", help="Remove the tags instead."),
) -> None:
    """Add tags to a device (or remove them); with no tags, list the device's tags."""
    state = state_of(ctx)
    client = state.client()
    for tag in tags or []:
        if remove:
            client.remove_tag(device, tag)
        else:
            client.add_tag(device, tag)
    current = client.list_tags(device)
    state.console.print(f"Tags of {device}: {', '.join(current) if current else '(none)'}")


@device_app.command("rename")
def device_rename(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device SID or unique name."),
    unique_name: str = typer.Argument(..., help="New unique name."),
) -> None:
    """Give a device a unique name usable in place of its SID."""
    state = state_of(ctx)
    record = state.client().update_device(device, unique_name=unique_name)
    state.console.print(f"Device {record['sid']} is now named {record['unique_name']!r}.")


def restart(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device SID or unique name."),
) -> None:
    """Restart a device's app (it boots again with wake reason REMOTEAPPLICATIONRESTART)."""
    state = state_of(ctx)
    record = state.client().update_device(device, restart_app=True)
    state.console.print(f"Restart requested for {record['sid']}.")

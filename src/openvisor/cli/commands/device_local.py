"""`ov device provision|run|fault`: virtual devices hosted on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from openvisor.cli.commands.up import wait_for_interrupt
from openvisor.cli.context import fail, state_of
from openvisor.cli.hosting import FAULTS, DeviceHost, send_fault
from openvisor.cli.local import provision_device
from openvisor.cli.output import table
from openvisor.cli.stack import DEVICES_DIR, device_dirs


def register(device_app: typer.Typer) -> None:
    """Add the local-device commands to `ov device`."""
    device_app.command("provision")(provision)
    device_app.command("run")(run)
    device_app.command("fault")(fault)


def provision(
    ctx: typer.Context,
    state_dir: Path = typer.Option(
        None,
        "--state",
        metavar="DIR",
        help="Device state directory to create (default: a new folder under the "
        "profile's state directory, devices/<SID>).",
        show_default=False,
    ),
    name: str | None = typer.Option(None, "--name", "-n", help="Unique name of the device."),
    tags: list[str] = typer.Option(None, "--tag", "-t", help="Tag to add (repeatable)."),
) -> None:
    """Create a virtual device's identity and register it with the cloud."""
    state = state_of(ctx)
    client = state.client()
    folder = state_dir or state.settings.state_dir / "devices"
    device_sid, device_dir = provision_device(
        client, folder, unique_name=name, exact_dir=state_dir is not None
    )
    for tag in tags or []:
        client.add_tag(device_sid, tag)
    state.console.print(f"Provisioned device [bold]{device_sid}[/] in {device_dir}.")
    state.console.print(f"Run it with: ov device run {device_dir}")


def run(
    ctx: typer.Context,
    state_dirs: list[Path] = typer.Argument(
        None,
        help="Device state directories made by `ov device provision` (default: every device "
        "under the profile's state directory).",
        show_default=False,
    ),
    broker: str | None = typer.Option(
        None,
        "--broker",
        metavar="URL",
        help="MQTT broker URL; the one given at provisioning when omitted.",
    ),
    fast: bool = typer.Option(
        False, "--fast", help="Run as fast as possible instead of in real time."
    ),
) -> None:
    """Run provisioned virtual devices connected to the cloud until Ctrl-C."""
    state = state_of(ctx)
    dirs = list(state_dirs or device_dirs(state.settings.state_dir / DEVICES_DIR))
    if not dirs:
        fail(
            f"no provisioned devices under {state.settings.state_dir / DEVICES_DIR}",
            hint="create one with `ov device provision`",
        )
    folder = dirs[0].parent
    host = DeviceHost(folder, realtime=not fast)
    try:
        host.start(dirs, broker_url=broker)
        rows = [(sid, str(path)) for sid, path in zip(host.device_ids, dirs, strict=True)]
        state.console.print(table("Running devices", ("DEVICE", "STATE"), rows))
        state.console.print("Press Ctrl-C to stop; device state is kept.")
        wait_for_interrupt()
    finally:
        host.stop()


def fault(
    ctx: typer.Context,
    device: str = typer.Argument(..., help="Device SID or unique name."),
    kind: str = typer.Argument(..., metavar="FAULT", help="link-down, link-up or power-cut."),
    state_dir: Path | None = typer.Option(
        None,
        "--state",
        metavar="DIR",
        help="State directory of the `ov up` or `ov device run` hosting the device "
        "(default: the profile's).",
        show_default=False,
    ),
) -> None:
    """Break a running virtual device on purpose: drop or restore its link, or cut its power."""
    state = state_of(ctx)
    if kind not in FAULTS:
        fail(f"unknown fault {kind!r}: use one of {', '.join(FAULTS)}")
    device_sid = device
    if not device.startswith("UV"):
        device_sid = state.client().get_device(device)["sid"]
    folder = state_dir or state.settings.state_dir
    # `ov up` hosts devices in <state>/devices; `ov device run` in the devices' parent folder.
    host_folder = folder / DEVICES_DIR if (folder / DEVICES_DIR).is_dir() else folder
    send_fault(host_folder, device_sid, kind)
    state.console.print(f"Applied {kind} to {device_sid}.")

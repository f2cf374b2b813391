"""`ov up`: a cloud, an embedded MQTT broker and N virtual devices, until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import typer

from openvisor.cli.context import state_of
from openvisor.cli.output import table
from openvisor.cli.profile import ProfileFile
from openvisor.cli.stack import LocalStack


def register(app: typer.Typer) -> None:
    """Add `ov up`."""
    app.command("up")(up)


def up(
    ctx: typer.Context,
    devices: int = typer.Option(
        1, "--devices", "-n", min=0, help="How many virtual devices to run."
    ),
    state_dir: Path | None = typer.Option(
        None,
        "--state",
        metavar="DIR",
        help="Where the database, bundles and device state live "
        "(default: the profile's state directory, else ~/.local/share/openvisor).",
        show_default=False,
    ),
    port: int = typer.Option(
        8080, "--port", "-p", min=0, max=65535, help="API port on 127.0.0.1 (0 picks a free one)."
    ),
) -> None:
    """Start a local cloud with virtual devices; Ctrl-C stops everything, state persists.

    The first start creates an admin API key and saves it, with the API URL,
    in the current profile, so other `ov` commands find this cloud.
    """
    state = state_of(ctx)
    folder = (state_dir or state.settings.state_dir).expanduser().resolve()
    stack = LocalStack(folder, devices=devices, port=port)
    with state.console.status("Starting the cloud, the broker and the devices..."):
        stack.start()
    try:
        stored = ProfileFile.load(state.settings.profile_path)
        stored.update(
            state.settings.profile,
            api_url=stack.cloud.url,
            api_key=stack.cloud.credentials.account_sid,
            api_secret=stack.cloud.credentials.auth_token,
            state_dir=str(folder),
        )
        stored.save()
        rows = [
            ("API URL", f"{stack.cloud.url}   (--api-url; REST root {stack.cloud.url}/v1)"),
            ("API docs", f"{stack.cloud.url}/docs"),
            ("MQTT broker", stack.broker_url),
            ("state", str(folder)),
            ("profile", f"{state.settings.profile} ({state.settings.profile_path})"),
        ]
        rows += [(f"device {index + 1}", sid) for index, sid in enumerate(stack.device_ids)]
        state.console.print(table("openvisor is up", ("", ""), rows, header=False))
        state.console.print(
            "Try `ov devices` in another terminal. Press Ctrl-C to stop; state is kept."
        )
        wait_for_interrupt()
    finally:
        with state.console.status("Stopping..."):
            stack.stop()
        state.console.print("Stopped. State is kept in " + str(folder))


def wait_for_interrupt() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""`ov run APP`: boot one virtual device with an application, with no cloud.

The image runs in factory test mode, so ``mvTestingComplete(status)`` ends the
run and becomes the exit status. Console output, GPIO events, server-log and
test-log lines and crash reports are printed as they happen; a crashing app
restarts as on a real device.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from openvisor.device import AppImage, Device, DeviceConfig, DeviceState
from openvisor.device.image import vector_table_problem
from openvisor.errors import BundleError, ImageError
from openvisor.kernel.calls.server_log import LogRecord, ServerLog
from openvisor.kernel.crash import CrashReport

EXIT_TIMEOUT = 124
EXIT_BAD_IMAGE = 2


def run(
    app: Annotated[
        Path,
        typer.Argument(
            metavar="APP", help="Application to boot: an ELF, a raw flash image or a bundle."
        ),
    ],
    seconds: Annotated[
        float,
        typer.Option("--seconds", "-s", min=0.0, help="Virtual seconds to run before giving up."),
    ] = 10.0,
    fast: Annotated[
        bool, typer.Option("--fast", help="Run as fast as possible instead of in real time.")
    ] = False,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            metavar="DIR",
            help="Device state directory to use and keep (default: a temporary one).",
            show_default=False,
        ),
    ] = None,
    watchdog: Annotated[
        float,
        typer.Option(
            "--watchdog",
            metavar="S",
            help="Restart the app after S virtual seconds without a system call (0 = off).",
        ),
    ] = 0.0,
    gdb: Annotated[
        int | None,
        typer.Option(
            "--gdb",
            metavar="PORT",
            min=0,
            max=65535,
            help="Serve a GDB stub on 127.0.0.1:PORT; the app waits for GDB to continue "
            "and --seconds no longer applies.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Boot one virtual device with APP in factory test mode and print what it does."""
    with tempfile.TemporaryDirectory(prefix="ov-run-") as scratch:
        state_dir = state or Path(scratch)
        status = _run_device(
            app, state_dir, seconds=seconds, fast=fast, watchdog=watchdog, gdb_port=gdb
        )
    raise typer.Exit(status)


def _run_device(
    app: Path,
    state_dir: Path,
    *,
    seconds: float,
    fast: bool,
    watchdog: float,
    gdb_port: int | None = None,
) -> int:
    try:
        image = AppImage.from_path(app)
    except (ImageError, BundleError) as exc:
        _error(f"cannot load {app}: {exc}")
        return EXIT_BAD_IMAGE
    problem = vector_table_problem(image, app)
    if problem is not None:
        _error(problem)
        return EXIT_BAD_IMAGE

    config = DeviceConfig(factory_test=True, watchdog_s=watchdog)
    device = Device(state_dir, image=image, config=config)
    device.machine_listeners.append(_attach_peripherals)
    device.boot_listeners.append(
        lambda count, wake: typer.echo(f"[boot {count}] wake reason {wake.name}")
    )
    device.crash_listeners.append(_print_crash)
    server_log = device.kernel.family_state(ServerLog)
    server_log.listeners.append(_print_server_log)
    device.kernel.test_log_listeners.append(lambda line: typer.echo(f"[test] {line}"))

    server = None
    if gdb_port is not None:
        from openvisor.gdb.attach import serve_local

        server = serve_local(device, gdb_port)
        typer.echo(f"[gdb] waiting for GDB: target remote 127.0.0.1:{server.port}")
    try:
        device.boot()
    except ImageError as exc:
        _error(f"cannot load {app}: {exc}")
        return EXIT_BAD_IMAGE

    end_us = device.kernel.micros() + int(seconds * 1_000_000)
    try:
        _run_loop(device, server_log, end_us=None if server else end_us, fast=fast)
    finally:
        if server is not None:
            server.close()
        device.kernel.flush()
    return _exit_status(device, seconds)


def _run_loop(device: Device, server_log: ServerLog, *, end_us: int | None, fast: bool) -> None:
    """Step the device until it finishes or virtual time reaches ``end_us`` (None: no limit)."""
    start_wall = time.monotonic()
    start_us = device.kernel.micros()
    while device.state not in (DeviceState.FINISHED, DeviceState.NO_APP):
        now = device.kernel.micros()
        if end_us is not None and now >= end_us:
            return
        device.step(None if end_us is None else end_us - now)
        # With no cloud, ov run is the consumer of the server-log queue.
        server_log.take(max_count=1000)
        debugger = device.debugger
        if debugger is not None and debugger.holds_app():
            device.kernel.wakeup.wait(0.05)
            start_wall, start_us = time.monotonic(), device.kernel.micros()
        elif not fast:
            ahead = (device.kernel.micros() - start_us) / 1e6 - (time.monotonic() - start_wall)
            if ahead > 0:
                time.sleep(min(ahead, 0.5))


def _exit_status(device: Device, seconds: float) -> int:
    """Report how the run ended and return the exit status."""
    if device.test_status is not None:
        typer.echo(f"mvTestingComplete(status={device.test_status})")
        return min(device.test_status, 255)
    if device.state is DeviceState.NO_APP:
        _error("the device has no application to run")
        return 1
    # Running out of --seconds is the normal end of an app that never calls
    # mvTestingComplete, so it is reported as a status line, not as an error.
    typer.echo(
        f"[run] timed out after {seconds:g} s of virtual time without mvTestingComplete "
        f"(exit status {EXIT_TIMEOUT}); raise --seconds to run longer",
        err=True,
    )
    return EXIT_TIMEOUT


def _error(message: str) -> None:
    """Print ``message`` to standard error in the style of every other `ov` command."""
    typer.echo(f"Error: {message}", err=True)


def _print_server_log(record: LogRecord) -> None:
    typer.echo(f"[log] {record.text}")


def _print_crash(report: CrashReport) -> None:
    typer.echo(
        f"[crash] {report.summary()}; restarting in {report.restart_delay_us / 1e6:g} s",
        err=True,
    )


def _attach_peripherals(machine: Any) -> None:
    """Print console lines and GPIO events of a new machine."""
    peripherals = machine.peripherals
    peripherals.on_console(lambda port, line: typer.echo(f"[{port}] {line}"))
    peripherals.on_gpio(_print_gpio)


def _print_gpio(event: Any) -> None:
    level = "high" if event.level else "low"
    typer.echo(f"[gpio] P{event.port}{event.pin} {level} at cycle {event.cycle}")

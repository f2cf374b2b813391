"""`ov demo`: a guided tour of openvisor on loopback, from first boot to automatic rollback.

One process runs the cloud (SQLite), the embedded MQTT broker and one
virtual device. The demo then:

1. uploads the example app v1 (logs and blinks) and deploys it;
2. streams the device's log lines;
3. deploys v2 and shows the failsafe update: v1 keeps logging while v2
   downloads, then the device switches;
4. deploys v3, which crashes at start, and shows the automatic rollback
   to v2 with the crash report;
5. prints a summary table read from the cloud's REST API and exits 0.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from openvisor.cli.commands.apps import load_bundle
from openvisor.cli.commands.deploy import FINAL_STATUSES, watch_deployment
from openvisor.cli.commands.logs import find_elf, print_crash, symbolize
from openvisor.cli.context import CliState, fail, state_of
from openvisor.cli.output import format_bytes, format_seconds, format_time, parse_time, table
from openvisor.errors import OpenvisorError, UpdateError

log = logging.getLogger(__name__)

EXAMPLES = ("demo_v1", "demo_v2", "demo_v3")
# Modules the demo runs on, with the part of openvisor each belongs to.
REQUIRED_MODULES = {
    "openvisor.cloud.app": "the cloud service",
    "openvisor.cloud.client": "the cloud REST client",
    "openvisor.link.broker": "the embedded MQTT broker",
    "openvisor.device.fleet": "the device fleet runner",
    "openvisor.ota": "over-the-air updates",
}


def register(app: typer.Typer) -> None:
    """Add `ov demo`."""
    app.command("demo")(demo)


def example_elf(name: str) -> Path:
    """Return the path of a shipped example ELF (``openvisor/examples/NAME.elf``)."""
    path = Path(str(resources.files("openvisor") / "examples" / f"{name}.elf"))
    if not path.is_file():
        raise OpenvisorError(
            f"example app {path} is missing from this installation: rebuild it with "
            f"`make -C firmware` and copy firmware/build/{name}.elf there"
        )
    return path


def check_pieces() -> list[str]:
    """Return one line per piece the demo needs but cannot import or find."""
    missing = []
    for module, piece in REQUIRED_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{piece} ({module}): {exc}")
    for name in EXAMPLES:
        try:
            example_elf(name)
        except OpenvisorError as exc:
            missing.append(str(exc))
    return missing


class LogTail:
    """Background thread that prints a device's new log lines read from the cloud's REST API."""

    def __init__(self, client: Any, device: str, console: Console, *, interval: float = 0.3):
        self._client = client
        self._device = device
        self._console = console
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_id = 0
        self.last_message: str | None = None
        """The newest log line seen, or None before the first one."""

    def start(self) -> None:
        """Start polling for lines logged after the ones already seen."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="demo-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling after printing what has arrived."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._poll()

    def _poll(self) -> None:
        try:
            entries = list(self._client.list_logs(self._device, after=self.last_id))
        except OpenvisorError as exc:
            log.debug("Log poll failed (device=%s, error=%s)", self._device, exc)
            return
        for entry in entries:
            if entry["id"] <= self.last_id:
                continue
            self.last_id = entry["id"]
            self.last_message = entry["message"]
            self._console.print(f"  [dim]device log[/] {escape(entry['message'])}", highlight=False)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._poll()


@dataclass
class Step:
    """One deployment made by the demo, for the summary."""

    version: str
    app_sid: str
    deployment_sid: str


def _step(console: Console, number: int, title: str, explanation: str) -> None:
    console.print()
    console.print(Rule(f"[bold]{number}. {title}", align="left"))
    console.print(explanation, highlight=False)


def _deploy(
    state: CliState,
    device: str,
    version: str,
    *,
    timeout: float,
    running: tuple[str, LogTail] | None = None,
) -> Step:
    """Upload an example ELF and deploy it to the device, showing progress until final.

    With ``running`` (the version on the device and its log tail), each status
    before the new version boots is shown with the running version's latest log line.
    """
    client = state.client()
    bundle = load_bundle(example_elf(version))
    app = client.upload_bundle(bundle.data, unique_name=version)
    state.console.print(
        f"Uploaded {version} as app {app['sid']} ({format_bytes(len(bundle.data))}; "
        "the cloud signs it)."
    )
    deployment = client.create_deployment(app["sid"], target_type="device", target=device)
    announced: set[str] = set()

    def show_running(rows: list[Any]) -> None:
        if running is None:
            return
        for row in rows:
            status = row["status"]
            # From "installed" on, the new version boots on trial, so the old one no longer runs.
            if status in ("pending", "downloading") and status not in announced:
                announced.add(status)
                current, tail = running
                latest = tail.last_message or "no log line yet"
                state.console.print(
                    f"  {current} keeps running while {version} is {status}; "
                    f"its latest log line: {escape(latest)}",
                    highlight=False,
                )

    # A fresh deployment is pending by definition, but later polls may find it installed.
    show_running([{"status": "pending"}])
    try:
        watch_deployment(state, deployment["sid"], timeout=timeout, on_poll=show_running)
    except UpdateError as exc:
        raise UpdateError(f"{exc}\n{diagnose_stall(client, device, deployment['sid'])}") from exc
    return Step(version=version, app_sid=app["sid"], deployment_sid=deployment["sid"])


def diagnose_stall(client: Any, device: str, deployment_sid: str) -> str:
    """Name the part of openvisor that most likely stopped a deployment, from the cloud's view."""
    record = client.get_device(device)
    rows = [r for r in client.list_deployment_devices(deployment_sid) if r["device_sid"] == device]
    status = rows[0]["status"] if rows else "unassigned"
    if not record["presence"]["online"]:
        return (
            f"Device {device} is offline: the device link (openvisor.link MQTT) did not "
            "connect to the embedded broker."
        )
    if status == "pending":
        return (
            "The device is online but reported nothing about the update: the device-side update "
            "path (openvisor.device.Device servicing openvisor.ota and sending its reports) is "
            "missing or stalled."
        )
    if status == "downloading":
        return "The device did not finish downloading the bundle (openvisor.ota download)."
    if status == "installed":
        return (
            "The device installed the update but never confirmed it: booting the new slot on "
            "trial (openvisor.device with openvisor.ota) did not complete."
        )
    return f"The device's deployment status is {status!r}."


def _wait_running(client: Any, device: str, app_sid: str, timeout: float) -> Any:
    """Wait until the cloud reports ``app_sid`` running on the device; return the device."""
    deadline = time.monotonic() + timeout
    record = client.get_device(device)
    while time.monotonic() < deadline:
        record = client.get_device(device)
        if record["app"]["reported_sid"] == app_sid:
            return record
        time.sleep(0.3)
    raise OpenvisorError(
        f"device {device} did not report app {app_sid} running within {timeout:.0f} s "
        f"(it reports {record['app']['reported_sid']})"
    )


def error_code_name(code: int) -> str:
    """Name an update error code as the device reports it, e.g. 8 is ``APP_CRASHED``."""
    from openvisor.ota.codes import UpdateErrorCode

    try:
        return UpdateErrorCode(code).name
    except ValueError:
        return "unknown"


def _wait_crash_report(client: Any, device: str, app_sid: str, timeout: float) -> Any:
    """Wait for the crash report of ``app_sid`` to reach the cloud, and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for crash in client.list_crash_reports(device):
            if crash["app_sid"] == app_sid:
                return crash
        time.sleep(0.5)
    raise OpenvisorError(
        f"device {device} rolled back but no crash report reached the cloud within "
        f"{timeout:.0f} s: the device's crash reporting (openvisor.kernel crash log sent over "
        "openvisor.link) did not deliver it"
    )


def summary_rows(client: Any, steps: list[Step], device: str) -> list[tuple[Any, ...]]:
    """Build the summary from the cloud's records of each deployment (not local bookkeeping)."""
    rows = []
    for step in steps:
        deployment = client.get_deployment(step.deployment_sid)
        devices = client.list_deployment_devices(step.deployment_sid)
        row = next((d for d in devices if d["device_sid"] == device), None)
        status = row["status"] if row else deployment["status"]
        started = parse_time(deployment["date_created"])
        ended = parse_time(row["date_updated"]) if row and status in FINAL_STATUSES else None
        seconds = (ended - started).total_seconds() if started and ended else None
        # The device downloads the signed bundle the cloud serves, so its size is what moved.
        moved = len(client.download_bundle(step.app_sid))
        rows.append(
            (
                step.version,
                step.app_sid,
                status,
                format_time(deployment["date_created"]),
                format_seconds(seconds),
                format_bytes(moved),
            )
        )
    return rows


def run_demo(
    state: CliState, *, state_dir: Path, timeout: float, log_seconds: float, fast: bool = False
) -> None:
    """Run the whole demo in ``state_dir``; raises an OpenvisorError on any failure."""
    from openvisor.cli.stack import LocalStack

    console = state.console
    _step(
        console,
        1,
        "Start a cloud, a broker and a device",
        "Everything runs in this process and listens on 127.0.0.1 only.",
    )
    with LocalStack(state_dir, devices=1, realtime=not fast) as stack:
        state.reconfigure(api_url=stack.cloud.url, api_key=stack.cloud.credentials.key)
        client = state.client()
        device = stack.device_ids[0]
        console.print(
            f"Cloud API URL: {stack.cloud.url}   (--api-url; OpenAPI docs: {stack.cloud.url}/docs)"
        )
        console.print(f"MQTT broker: {stack.broker_url}")
        console.print(f"Device: {device}")
        tail = LogTail(client, device, console)
        steps: list[Step] = []

        _step(
            console,
            2,
            "Deploy v1: an app that logs and blinks",
            "The cloud signs the bundle; the device downloads, verifies and boots it.",
        )
        steps.append(_deploy(state, device, "demo_v1", timeout=timeout))
        _wait_running(client, device, steps[-1].app_sid, timeout)
        tail.start()
        time.sleep(log_seconds)

        _step(
            console,
            3,
            "Deploy v2: a failsafe update",
            "v2 downloads into the spare slot while v1 keeps running and logging; "
            "the device switches only once v2 is verified and installed.",
        )
        steps.append(_deploy(state, device, "demo_v2", timeout=timeout, running=("demo_v1", tail)))
        _wait_running(client, device, steps[-1].app_sid, timeout)
        time.sleep(log_seconds)

        _step(
            console,
            4,
            "Deploy v3, which crashes at start",
            "The new app crashes during its trial boot, so the device rolls back to v2 "
            "by itself and reports the crash.",
        )
        steps.append(_deploy(state, device, "demo_v3", timeout=timeout))
        record = _wait_running(client, device, steps[1].app_sid, timeout)
        time.sleep(log_seconds)
        tail.stop()
        code = record["app"]["update_error_code"]
        console.print(
            f"The device runs {record['app']['reported_sid']} (v2) again; the cloud shows "
            f"update status {record['app']['update_status']}, error code {code} "
            f"({error_code_name(code)})."
        )
        crash = _wait_crash_report(client, device, steps[-1].app_sid, timeout)
        report = dict(crash["report"])
        # The report names the crashed app, so its ELF is found as `ov crashes` finds it.
        report["symbols"] = symbolize(report, find_elf(client, crash["app_sid"]))
        print_crash(console, crash, report)

        _step(console, 5, "Summary", "Read back from the cloud's REST API.")
        columns = ("VERSION", "APP", "OUTCOME", "DEPLOYED AT", "TIME TO FINAL", "BUNDLE BYTES")
        console.print(
            table("Deployments on " + device, columns, summary_rows(client, steps, device))
        )
        console.print(f"Log lines stored by the cloud: {len(list(client.list_logs(device)))}")


def demo(
    ctx: typer.Context,
    state_dir: Path | None = typer.Option(
        None,
        "--state",
        metavar="DIR",
        help="Keep the demo's cloud and device state in DIR "
        "(a temporary folder, deleted afterwards, when omitted).",
    ),
    timeout: float = typer.Option(
        120.0, "--timeout", metavar="SECONDS", help="Maximum wait for each update, in seconds."
    ),
    log_seconds: float = typer.Option(
        4.0, "--log-seconds", metavar="SECONDS", help="How long to show logs between steps."
    ),
    fast: bool = typer.Option(
        False, "--fast", help="Run the device as fast as possible instead of in real time."
    ),
) -> None:
    """Run the guided demo: deploy, update, crash and roll back one virtual device."""
    state = state_of(ctx)
    if state.verbose == 0:
        # The demo prints its own narrative, so component warnings appear only with -v.
        logging.getLogger().setLevel(logging.ERROR)
    missing = check_pieces()
    if missing:
        fail(
            "the demo cannot run because parts of openvisor are missing:\n  - "
            + "\n  - ".join(missing),
            hint="reinstall with ./scripts/install.sh; run with -vv for details",
        )
    with tempfile.TemporaryDirectory(prefix="openvisor-demo-") as folder:
        run_demo(
            state,
            state_dir=state_dir or Path(folder),
            timeout=timeout,
            log_seconds=log_seconds,
            fast=fast,
        )
    state.console.print("\n[bold green]Demo complete.[/]")

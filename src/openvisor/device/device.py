"""One virtual device: machine + kernel + OTA + link around a state directory.

The device runs its CPU in slices (:meth:`Device.step`). Between slices it runs
work queued by other threads and acts on what ended the last slice (a crash, a
restart, deep sleep, testing complete). It also checks the watchdog, the
stuck-in-fault timer and hung fast interrupt handlers, services OTA and
persists changed state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from openvisor import atomicfile
from openvisor.device import backup
from openvisor.device.crash_report import build_report, crash_kind
from openvisor.device.image import AppImage, policy_from_manifest
from openvisor.errors import ImageError, StateError
from openvisor.kernel import AppExit, ExitKind, Kernel, KernelSettings
from openvisor.kernel.abi import MvEventType, MvSystemNotificationSource, MvWakeReason
from openvisor.kernel.calls.fast_interrupts import FastInterrupts
from openvisor.kernel.calls.system import SystemNotifications
from openvisor.kernel.crash import (
    CrashKind,
    CrashLog,
    CrashPolicy,
    CrashReport,
    RestartBackoff,
    Symbolizer,
)
from openvisor.kernel.kernel import FAULT_EXCEPTIONS
from openvisor.kernel.memory import APP_SRAM_BASE, APP_SRAM_SIZE

log = logging.getLogger(__name__)

CLOCK_HZ = 160_000_000
CYCLES_PER_US = CLOCK_HZ // 1_000_000
NO_APP_POLL_US = 1_000_000
"""How often a device with no application looks for one installed meanwhile."""
WAKE_STATE_FILE = "kernel/pending-wake.json"
"""The wake reason of a restart still pending (crash back-off, deep sleep).

The file exists only while a restart is pending: the app's start removes it.
"""
QUICK_RESTART_US = 1_000_000
"""An app that restarts itself this soon after it started counts as a restart loop."""
FREE_QUICK_RESTARTS = 3
"""Quick restarts in a row that happen at once. Later ones wait as after a crash."""


class DeviceState(Enum):
    """Run state of a device between slices."""

    RUNNING = "running"
    WAITING_RESTART = "waiting-restart"
    """The app stopped (crash back-off, restart, deep sleep) and starts again later."""
    NO_APP = "no-app"
    """No application is installed: link and OTA work go on, and the app starts once
    an update installs one."""
    FINISHED = "finished"
    """Factory test complete: the device runs no more code."""


@dataclass
class DeviceConfig:
    """Settings of one virtual device."""

    factory_test: bool = False
    """Run the image in factory test mode (``mvTestingComplete`` ends the run)."""
    watchdog_s: float = 0.0
    """Crash the app after this many virtual seconds without a system call; 0 = off."""
    stuck_in_fault_s: float = 2.0
    """Crash the app after it spends this long in a fault handler."""
    slice_us: int = 50_000
    """Longest CPU slice in virtual µs (link work waits at most this long)."""
    deep_sleep_wake_s: float = 60.0
    """Check-in period: the longest deep sleep, unless an RTC event the app armed comes first."""
    fast_irq_budget_ms: float = 10.0
    """Crash the app when a fast interrupt handler stays active longer than this (virtual)."""
    wall_time_from_host: bool = True
    """Take wall time from the host clock at boot when there is no link. With a link, or
    when False, ``mvGetWallTime`` returns TIMENOTSET until the cloud's first time sync."""
    gateway_call_cycles: int = 160
    """Virtual cycles each system call costs on top of its instructions: an estimate of a
    secure-call round trip on silicon (1 µs at 160 MHz), as ``Machine`` uses by default."""
    seed: int | None = None
    """Seed for handle values, for reproducible tests; None = random."""
    kernel: KernelSettings = field(default_factory=KernelSettings)


class Device:
    """A virtual STM32U585 running one application under the microvisor kernel.

    Example::

        device = Device(tmp_path / "dev1", image=AppImage.from_path(Path("app.elf")))
        device.boot()
        device.run_for(2.0)           # two virtual seconds
        print(device.crash_log.reports)
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        image: AppImage | None = None,
        link: Any = None,
        ota: Any = None,
        config: DeviceConfig | None = None,
        device_id: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config = config or DeviceConfig()
        self.image = image
        self.link = link
        self.ota = ota
        self.device_id = device_id or _load_device_id(state_dir)

        settings = self.config.kernel
        settings.factory_test = self.config.factory_test
        settings.deep_sleep_wake_s = self.config.deep_sleep_wake_s
        # With a cloud, wall time is TIMENOTSET until the cloud's first time sync.
        settings.wall_time_from_host = self.config.wall_time_from_host and link is None
        self.kernel = Kernel(
            device_id=self.device_id,
            state_dir=state_dir / "kernel",
            link=link,
            settings=settings,
            seed=self.config.seed,
        )
        if link is not None:
            from openvisor.kernel.net import attach

            # Track link status and deliver server logs from the start, before any
            # network call of the app.
            attach(self.kernel)
        self.machine: Any = None
        self.state = DeviceState.WAITING_RESTART
        self.test_status: int | None = None
        """The ``mvTestingComplete`` status once the factory test finished."""
        self.boot_count = 0
        self.crash_log = self.kernel.family_state(CrashLog)
        self.backoff = RestartBackoff(image.crash_policy if image else CrashPolicy())
        self.restart_backoff = RestartBackoff(self.backoff.policy)
        """Holds back an app that keeps restarting itself (mvRestart, AIRCR.SYSRESETREQ)."""
        self._quick_restarts = 0
        self.boot_listeners: list[Callable[[int, MvWakeReason], None]] = []
        self.crash_listeners: list[Callable[[CrashReport], None]] = []
        self.kernel.family_state(FastInterrupts).budget_us = int(
            self.config.fast_irq_budget_ms * 1000
        )
        self.machine_listeners: list[Callable[[Any], None]] = []
        """Called with each new machine, to attach peripheral observers."""
        self.debugger: Any = None
        """An ``openvisor.gdb.DeviceDebugger`` when GDB may attach (``ov run --gdb``, link)."""

        self._restart_at_us = 0
        self._next_wake = MvWakeReason.COLDBOOT
        # Whether WAKE_STATE_FILE may exist, so the app's start has to remove it.
        self._wake_file_present = True
        self._resume_backup_domain = False
        self._calendar_waits_for_wall_time = True
        self._app_started_us = 0
        self._fault_since_us: int | None = None
        self._symbolizer: Symbolizer | None = None
        self._boot_image: AppImage | None = None
        self._ota_bridge: Any = None
        self._update_restart_held = False
        """Whether an update became due while GDB halted the app, so it applies on resume."""
        if ota is not None and link is not None:
            from openvisor.ota.bridge import OtaLinkBridge

            self._ota_bridge = OtaLinkBridge(ota, link)
        if link is not None:
            # Remote debugging: GDB sessions arrive as DebugFrame link messages.
            from openvisor.gdb import DeviceDebugger

            self.debugger = DeviceDebugger(self)

    # Lifetime.

    def boot(self, wake_reason: MvWakeReason | None = None) -> None:
        """Power on: start the app at once with ``wake_reason``.

        Without one, a restart that was pending when the process last stopped (a
        crash back-off, deep sleep) supplies it, else COLDBOOT.
        """
        self._wake_file_present = (self.state_dir / WAKE_STATE_FILE).exists()
        if wake_reason is None:
            pending = self._load_pending_wake()
            # When a restart was pending, the RTC carries on as the process left it.
            self._resume_backup_domain = pending is not None
            wake_reason = pending or MvWakeReason.COLDBOOT
        self._next_wake = wake_reason
        self._restart_at_us = self.kernel.micros()
        self.state = DeviceState.WAITING_RESTART
        self._start_app()

    def _select_image(self) -> tuple[AppImage | None, MvWakeReason | None]:
        """Return the image to start and a wake reason that overrides the device's, if any."""
        if self.ota is not None:
            selection = self.ota.select_boot()
            if selection is not None:
                image = AppImage(
                    name=selection.slot,
                    data=selection.image,
                    crash_policy=policy_from_manifest(selection.manifest.crash),
                    app_id=selection.app_id,
                    debug_auth_pubkey=bytes(selection.manifest.debug_auth_pubkey or b""),
                )
                if image == self._boot_image:
                    # Reuse the same image object, because it keeps its parsed segments and scans.
                    image = self._boot_image
                wake = MvWakeReason[selection.wake_reason] if selection.wake_reason else None
                return image, wake
        return self.image, None

    def _new_machine(self) -> Any:
        from openvisor.machine import Machine

        machine = Machine(clock_hz=CLOCK_HZ, gateway_call_cycles=self.config.gateway_call_cycles)
        backup.power_on(
            machine,
            wall_time_us=self.kernel.wall_time_us(),
            state_dir=self.state_dir,
            resume=self._resume_backup_domain,
        )
        for listener in list(self.machine_listeners):
            listener(machine)
        return machine

    def _start_app(self) -> None:
        image, wake_override = self._select_image()
        if image is None:
            if self.state is not DeviceState.NO_APP:
                log.info("Wait for an application update (device=%s)", self.device_id)
            self.state = DeviceState.NO_APP
            return
        wake = wake_override or self._next_wake

        if self.machine is None:
            self.machine = self._new_machine()
        try:
            self.machine.install_image(image.loaded)
        except ImageError:
            self.state = DeviceState.FINISHED
            raise
        if image is not self._boot_image:
            self._boot_image = image
            self.backoff.policy = image.crash_policy
            self.restart_backoff.policy = image.crash_policy
            self._symbolizer = Symbolizer(image.elf_path) if image.elf_path else None
        now = self.kernel.micros()
        self.kernel.app_restarted(wake)
        self.machine.reset()
        self.kernel.attach(self.machine, now_us=now)

        if self._wake_file_present:
            # The app runs now, so a new process must not resume this restart.
            atomicfile.remove(self.state_dir / WAKE_STATE_FILE)
            self._wake_file_present = False
        self.boot_count += 1
        self._app_started_us = self.kernel.micros()
        self.kernel.last_call_us = self._app_started_us
        self._fault_since_us = None
        self._update_restart_held = False
        self.state = DeviceState.RUNNING
        if self.ota is not None:
            self.ota.app_started(self._app_started_us)
            self._check_in()
        log.info(
            "Start app (device=%s, image=%s, wake_reason=%s, boot=%d)",
            self.device_id,
            image.name,
            wake.name,
            self.boot_count,
        )
        for listener in list(self.boot_listeners):
            listener(self.boot_count, wake)

    def _check_in(self) -> None:
        """Check in with the cloud, so a trial app can count a check-in since it started.

        The link also checks in whenever it connects. The cloud replies to each check-in
        with ``Welcome``, which the OTA bridge records.
        """
        if self.link is None or not self.link.online:
            return
        from openvisor.link.messages import Hello

        self.link.send(Hello())

    # Slices.

    def step(self, max_us: int | None = None) -> DeviceState:
        """Run one slice of at most ``max_us`` virtual µs and act on how it ended."""
        budget_us = min(max_us or self.config.slice_us, self.config.slice_us)
        self.kernel.run_pending()
        self.kernel.wakeup.clear()
        if self._calendar_waits_for_wall_time:
            wall_time_us = self.kernel.wall_time_us()
            self._calendar_waits_for_wall_time = not backup.sync_calendar(
                self.machine, wall_time_us
            )
        debugger = self.debugger
        if debugger is not None:
            debugger.service()

        if self.state is not DeviceState.RUNNING:
            self._restart_request_while_stopped()
        if self.state is DeviceState.WAITING_RESTART:
            remaining = self._restart_at_us - self.kernel.micros()
            if remaining > 0:
                self._advance_idle(min(remaining, budget_us))
            if self._restart_at_us <= self.kernel.micros():
                self._start_app()
            return self.state
        if self.state is DeviceState.FINISHED:
            return self.state
        if self.state is DeviceState.NO_APP:
            self._advance_idle(budget_us)
            self._service_ota()
            if self.state is DeviceState.NO_APP and self.kernel.micros() >= self._restart_at_us:
                # An app installed without an update (provisioning) starts within a second.
                self._restart_at_us = self.kernel.micros() + NO_APP_POLL_US
                self._start_app()
            self.kernel.flush()
            return self.state

        if debugger is not None and debugger.holds_app():
            # Halted by GDB: time and the link go on, the app does not run. The
            # watchdog, the stuck-in-fault timer and the fast handler budget
            # restart when it resumes.
            self._advance_idle(budget_us)
            self.kernel.last_call_us = self.kernel.micros()
            self._fault_since_us = None
            self.kernel.family_state(FastInterrupts).active_since.clear()
            self._service_ota(app_held=True)
            self.kernel.flush()
            return self.state
        if self._update_restart_held:
            self._update_restart_held = False
            log.info("Apply update after debugger resumed app (device=%s)", self.device_id)
            self._schedule_restart(MvWakeReason.APPLICATIONUPDATE, 0)
            self.kernel.flush()
            return self.state
        result = self.machine.run(max_cycles=budget_us * CYCLES_PER_US)
        if debugger is not None and debugger.intercept(result):
            self._service_ota(app_held=True)
            self.kernel.flush()
            return self.state
        app_exit = self.kernel.take_exit()
        fault = getattr(result, "fault", None)
        if fault is not None:
            self._crash(crash_kind(fault), fault=fault)
        elif app_exit is not None:
            self._handle_exit(app_exit)
        elif getattr(result.reason, "value", None) == "reset":
            # NOTE: the wake reason after an app's own AIRCR.SYSRESETREQ is undocumented.
            log.info("Restart app on its system reset request (device=%s)", self.device_id)
            self._schedule_restart(MvWakeReason.COLDBOOT, self._self_restart_delay_us())
        else:
            self._check_timers()
        self._service_ota()
        self.kernel.flush()
        return self.state

    def _advance_idle(self, micros: int) -> None:
        """Advance virtual time while the app does not run. The RTC keeps counting."""
        self.kernel.advance(micros)
        backup.elapse(self.machine, micros)

    def run_for(self, seconds: float, *, until: Callable[[], bool] | None = None) -> DeviceState:
        """Run ``seconds`` of virtual time, or until the device finishes or ``until()`` holds."""
        end = self.kernel.micros() + int(seconds * 1_000_000)
        while self.state is not DeviceState.FINISHED and self.kernel.micros() < end:
            self.step(end - self.kernel.micros())
            if until is not None and until():
                break
        return self.state

    def restart_for_debugger(self) -> None:
        """Restart the app now with wake reason DEBUGGERRESTART (GDB `monitor reset`, kill)."""
        self._next_wake = MvWakeReason.DEBUGGERRESTART
        self._start_app()

    # What ended a slice.

    def _handle_exit(self, app_exit: AppExit) -> None:
        if app_exit.kind is ExitKind.TESTING_COMPLETE:
            self.test_status = app_exit.status
            self.state = DeviceState.FINISHED
            return
        if app_exit.kind is ExitKind.CRASH:
            self._crash(CrashKind.GATEWAY, detail=app_exit.detail, address=app_exit.fault_address)
            return
        if app_exit.kind is ExitKind.DEEP_SLEEP:
            # STANDBY and SHUTDOWN power SRAM down. Only the backup domain (the RTC) keeps state.
            self.machine.mem_write(APP_SRAM_BASE, bytes(APP_SRAM_SIZE))
        wake = app_exit.wake_reason
        restart = app_exit.kind is ExitKind.RESTART
        delay_us = app_exit.delay_us
        if restart and self.ota is not None and self.ota.restart_requested():
            wake = MvWakeReason.APPLICATIONUPDATE
        elif restart:
            delay_us = max(delay_us, self._self_restart_delay_us())
            if self.ota is not None and wake is MvWakeReason.REMOTEAPPLICATIONRESTART:
                self.ota.restart_requested_by_cloud()
        self._schedule_restart(wake, delay_us)

    def _restart_request_while_stopped(self) -> None:
        """Act on a restart request (the cloud's) that came while the app does not run.

        While the app waits for its restart (crash back-off, deep sleep) it
        starts at once with the request's wake reason, unless it is in a
        restart loop. With no app, or after the factory test, the request is
        dropped.
        """
        app_exit = self.kernel.take_exit()
        if app_exit is None:
            return
        if self.state is not DeviceState.WAITING_RESTART or app_exit.kind is not ExitKind.RESTART:
            log.info(
                "Drop app exit request while the app is stopped (device=%s, state=%s, kind=%s)",
                self.device_id,
                self.state.value,
                app_exit.kind.value,
            )
            return
        log.info(
            "Restart stopped app on request (device=%s, wake=%s, wait_left_ms=%d)",
            self.device_id,
            app_exit.wake_reason.name,
            max(0, self._restart_at_us - self.kernel.micros()) // 1000,
        )
        self._handle_exit(app_exit)

    def _self_restart_delay_us(self) -> int:
        """Return the wait before an app's own restart: none, unless it is in a restart loop.

        After :data:`FREE_QUICK_RESTARTS` restarts in a row each within
        :data:`QUICK_RESTART_US` of starting, the app waits the crash back-off
        (the policy's minimum, doubling up to its maximum), so a restart loop
        cannot hold the host.
        """
        uptime = self.kernel.micros() - self._app_started_us
        if uptime >= QUICK_RESTART_US:
            self._quick_restarts = 0
            self.restart_backoff.last_delay_us = 0
            return 0
        self._quick_restarts += 1
        if self._quick_restarts <= FREE_QUICK_RESTARTS:
            return 0
        delay = self.restart_backoff.next_delay_us(uptime)
        log.warning(
            "Hold back restart loop (device=%s, quick_restarts=%d, restart_in_ms=%d)",
            self.device_id,
            self._quick_restarts,
            delay // 1000,
        )
        return delay

    def _schedule_restart(self, wake: MvWakeReason, delay_us: int) -> None:
        self._next_wake = wake
        self._restart_at_us = self.kernel.micros() + delay_us
        self.state = DeviceState.WAITING_RESTART
        backup.save(self.machine, self.state_dir)
        atomicfile.write_json(self.state_dir / WAKE_STATE_FILE, {"wake_reason": wake.name})
        self._wake_file_present = True

    def _load_pending_wake(self) -> MvWakeReason | None:
        path = self.state_dir / WAKE_STATE_FILE
        try:
            saved = atomicfile.read_json(path, default=None)
        except StateError as exc:
            # Only the wake reason is lost: the app boots as after a cold boot.
            log.error(
                "Boot as COLDBOOT: invalid pending wake state (device=%s, path=%s): %s",
                self.device_id,
                path,
                exc,
            )
            return None
        if not saved:
            return None
        try:
            return MvWakeReason[saved["wake_reason"]]
        except (KeyError, TypeError):
            log.warning("Ignore invalid pending wake reason (device=%s)", self.device_id)
            return None

    def _check_timers(self) -> None:
        now = self.kernel.micros()
        watchdog_us = int(self.config.watchdog_s * 1_000_000)
        if watchdog_us and now - self.kernel.last_call_us > watchdog_us:
            self._crash(CrashKind.WATCHDOG, detail=f"no system call for {self.config.watchdog_s} s")
            return
        # A fault handler that a higher-priority interrupt preempts is still
        # stuck: look at every active exception, not only the current one.
        active = {self.machine.current_exception(), *self.machine.nvic.active}
        if any(number in FAULT_EXCEPTIONS for number in active):
            if self._fault_since_us is None:
                self._fault_since_us = now
            elif now - self._fault_since_us > int(self.config.stuck_in_fault_s * 1_000_000):
                self._crash(
                    CrashKind.STUCK_IN_FAULT,
                    detail=f"in a fault handler for over {self.config.stuck_in_fault_s} s",
                )
        else:
            self._fault_since_us = None
        self._check_fast_interrupts()

    def _check_fast_interrupts(self) -> None:
        """Crash the app when a fast interrupt handler stays active past the budget."""
        if self.state is not DeviceState.RUNNING:
            return
        fast = self.kernel.family_state(FastInterrupts)
        hung = fast.take_hung()
        if hung is None:
            return
        irq, active_us = hung
        fast.withdraw()
        self._crash(
            CrashKind.HUNG_INTERRUPT,
            detail=(
                f"fast IRQ {irq} handler active for {active_us / 1000:.1f} ms, over the "
                f"{self.config.fast_irq_budget_ms:g} ms budget"
            ),
        )

    def _service_ota(self, *, app_held: bool = False) -> None:
        """Advance OTA and act on its result. A restart into an update waits while ``app_held``."""
        if self.ota is None or self.state not in (DeviceState.RUNNING, DeviceState.NO_APP):
            return
        from openvisor.ota.engine import OtaAction

        notifications = self.kernel.family_state(SystemNotifications)
        subscribed = any(
            s.source is MvSystemNotificationSource.UPDATE for s in notifications.subscriptions()
        )
        action = self.ota.service(self.kernel.micros(), update_notification_open=subscribed)
        if self._ota_bridge is not None:
            self._ota_bridge.send_reports()
        if action is OtaAction.NOTIFY_UPDATE_DOWNLOADED:
            notifications.emit(MvSystemNotificationSource.UPDATE, MvEventType.UPDATEDOWNLOADED)
        elif action is OtaAction.RESTART_FOR_UPDATE and app_held:
            if not self._update_restart_held:
                log.info("Hold update until debugger resumes app (device=%s)", self.device_id)
            self._update_restart_held = True
        elif action is OtaAction.RESTART_FOR_UPDATE:
            self._schedule_restart(MvWakeReason.APPLICATIONUPDATE, 0)

    # Crashes.

    def _crash(
        self,
        kind: CrashKind,
        *,
        fault: Any = None,
        detail: str = "",
        address: int | None = None,
    ) -> None:
        """Record a crash report and schedule the restart after the back-off."""
        now = self.kernel.micros()
        uptime = now - self._app_started_us
        report = build_report(
            self.machine,
            kind,
            fault=fault,
            detail=detail,
            address=address,
            stack_bytes=self.backoff.policy.stack_bytes,
            symbolizer=self._symbolizer,
            micros=self.kernel.micros(),
            app_id=self._boot_image.app_id if self._boot_image is not None else "",
        )
        report.uptime_us = uptime
        report.restart_delay_us = self.backoff.next_delay_us(uptime)
        report.crash_count = self.crash_log.crash_count + 1
        self.crash_log.record(report)
        log.info(
            "Crash app (device=%s, kind=%s, pc=%#010x, restart_in_ms=%d)",
            self.device_id,
            kind.value,
            report.pc,
            report.restart_delay_us // 1000,
        )
        for listener in list(self.crash_listeners):
            listener(report)
        if self.ota is not None and self.ota.app_crashed(now):
            log.info("Roll back after crash (device=%s)", self.device_id)
        self._schedule_restart(MvWakeReason.APPLICATIONCRASH, report.restart_delay_us)


def _load_device_id(state_dir: Path) -> str:
    """Return the device id from the identity in ``state_dir``, created on first use."""
    try:
        from openvisor.link.identity import DeviceIdentity
    except ImportError as exc:  # the link package is optional for a bare device
        raise StateError(f"cannot load the device identity in {state_dir}: {exc}") from exc
    return DeviceIdentity.load_or_create(state_dir).device_id

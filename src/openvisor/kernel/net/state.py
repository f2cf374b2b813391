"""Network state of one kernel: requests, link status, traffic from the cloud,
and delivery of server logs and crash reports to it.

`NetState` is the kernel family that owns the network requests, the open
channels, and the binding to the kernel's `DeviceLink`. Link callbacks run
on the link's thread, so each one only queues work with
``kernel.call_soon``. That work runs on the emulation thread between CPU
slices, where it may write app memory, post notifications and pend IRQs.

Network status follows the link. With at least one live network request
it is CONNECTED while the link is up and CONNECTING otherwise. With none it
is DELIBERATELYOFFLINE. Every real change posts NETWORKSTATUSCHANGED to
each request's centre and calls ``status_listeners`` (system notifications).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openvisor import atomicfile
from openvisor.kernel.abi import (
    MvClosureReason,
    MvEventType,
    MvNetworkReason,
    MvNetworkStatus,
    MvSystemNotificationSource,
    MvWakeReason,
)
from openvisor.kernel.calls.notifications import NotificationCentres
from openvisor.kernel.calls.server_log import ServerLog
from openvisor.kernel.crash import CrashLog
from openvisor.kernel.handles import HandleKind
from openvisor.link import messages as msg

if TYPE_CHECKING:
    from openvisor.kernel.kernel import Kernel
    from openvisor.kernel.net.channels import Channel

log = logging.getLogger(__name__)

MAX_NETWORK_REQUESTS = 16
LOG_BATCH_MAX = 100
BOOT_FILE = "link/boot-counter.json"
MAX_LOGGED_TARGET = 64
"""Characters of an unsupported restart target that a warning shows."""


@dataclass
class NetworkRequest:
    """One live `mvRequestNetwork` handle and where its notifications go."""

    notification_handle: int
    tag: int


@dataclass
class NetState:
    """Per-kernel network state; get it with ``kernel.family_state(NetState)``."""

    kernel: Kernel
    channels: dict[int, Channel] = field(default_factory=dict)
    open_times_us: list[int] = field(default_factory=list)
    status_listeners: list[Callable[[MvNetworkStatus], None]] = field(default_factory=list)
    """Called on the emulation thread with each new status `mvGetNetworkStatus` reports."""
    ever_requested: bool = False
    link_online: bool = False
    last_status: MvNetworkStatus = MvNetworkStatus.DELIBERATELYOFFLINE
    _drain_scheduled: bool = False
    _log_seq: int = 0

    def __post_init__(self) -> None:
        kernel = self.kernel
        kernel.network_busy_probe = lambda: self.request_count() > 0
        self._log_seq = self._next_boot() << 32
        kernel.family_state(ServerLog).listeners.append(lambda record: self.schedule_drain())
        link = kernel.link
        if link is not None:
            link.on_status(self._on_link_status)
            link.on_message(self._on_link_message)
            self.link_online = bool(link.online)
        self.last_status = self.status()
        self.send_crash_reports()

    # ------------------------------------------------------------ requests and status

    def requests(self) -> list[tuple[int, NetworkRequest]]:
        """Return every live network request with its handle."""
        return self.kernel.handles.live(HandleKind.NETWORK)

    def request_count(self) -> int:
        """Number of live network requests (the reference count)."""
        return self.kernel.handles.count(HandleKind.NETWORK)

    def status(self) -> MvNetworkStatus:
        """Return the status `mvGetNetworkStatus` reports now."""
        if self.request_count() == 0:
            return MvNetworkStatus.DELIBERATELYOFFLINE
        return MvNetworkStatus.CONNECTED if self.link_online else MvNetworkStatus.CONNECTING

    def reasons(self) -> int:
        """Return the `mvGetNetworkReasons` bitfield."""
        bits = 0
        if not self.ever_requested:
            bits |= MvNetworkReason.NEVERUSEDNETWORKAPI
            if self.link_online:
                bits |= MvNetworkReason.COLDBOOTCONNECTION
        if self.request_count() > 0:
            bits |= MvNetworkReason.USINGNETWORK
        if self.kernel.wall_time_us() is None:
            bits |= MvNetworkReason.RTCNOTSET
        if self.kernel.debugger_attached:
            bits |= MvNetworkReason.DEBUGGERATTACHED
        return int(bits)

    def update_status(self) -> None:
        """Notify every request and listener if the status changed (emulation thread)."""
        status = self.status()
        if status == self.last_status:
            return
        log.info(
            "Change network status (device=%s, from=%s, to=%s)",
            self.kernel.device_id,
            self.last_status.name,
            status.name,
        )
        self.last_status = status
        centres = self.kernel.family_state(NotificationCentres)
        for _, request in self.requests():
            centres.post(request.notification_handle, MvEventType.NETWORKSTATUSCHANGED, request.tag)
        for listener in list(self.status_listeners):
            listener(status)

    def can_send_logs(self) -> bool:
        """Return whether server logs may be sent now.

        Logs use the boot connection until the app first requests the network,
        and from then on only while the app keeps a request open.
        """
        if not self.link_online:
            return False
        return not self.ever_requested or self.request_count() > 0

    # ------------------------------------------------------------ server logs

    def schedule_drain(self) -> None:
        """Queue one drain of the server-log queue after the current call."""
        if self._drain_scheduled or self.kernel.link is None:
            return
        self._drain_scheduled = True

        def drain(kernel: Kernel) -> None:
            self.drain_logs()

        self.kernel.call_soon(drain)

    def drain_logs(self) -> int:
        """Move queued server logs to the link's outbox; return how many moved."""
        self._drain_scheduled = False
        link = self.kernel.link
        if link is None or not self.can_send_logs():
            return 0
        server_log = self.kernel.family_state(ServerLog)
        now_us = self.kernel.micros()
        # Wall time minus uptime is fixed between time syncs, so it also dates the
        # records logged before the current sync, such as those of a link-down period.
        wall_us = self.kernel.wall_time_us()
        wall_offset_us = None if wall_us is None else wall_us - now_us
        moved = 0
        while True:
            records = server_log.take(LOG_BATCH_MAX)
            if not records:
                break
            batch = []
            for record in records:
                self._log_seq += 1
                unix_micros = record.unix_micros
                if unix_micros is None and not record.restored and wall_offset_us is not None:
                    unix_micros = wall_offset_us + record.micros
                batch.append(
                    msg.LogRecord(
                        seq=self._log_seq,
                        micros=record.micros,
                        text=record.message,
                        unix_micros=unix_micros,
                    )
                )
            # Uptimes of an earlier process are not comparable with this one's, so
            # a batch holding such a record gives the cloud no base to date by age.
            comparable = all(not r.restored or r.unix_micros is not None for r in records)
            link.send(
                msg.LogBatch(records=tuple(batch), sent_micros=now_us if comparable else None)
            )
            moved += len(records)
        if moved:
            log.debug("Send server logs (device=%s, count=%d)", self.kernel.device_id, moved)
        return moved

    # ------------------------------------------------------------ crash reports

    def send_crash_reports(self) -> int:
        """Move the kernel's crash reports to the link's outbox, and return how many moved.

        Reports are durable link messages, so they go to the outbox at once,
        online or not, and reach the cloud with the next connection.
        """
        link = self.kernel.link
        if link is None:
            return 0
        reports = self.kernel.family_state(CrashLog).take()
        boot = self._log_seq >> 32
        for report in reports:
            link.send(
                msg.Report(
                    report_kind="crash",
                    report_id=f"{self.kernel.device_id}-{boot}-{report.crash_count}-{report.micros}",
                    body=report.to_json(),
                )
            )
        if reports:
            log.info(
                "Send crash reports (device=%s, count=%d)", self.kernel.device_id, len(reports)
            )
        return len(reports)

    def _next_boot(self) -> int:
        # Log sequence numbers are (boot counter << 32) | n, so they stay unique
        # across restarts without a disk write per message.
        state_dir = self.kernel.state_dir
        if state_dir is None:
            return 0
        path = state_dir / BOOT_FILE
        saved = atomicfile.read_json(path, default={"boot": 0})
        boot = int(saved.get("boot", 0)) + 1 if isinstance(saved, dict) else 1
        atomicfile.write_json(path, {"boot": boot})
        return boot

    # ------------------------------------------------------------ link callbacks

    def _on_link_status(self, online: bool) -> None:
        self.kernel.call_soon(lambda kernel: self._apply_link_status(online))

    def _apply_link_status(self, online: bool) -> None:
        self.link_online = online
        if not online:
            for channel in list(self.channels.values()):
                channel.close_remote(MvClosureReason.NETWORKDISCONNECTED)
        else:
            link = self.kernel.link
            if link is not None:
                link.send(msg.TimeRequest())
        self.update_status()
        # NETWORK system notifications follow the cloud link itself, whether or
        # not the app has a network request open.
        from openvisor.kernel.calls.system import SystemNotifications

        self.kernel.family_state(SystemNotifications).emit(
            MvSystemNotificationSource.NETWORK, MvEventType.NETWORKSTATUSCHANGED
        )
        if online:
            self.drain_logs()
            self.send_crash_reports()

    def _on_link_message(self, message: msg.Message) -> None:
        self.kernel.call_soon(lambda kernel: self.apply_message(message))

    def apply_message(self, message: msg.Message) -> None:
        """Apply one cloud message (emulation thread)."""
        kernel = self.kernel
        if isinstance(message, msg.TimeSync | msg.Welcome):
            kernel.sync_wall_time(message.unix_micros)
        if isinstance(message, msg.Welcome | msg.LoggingControl):
            enabled = (
                message.logging_enabled if isinstance(message, msg.Welcome) else message.enabled
            )
            # NOTE: the hold lives in memory only, so a device restart lifts it.
            kernel.family_state(ServerLog).disabled_by_server = not enabled
        if isinstance(message, msg.RestartRequest):
            self._restart_on_request(message.target)
            return
        channel_id: Any = getattr(message, "channel", None)
        if channel_id is None:
            return
        channel = self.channels.get(channel_id)
        if channel is None:
            log.debug(
                "Drop message for closed channel (device=%s, channel=%#010x, kind=%s)",
                kernel.device_id,
                channel_id,
                message.KIND,
            )
            return
        channel.receive(message)

    def _restart_on_request(self, target: str) -> None:
        """Restart the app for a cloud RestartRequest (``ov restart``, ``RestartApp``).

        The app ends after the current slice and boots again with wake reason
        REMOTEAPPLICATIONRESTART, or APPLICATIONUPDATE when an update is staged.
        While the app waits for a restart (deep sleep, crash back-off), the
        device starts it at once instead (`Device.step`).
        """
        from openvisor.kernel.kernel import AppExit, ExitKind

        kernel = self.kernel
        if target != "app":
            # NOTE: a remote restart of the whole device is not modelled.
            # The link does not bound the target's length, so only its start is logged.
            log.warning(
                "Ignore restart request: unsupported target (device=%s, target=%r, expected='app')",
                kernel.device_id,
                target[:MAX_LOGGED_TARGET],
            )
            return
        log.info("Restart app on cloud request (device=%s)", kernel.device_id)
        kernel.request_exit(
            AppExit(
                ExitKind.RESTART,
                MvWakeReason.REMOTEAPPLICATIONRESTART,
                detail="cloud restart request",
            )
        )

    # ------------------------------------------------------------ kernel hooks

    def app_restarted(self) -> None:
        """Forget the previous app's channels; the kernel already cleared handles."""
        for channel in list(self.channels.values()):
            channel.forget()
        self.channels.clear()
        self.open_times_us.clear()
        self.ever_requested = False
        self.last_status = self.status()
        # The device restarts the app after a crash, with the report recorded.
        self.send_crash_reports()


def attach(kernel: Kernel) -> NetState:
    """Bind ``kernel``'s link now: a device calls this right after creating its kernel,
    so link status and server-log delivery are tracked before the app's first
    network call."""
    return kernel.family_state(NetState)

"""The service's side of the device link, which handles every device message.

`DeviceLinkConsumer` listens on a `ServiceLink` and:

- records presence from connects, disconnects and MQTT wills;
- stores log batches and reports on the link's thread. The service link
  acknowledges a message only after this returns without an exception, so
  a crash or a database error leaves the batch with the broker for
  redelivery, and sequence numbers make redelivered batches harmless;
- stores crash reports and update outcomes;
- answers ``Hello`` with ``Welcome`` (wall time, logging state, the bundle
  signing key) and delivers the device's queued commands (target app,
  restart, logging) as link messages;
- answers time requests, config and secret fetches and HTTP requests
  (`openvisor.cloud.service.httpproxy`), and bridges MQTT channels
  (`mqtt_bridge`) and opaque-bytes channels (`opaque_endpoints`).

Slow work runs on a thread pool, serialised per device channel so a
channel's requests keep their order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openvisor.cloud.db import session_scope
from openvisor.cloud.devicelink.mqtt_bridge import MqttBridge, MqttBridgePolicy
from openvisor.cloud.models import App, Deployment, DeploymentDevice, utcnow
from openvisor.cloud.security import SecretBox
from openvisor.cloud.service import commands, configs, deployments, devices, logs, reports
from openvisor.cloud.service.httpproxy import ProxyPolicy, ProxyRequest, execute_request
from openvisor.cloud.service.ratelimit import RateLimitError, hit_device
from openvisor.errors import CloudError
from openvisor.link import messages as msg
from openvisor.link.base import ServiceLink

log = logging.getLogger(__name__)

# MvClosureReason.CHANNELCLOSEDBYSERVER
CLOSURE_CLOSED_BY_SERVER = 1
# MvChannelType values of the channels the service tracks.
CHANNEL_OPAQUE = 0
# MvHttpResult.REQUESTFAILED, sent when a device is over its rate limit.
HTTP_REQUEST_FAILED = 5

# Update statuses reported by devices (openvisor.ota) to deployment outcomes.
UPDATE_OUTCOMES = {
    "downloading": "downloading",
    "update-downloaded": "downloaded",
    "installed": "installed",
    "trial": "installed",
    "confirmed": "confirmed",
    "up-to-date": "succeeded",
    "rolled-back": "rolled-back",
    "failed": "failed",
    "refused": "failed",
}

OpaqueEndpoint = Callable[["DeviceLinkConsumer", str, int, bytes], None]


def echo_endpoint(consumer: DeviceLinkConsumer, device_id: str, channel: int, data: bytes) -> None:
    """Send opaque bytes straight back to the device (endpoint ``echo``)."""
    consumer.link.send(device_id, msg.ChannelData(channel=channel, data=data))


class _SerialPool:
    """A thread pool that runs the tasks of one key in order."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devicelink")
        self._lock = threading.Lock()
        self._queues: dict[Any, deque[Callable[[], None]]] = {}

    def submit(self, key: Any, task: Callable[[], None]) -> None:
        with self._lock:
            queue = self._queues.get(key)
            if queue is not None:
                queue.append(task)
                return
            self._queues[key] = deque([task])
        self._pool.submit(self._drain, key)

    def _drain(self, key: Any) -> None:
        while True:
            with self._lock:
                queue = self._queues[key]
                if not queue:
                    del self._queues[key]
                    return
                task = queue.popleft()
            try:
                task()
            except Exception:
                log.exception("Device-link task failed (key=%s)", key)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DeviceLinkConsumer:
    """Serves every device on one `ServiceLink` from the cloud database.

    Example::

        consumer = DeviceLinkConsumer(service_link, sessions=state.sessions, box=state.box,
                                      proxy_policy=state.proxy_policy, signer=state.signer)
        consumer.start()
    """

    def __init__(
        self,
        link: ServiceLink,
        *,
        sessions: sessionmaker[Session],
        box: SecretBox,
        proxy_policy: ProxyPolicy,
        signer: Any = None,
        bridge_policy: MqttBridgePolicy | None = None,
        public_url: str = "http://127.0.0.1:8080",
        rate_limit: int = 300,
        rate_window_s: int = 60,
        workers: int = 8,
    ) -> None:
        self.link = link
        self.sessions = sessions
        self.box = box
        self.proxy_policy = proxy_policy
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.rate_limit = rate_limit
        self.rate_window_s = rate_window_s
        self.bridge = MqttBridge(link.send, bridge_policy)
        self.opaque_endpoints: dict[str, OpaqueEndpoint] = {"echo": echo_endpoint}
        # NOTE: open opaque channels are known only to the instance that saw
        # their chan.open, like the MQTT bridge's clients (see MqttBridge).
        self._opaque: dict[tuple[str, int], str] = {}
        self._pool = _SerialPool(workers)
        self._started = False

    # ------------------------------------------------------------ lifetime

    def start(self) -> None:
        """Register with the link and the command outbox; the caller starts the link."""
        if self._started:
            return
        self._started = True
        self.link.on_message(self.handle_message)
        self.link.on_presence(self.handle_presence)
        commands.add_listener(self._on_command)
        log.info("Start device-link consumer")

    def stop(self) -> None:
        """Stop delivering commands, close MQTT bridges and wait for running tasks."""
        commands.remove_listener(self._on_command)
        self.bridge.close()
        self._pool.shutdown()
        log.info("Stop device-link consumer")

    # ------------------------------------------------------------ dispatch

    def handle_presence(self, device_id: str, online: bool) -> None:
        """Record a device going online or offline."""
        try:
            with session_scope(self.sessions) as session:
                devices.set_presence(session, device_id, online=online)
        except CloudError as exc:
            log.warning("Drop presence of unknown device (device=%s, error=%s)", device_id, exc)
            return
        if not online:
            self.bridge.close_device(device_id)
            for key in [key for key in self._opaque if key[0] == device_id]:
                self._opaque.pop(key, None)

    def handle_message(self, device_id: str, message: msg.Message) -> None:
        """Handle one device message (runs on the link's thread)."""
        if isinstance(message, msg.LogBatch):
            self._store_logs(device_id, message)
        elif isinstance(message, msg.Report):
            self._store_report(device_id, message)
        elif isinstance(message, msg.Hello):
            self._pool.submit((device_id, "hello"), lambda: self._welcome(device_id, message))
        elif isinstance(message, msg.TimeRequest):
            self.link.send(device_id, msg.TimeSync(unix_micros=time.time_ns() // 1000))
        elif isinstance(message, msg.HttpRequest):
            key = (device_id, message.channel)
            self._pool.submit(key, lambda: self._http(device_id, message))
        elif isinstance(message, msg.ConfigFetchRequest):
            key = (device_id, message.channel)
            self._pool.submit(key, lambda: self._config(device_id, message))
        elif isinstance(message, msg.MqttRequest):
            key = (device_id, message.channel)
            self._pool.submit(key, lambda: self.bridge.handle(device_id, message))
        elif isinstance(message, msg.ChannelOpen):
            self._channel_open(device_id, message)
        elif isinstance(message, msg.ChannelData):
            self._channel_data(device_id, message)
        elif isinstance(message, msg.ChannelClose):
            self._opaque.pop((device_id, message.channel), None)
            key = (device_id, message.channel)
            self._pool.submit(key, lambda: self.bridge.close_channel(device_id, message.channel))

    def _within_rate(self, session: Session, device_id: str) -> bool:
        try:
            hit_device(session, device_id, limit=self.rate_limit, window_s=self.rate_window_s)
        except RateLimitError:
            return False
        return True

    # ------------------------------------------------------------ logs and reports

    def _store_logs(self, device_id: str, batch: msg.LogBatch) -> None:
        received = utcnow()
        records = []
        undated = 0
        for record in batch.records:
            age_us = None if batch.sent_micros is None else batch.sent_micros - record.micros
            logged = logs.device_log_time(received, unix_micros=record.unix_micros, age_us=age_us)
            undated += logged is None
            records.append(
                logs.LogRecord(
                    message=record.text.decode("utf-8", errors="replace"),
                    seq=record.seq,
                    date_logged=logged,
                )
            )
        if undated:
            log.debug("Date logs by receive time (device=%s, count=%d)", device_id, undated)
        try:
            with session_scope(self.sessions) as session:
                logs.append_logs(session, device_id, records, received=received)
        except CloudError as exc:
            log.warning(
                "Drop logs of unknown device (device=%s, count=%d, error=%s)",
                device_id,
                len(records),
                exc,
            )

    def _store_report(self, device_id: str, report: msg.Report) -> None:
        try:
            with session_scope(self.sessions) as session:
                if report.report_kind == "crash":
                    reports.record_crash(
                        session,
                        device_id,
                        dict(report.body),
                        app_sid=self._app_of_crash(session, device_id, report.body),
                    )
                elif report.report_kind == "update":
                    self._store_update(session, device_id, report.body)
                else:
                    log.warning(
                        "Drop report of unknown kind (device=%s, kind=%s)",
                        device_id,
                        report.report_kind,
                    )
        except CloudError as exc:
            log.warning(
                "Drop report (device=%s, kind=%s, error=%s)", device_id, report.report_kind, exc
            )

    def _store_update(self, session: Session, device_id: str, body: dict[str, Any]) -> None:
        outcome = UPDATE_OUTCOMES.get(str(body.get("status", "")))
        if outcome is None:
            log.warning(
                "Drop update report with unknown status (device=%s, status=%s)",
                device_id,
                body.get("status"),
            )
            return
        app_sid = self._app_of_update(session, device_id, body)
        deployments.record_update_outcome(
            session,
            device_id,
            app_sid=app_sid,
            outcome=outcome,
            error_code=int(body.get("error_code", 0) or 0),
            detail=str(body.get("message", "") or body.get("reason", "")),
        )

    @staticmethod
    def _app_of_crash(session: Session, device_id: str, body: Any) -> str | None:
        """The SID of the crashed app, from the report's ``app_id`` (the bundle's id)."""
        app_sid = body.get("app_sid")
        if isinstance(app_sid, str) and app_sid:
            return app_sid
        app_id = str(body.get("app_id", "") or "").lower()
        if not app_id:
            return None
        device = devices.get_device_by_sid(session, device_id)
        matches = list(
            session.scalars(
                select(App.sid)
                .where(App.account_sid == device.account_sid, App.hash == "sha256:" + app_id)
                .order_by(App.date_created)
            )
        )
        # The same bundle may be uploaded more than once, so the device's own apps come first.
        for known in (device.reported_app_sid, device.target_app_sid):
            if known in matches:
                return known
        return matches[-1] if matches else None

    @staticmethod
    def _app_of_update(session: Session, device_id: str, body: dict[str, Any]) -> str | None:
        deployment_sid = str(body.get("deployment_sid", ""))
        if deployment_sid:
            deployment = session.get(Deployment, deployment_sid)
            if deployment is not None:
                return deployment.app_sid
        app_id = str(body.get("app_id", ""))
        device = devices.get_device_by_sid(session, device_id)
        if app_id:
            app = session.scalar(
                select(App).where(
                    App.account_sid == device.account_sid,
                    App.hash.in_([app_id, "sha256:" + app_id]),
                )
            )
            if app is not None:
                return app.sid
        return device.target_app_sid

    # ------------------------------------------------------------ hello and commands

    def _welcome(self, device_id: str, hello: msg.Hello) -> None:
        try:
            with session_scope(self.sessions) as session:
                devices.get_device_by_sid(session, device_id)
                devices.touch_device(session, device_id)
        except CloudError as exc:
            log.warning("Ignore hello of unknown device (device=%s, error=%s)", device_id, exc)
            return
        self.link.send(
            device_id,
            msg.Welcome(
                unix_micros=time.time_ns() // 1000,
                # The Device resource's LoggingEnabled period governs the live
                # log view, not whether the app may log. Only an explicit
                # LoggingEnabled=false (a logctl message) stops the app's logs.
                logging_enabled=True,
                signing_keys_pem=self._signing_keys(),
            ),
        )
        self.deliver_commands(device_id)

    def _signing_keys(self) -> tuple[str, ...]:
        point = getattr(self.signer, "public_point", None)
        if not isinstance(point, bytes):
            return ()
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return (pem.decode(),)

    def _on_command(self, device_id: str) -> None:
        def deliver() -> None:
            self.deliver_commands(device_id)

        self._pool.submit((device_id, "commands"), deliver)

    def deliver_commands(self, device_id: str) -> int:
        """Send the device's undelivered commands if it is online; return how many went."""
        sent = 0
        with session_scope(self.sessions) as session:
            try:
                device = devices.get_device_by_sid(session, device_id)
            except CloudError:
                return 0
            if not device.online:
                return 0
            delivered = []
            for command in commands.pending_commands(session, device_id):
                message = self._command_message(session, device_id, command.kind, command.payload)
                if message is not None:
                    self.link.send(device_id, message)
                    sent += 1
                delivered.append(command.id)
            if delivered:
                commands.mark_delivered(session, delivered)
        if sent:
            log.info("Deliver commands (device=%s, count=%d)", device_id, sent)
        return sent

    def _command_message(
        self, session: Session, device_id: str, kind: str, payload_json: str
    ) -> msg.Message | None:
        payload = json.loads(payload_json or "{}")
        if kind == commands.TARGET_APP:
            app_sid = payload.get("app_sid")
            if not app_sid:
                return None
            row = session.scalar(
                select(DeploymentDevice.deployment_sid)
                .join(Deployment, Deployment.sid == DeploymentDevice.deployment_sid)
                .where(
                    DeploymentDevice.device_sid == device_id,
                    Deployment.app_sid == app_sid,
                    DeploymentDevice.status.not_in(deployments.FINAL_STATUSES),
                )
                .order_by(Deployment.date_created.desc())
            )
            return msg.UpdateOffer(
                deployment_sid=row or "",
                bundle_sid=app_sid,
                url=f"{self.public_url}/v1/Apps/{app_sid}/Bundle",
                body={"app_hash": payload.get("hash") or ""},
            )
        if kind == commands.RESTART_APP:
            return msg.RestartRequest(target="app")
        if kind == commands.LOGGING:
            return msg.LoggingControl(enabled=bool(payload.get("enabled", False)))
        return None

    # ------------------------------------------------------------ requests

    def _http(self, device_id: str, request: msg.HttpRequest) -> None:
        with session_scope(self.sessions) as session:
            allowed = self._within_rate(session, device_id)
        if not allowed:
            self.link.send(
                device_id, msg.HttpResponse(channel=request.channel, result=HTTP_REQUEST_FAILED)
            )
            return
        proxy_request = ProxyRequest(
            method=request.method,
            url=request.url,
            headers=[header.decode("latin-1") for header in request.headers],
            body=request.body,
            timeout_ms=request.timeout_ms,
        )
        response = asyncio.run(
            execute_request(proxy_request, self.proxy_policy, device_sid=device_id)
        )
        self.link.send(
            device_id,
            msg.HttpResponse(
                channel=request.channel,
                result=int(response.result),
                status_code=response.status_code,
                headers=tuple(
                    line.encode("latin-1", errors="replace") for line in response.headers
                ),
                body=response.body,
            ),
        )

    def _config(self, device_id: str, request: msg.ConfigFetchRequest) -> None:
        items = [
            configs.FetchItem(
                store=configs.SECRET if key.store == 0 else configs.CONFIG,
                scope="account" if key.scope == 0 else "device",
                key=key.key,
            )
            for key in request.keys
        ]
        try:
            with session_scope(self.sessions) as session:
                if not self._within_rate(session, device_id):
                    raise CloudError(f"device {device_id} is over its rate limit")
                results = configs.fetch_for_device(session, device_id, items, box=self.box)
        except CloudError as exc:
            log.warning("Fail config fetch (device=%s, error=%s)", device_id, exc)
            results = [configs.FetchResult(configs.KeyFetchResult.SERVERERROR) for _ in items]
        self.link.send(
            device_id,
            msg.ConfigFetchResponse(
                channel=request.channel,
                items=tuple(
                    msg.ConfigItem(result=int(result.result), value=(result.value or "").encode())
                    for result in results
                ),
            ),
        )

    # ------------------------------------------------------------ opaque channels

    def _channel_open(self, device_id: str, message: msg.ChannelOpen) -> None:
        if message.channel_type != CHANNEL_OPAQUE:
            return
        if message.endpoint not in self.opaque_endpoints:
            log.info(
                "Close channel to unknown endpoint (device=%s, endpoint=%s)",
                device_id,
                message.endpoint,
            )
            self.link.send(
                device_id,
                msg.ChannelClose(channel=message.channel, reason=CLOSURE_CLOSED_BY_SERVER),
            )
            return
        self._opaque[(device_id, message.channel)] = message.endpoint

    def _channel_data(self, device_id: str, message: msg.ChannelData) -> None:
        endpoint = self._opaque.get((device_id, message.channel))
        handler = self.opaque_endpoints.get(endpoint) if endpoint is not None else None
        if handler is None:
            return
        key = (device_id, message.channel)
        self._pool.submit(key, lambda: handler(self, device_id, message.channel, message.data))

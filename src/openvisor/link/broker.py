"""The embedded MQTT broker used by ``ov up``: amqtt on a free loopback port.

The broker runs on its own asyncio event loop in a background thread and
enforces the device link's rules through two amqtt plugins:

- authentication: the service account logs in with its password. A device
  logs in with its device id as username and a password signed by its
  P-256 key (`openvisor.link.identity.verify_mqtt_password`), which is
  checked against the public key that ``device_key`` returns for it.
- topic access: a device may publish only to its own ``up`` and
  ``presence`` topics, subscribe only to its own ``down`` topics and
  receive nothing else (`openvisor.link.topics`); the service may use
  everything under the prefix.

amqtt 0.12.1 keeps sessions and retained messages in memory only, so they
do not survive a restart of the embedded broker (devices re-announce
presence and resend their outboxes on reconnect). Production deployments
use Mosquitto or another broker with the ACL file from `topics.mosquitto_acl`.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

# amqtt 0.12.1 ships no type information.
from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.contexts import Action, BaseContext  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin  # type: ignore[import-untyped]
from amqtt.session import Session  # type: ignore[import-untyped]

from openvisor.errors import LinkError
from openvisor.link import topics
from openvisor.link.identity import verify_mqtt_password

log = logging.getLogger(__name__)

DeviceKeyLookup = Callable[[str], str | None]


@dataclass
class _Policy:
    prefix: str
    service_username: str
    service_password: str
    device_key: DeviceKeyLookup
    allow_device_password: dict[str, str] = field(default_factory=dict)


# amqtt builds plugins from dotted class paths and dataclass configs, so a
# broker's policy object is found through this table by its key.
_POLICIES: dict[str, _Policy] = {}
_keys = itertools.count(1)


@dataclass
class PolicyConfig:
    """The key of the broker's policy in the policy table."""

    policy: str = ""


def _policy_of(context: BaseContext) -> _Policy:
    # amqtt fills ``context.config`` from the plugin's ``Config`` dataclass.
    return _POLICIES[context.config.policy]


class LinkAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Authenticate the service account and devices (see the module docstring)."""

    Config = PolicyConfig

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._policy = _policy_of(context)

    async def authenticate(self, *, session: Session) -> bool:
        """Return whether the session's username and password are valid."""
        policy = self._policy
        username = session.username or ""
        password = session.password or ""
        if username == policy.service_username:
            ok = hmac.compare_digest(password.encode(), policy.service_password.encode())
        elif not topics.DEVICE_ID_PATTERN.fullmatch(username) or session.client_id != username:
            ok = False
        elif username in policy.allow_device_password:
            ok = hmac.compare_digest(
                password.encode(), policy.allow_device_password[username].encode()
            )
        else:
            public_key = policy.device_key(username)
            ok = public_key is not None and verify_mqtt_password(username, password, public_key)
        if not ok:
            log.warning("Reject broker login (username=%s, client=%s)", username, session.client_id)
        return ok


class LinkTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Confine each device to its own topics (see the module docstring)."""

    Config = PolicyConfig

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._policy = _policy_of(context)

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        """Return whether ``session`` may perform ``action`` on ``topic``."""
        if session is None or topic is None:
            return False
        policy = self._policy
        username = session.username or ""
        if username == policy.service_username:
            return topic.startswith((f"{policy.prefix}/", "$share/"))
        if action == Action.PUBLISH:
            allowed = topics.device_may_publish(policy.prefix, username, topic)
        elif action == Action.SUBSCRIBE:
            allowed = topics.device_may_subscribe(policy.prefix, username, topic)
        else:
            allowed = topic.startswith(f"{policy.prefix}/d/{username}/down/")
        if not allowed:
            log.warning(
                "Reject topic access (username=%s, client=%s, action=%s, topic=%s)",
                username,
                session.client_id,
                action,
                topic,
            )
        return allowed


class _LinkBroker(Broker):  # type: ignore[misc]
    """amqtt's broker with retained messages sent only for permitted subscriptions."""

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        # amqtt 0.12.1 calls this for a subscription the topic plugins refused
        # (SUBACK 0x80), and on every connect for every filter any client holds,
        # which would hand a device other devices' retained presence. Send only
        # for filters this session holds. Asking the topic plugin instead would
        # log a false "Reject topic access" for every filter of other clients,
        # such as the service's wildcards, each time a device connects.
        holders = self._subscriptions.get(subscription[0], [])
        if not any(holder.client_id == session.client_id for holder, _ in holders):
            return
        await super()._publish_retained_messages_for_subscription(subscription, session)


class EmbeddedBroker:
    """An amqtt broker on 127.0.0.1 with the link's authentication and topic rules.

    Example::

        broker = EmbeddedBroker(service_password="s3cret", device_key=keys.get)
        broker.start()
        url = broker.url          # mqtt://127.0.0.1:<free port>
        ...
        broker.stop()
    """

    def __init__(
        self,
        *,
        service_password: str,
        device_key: DeviceKeyLookup,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = topics.DEFAULT_PREFIX,
        service_username: str = topics.SERVICE_USERNAME,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._policy_key = f"broker-{next(_keys)}"
        self._policy = _Policy(prefix, service_username, service_password, device_key)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: _LinkBroker | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The broker's ``mqtt://`` URL (valid after `start`)."""
        return f"mqtt://{self._host}:{self.port}"

    def allow_device_password(self, device_id: str, password: str) -> None:
        """Accept a fixed ``password`` for ``device_id`` (tests, devices without keys)."""
        self._policy.allow_device_password[device_id] = password

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker thread and wait until it listens."""
        _POLICIES[self._policy_key] = self._policy
        self._loop = asyncio.new_event_loop()
        started: Future[int] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="embedded-broker", daemon=True
        )
        self._thread.start()
        try:
            self.port = started.result(timeout)
        except Exception as exc:
            raise LinkError(
                f"embedded MQTT broker failed to start on {self._host}:{self._requested_port} "
                f"({exc}); choose another port"
            ) from exc
        log.info("Start embedded broker (url=%s)", self.url)

    def _config(self) -> dict[str, Any]:
        policy = {"policy": self._policy_key}
        return {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{self._host}:{self._requested_port}"}
            },
            "plugins": {
                f"{__name__}.LinkAuthPlugin": policy,
                f"{__name__}.LinkTopicPlugin": policy,
            },
        }

    def _run(self, started: Future[int]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._broker = _LinkBroker(self._config(), loop=loop)
            loop.run_until_complete(self._broker.start())
            server = self._broker._servers["default"].instance
            port = server.sockets[0].getsockname()[1]
        except Exception as exc:  # noqa: BLE001 - any start failure must reach start()
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(port)
        loop.run_forever()
        loop.close()

    def stop(self) -> None:
        """Shut the broker down and join its thread."""
        loop, broker = self._loop, self._broker
        if loop is None or broker is None or self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(broker.shutdown(), loop)
        try:
            future.result(timeout=10)
        except Exception:
            log.exception("Embedded broker shutdown failed (url=%s)", self.url)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        _POLICIES.pop(self._policy_key, None)
        self._thread = None
        self._broker = None
        log.info("Stop embedded broker (url=%s)", self.url)

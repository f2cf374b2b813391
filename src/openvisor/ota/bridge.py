"""Connects an :class:`~openvisor.ota.OtaManager` to the device link.

Cloud to device: ``UpdateOffer`` starts a deployment, ``UpdateCancel`` drops
one, and ``Welcome`` (the cloud's response to every check-in) marks the device as
checked in and carries the cloud's signing keys, which go into the trust
store. Device to cloud: update reports leave as durable ``Report`` messages
of kind ``"update"``.
"""

from __future__ import annotations

import logging
from typing import Any

from openvisor.bundle import TrustStore, load_public_key_pem
from openvisor.errors import BundleError
from openvisor.link import messages
from openvisor.ota.engine import DeployRequest, OtaManager

log = logging.getLogger(__name__)


def deploy_request(offer: messages.UpdateOffer) -> DeployRequest:
    """Build a :class:`DeployRequest` from an ``UpdateOffer``.

    ``body`` may carry ``app_hash`` (the app id, optionally as ``sha256:<hex>``)
    and ``force`` (install even if this app was rolled back before).
    """
    body: dict[str, Any] = dict(offer.body or {})
    app_hash = str(body.get("app_hash", "") or "")
    return DeployRequest(
        deployment_id=offer.deployment_sid or offer.bundle_sid,
        url=offer.url,
        app_id=app_hash.removeprefix("sha256:").lower(),
        force=bool(body.get("force", False)),
    )


class OtaLinkBridge:
    """Routes update messages between a device link and an OTA manager.

    Example::

        bridge = OtaLinkBridge(ota, link)   # registers its link callbacks
        bridge.send_reports()               # between CPU slices
    """

    def __init__(self, ota: OtaManager, link: Any) -> None:
        self.ota = ota
        self.link = link
        ota.cloud_configured = True
        link.on_message(self._on_message)
        ota.resume()

    def _on_message(self, message: messages.Message) -> None:
        """Handle one cloud message on the link thread."""
        if isinstance(message, messages.UpdateOffer):
            request = deploy_request(message)
            log.info(
                "Accept update offer (deployment=%s, app_id=%s)",
                request.deployment_id,
                request.app_id,
            )
            self.ota.deploy(request)
        elif isinstance(message, messages.UpdateCancel):
            self.ota.cancel(message.deployment_sid)
        elif isinstance(message, messages.Welcome):
            self._trust_cloud_keys(message.signing_keys_pem)
            self.ota.checked_in()

    def _trust_cloud_keys(self, keys_pem: tuple[str, ...]) -> None:
        if not keys_pem or self.ota.trust_is_fixed:
            return
        store = TrustStore.load(self.ota.trust_path)
        added = 0
        for pem in keys_pem:
            try:
                public_key = load_public_key_pem(pem.encode(), source="cloud signing key")
            except BundleError as exc:
                log.warning("Ignore cloud signing key (error=%s)", exc)
                continue
            if public_key not in store.keys.values():
                store.add(public_key, label="cloud")
                added += 1
        if added:
            store.save(self.ota.trust_path)
            log.info("Trust cloud signing keys (added=%d, path=%s)", added, self.ota.trust_path)

    def send_reports(self) -> int:
        """Send pending update reports as durable link messages, and return how many were sent.

        Each report leaves the journal only after the link has stored it in its outbox,
        so a process killed in between sends that report twice rather than never.
        """
        reports = self.ota.peek_reports()
        for report in reports:
            self.link.send(
                messages.Report(
                    report_kind="update", report_id=report.deployment_id, body=report.to_body()
                )
            )
            self.ota.drop_reports(1)
        return len(reports)

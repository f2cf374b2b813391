"""Update messages over the in-memory device link: offer, check-in, trust anchors and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from openvisor.bundle import PrivateKeySigner, TrustStore
from openvisor.link import messages
from openvisor.link.memory import MemoryHub
from openvisor.ota import OtaAction, OtaManager
from openvisor.ota.bridge import OtaLinkBridge, deploy_request
from openvisor.ota.journal import load_journal

DEVICE_ID = "UV" + "1" * 32


def test_offer_body_parsed() -> None:
    offer = messages.UpdateOffer(
        deployment_sid="DP1",
        bundle_sid="KA1",
        url="http://127.0.0.1/b.zip",
        body={"app_hash": "sha256:" + "AB" * 32, "force": True},
    )
    request = deploy_request(offer)
    assert request.deployment_id == "DP1"
    assert request.app_id == "ab" * 32
    assert request.force


def test_bridge_deploys_and_reports(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    signer: PrivateKeySigner,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    hub = MemoryHub()
    service = hub.service_link()
    received: list[messages.Message] = []
    service.on_message(lambda device_id, message: received.append(message))
    service.start()
    link = hub.device_link(DEVICE_ID, state_dir=tmp_path)
    link.start()

    state = tmp_path / "device"
    ota = OtaManager(
        state,
        kernel_version=1,
        background=False,
        http_client=httpx.Client(timeout=10),
    )
    bridge = OtaLinkBridge(ota, link)
    assert ota.cloud_configured

    # The Welcome of a check-in installs the cloud's key in the trust store.
    service.send(DEVICE_ID, messages.Welcome(signing_keys_pem=(signer.public_pem().decode(),)))
    assert signer.public_key in TrustStore.load(state / "trust.json").keys.values()
    ota.install_local(v1.bundle)

    assert ota.select_boot() is not None
    ota.app_started(0)
    url = bundle_server.add("/bundles/v2.zip", v2.bundle)
    service.send(
        DEVICE_ID,
        messages.UpdateOffer(
            deployment_sid="DP7", bundle_sid="KA7", url=url, body={"app_hash": v2.app_id}
        ),
    )
    journal = load_journal(ota.journal_path)
    assert journal.update is not None
    assert journal.update.phase == "staged"
    assert ota.service(0) is OtaAction.RESTART_FOR_UPDATE

    boot = ota.select_boot()
    assert boot is not None
    assert boot.app_id == v2.app_id
    ota.app_started(0)
    ota.service(11_000_000)
    assert load_journal(ota.journal_path).trial is not None  # no check-in since the start yet
    service.send(DEVICE_ID, messages.Welcome())
    ota.service(11_000_001)
    assert load_journal(ota.journal_path).trial is None

    assert bridge.send_reports() == 4
    reports = [m for m in received if isinstance(m, messages.Report)]
    assert [r.body["status"] for r in reports] == ["downloading", "installed", "trial", "confirmed"]
    assert all(r.report_kind == "update" for r in reports)
    assert all(r.report_id == "DP7" for r in reports)
    assert bridge.send_reports() == 0


class _LinkDyingAfter:
    """A device link whose process dies (raises) on the send after ``count`` stored reports.

    A real SIGKILL between the outbox write and the journal update cannot be placed
    from a test at this exact line, so the death is an exception here.
    """

    def __init__(self, link: Any, count: int) -> None:
        self._link = link
        self._left = count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._link, name)

    def send(self, message: messages.Message) -> bool:
        if self._left == 0:
            raise RuntimeError("power cut")
        self._left -= 1
        return bool(self._link.send(message))


def test_reports_survive_death_mid_send(
    tmp_path: Path,
    bundle_server: Any,
    app_versions: dict[str, Any],
    signer: PrivateKeySigner,
) -> None:
    v1, v2 = app_versions["v1"], app_versions["v2"]
    hub = MemoryHub()
    service = hub.service_link()
    received: list[messages.Message] = []
    service.on_message(lambda device_id, message: received.append(message))
    service.start()
    link = hub.device_link(DEVICE_ID, state_dir=tmp_path)
    link.start()
    ota = OtaManager(
        tmp_path / "device",
        kernel_version=1,
        background=False,
        http_client=httpx.Client(timeout=10),
    )
    bridge = OtaLinkBridge(ota, link)
    service.send(DEVICE_ID, messages.Welcome(signing_keys_pem=(signer.public_pem().decode(),)))
    ota.install_local(v1.bundle)
    assert ota.select_boot() is not None
    ota.app_started(0)
    url = bundle_server.add("/bundles/v2.zip", v2.bundle)
    ota.deploy(
        deploy_request(
            messages.UpdateOffer(
                deployment_sid="DP8", bundle_sid="KA8", url=url, body={"app_hash": v2.app_id}
            )
        )
    )
    assert len(ota.peek_reports()) == 2  # downloading, installed

    dying = OtaLinkBridge(ota, _LinkDyingAfter(link, count=1))
    try:
        dying.send_reports()
    except RuntimeError:
        pass
    else:
        raise AssertionError("the link did not die mid-send")

    # The first report reached the outbox; the second is still in the journal.
    remaining = [report.status.value for report in ota.peek_reports()]
    assert remaining == ["installed"]

    assert bridge.send_reports() == 1
    statuses = [m.body["status"] for m in received if isinstance(m, messages.Report)]
    assert statuses == ["downloading", "installed"]

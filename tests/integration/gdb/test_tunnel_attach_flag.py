"""The network reasons include DEBUGGERATTACHED before GDB receives the first tunnel reply.

The in-memory link delivers each device frame to the service on the device's
own thread, at the moment the device sends it. So the callback here samples
the kernel state exactly when the stop reply leaves the device, which makes
the ordering deterministic instead of a race against the device loop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from openvisor.bundle import ManifestOptions, create_bundle
from openvisor.device.device import Device
from openvisor.device.image import AppImage
from openvisor.gdb.packets import encode_packet
from openvisor.gdb.tunnel import PLAIN_ATTACH, PLAIN_DETACH, PLAIN_RSP, ClientTunnel, public_point
from openvisor.kernel.abi import MvNetworkReason
from openvisor.kernel.net.state import NetState
from openvisor.link.identity import DeviceIdentity
from openvisor.link.memory import MemoryHub
from openvisor.link.messages import DebugFrame, Message

APP = "g_debug"
SESSION = "DS" + "a" * 32
MAX_STEPS = 200


def test_attach_flag_precedes_first_reply(tmp_path: Path, firmware: Callable[[str], Path]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    bundle = create_bundle(firmware(APP), ManifestOptions(debug_auth_pubkey=public_point(key)))
    image = AppImage.from_bundle(bundle, name=APP, allow_unsigned=True)
    state_dir = tmp_path / "device"
    identity = DeviceIdentity.load_or_create(state_dir)
    hub = MemoryHub()
    service = hub.service_link()
    link = hub.device_link(identity.device_id, state_dir=state_dir)
    device = Device(state_dir, image=image, link=link)

    frames: list[bytes] = []
    # (plaintext kind, network reasons) of each sealed frame, sampled when the device sends it.
    sampled: list[tuple[int, int]] = []
    client = ClientTunnel(key)

    def on_frame(_device_id: str, message: Message) -> None:
        if not isinstance(message, DebugFrame) or not message.data:
            return
        frames.append(message.data)
        if len(frames) < 3:
            return
        plaintext = client.open(message.data)
        reasons = device.kernel.family_state(NetState).reasons()
        sampled.append((plaintext[0] if plaintext else -1, int(reasons)))

    service.on_message(on_frame)
    service.start()
    link.start()
    device.boot()

    def send(data: bytes) -> None:
        service.send(identity.device_id, DebugFrame(session=SESSION, data=data))

    def step_until(condition: Callable[[], bool]) -> None:
        for _ in range(MAX_STEPS):
            if condition():
                return
            device.step()
        raise AssertionError(f"device sent no reply within {MAX_STEPS} slices")

    send(client.hello())
    step_until(lambda: len(frames) >= 1)
    send(client.finish(frames[0]))
    step_until(lambda: len(frames) >= 2)
    client.confirm(frames[1])

    send(client.seal(bytes([PLAIN_ATTACH])))
    send(client.seal(bytes([PLAIN_RSP]) + encode_packet(b"?")))
    step_until(lambda: any(kind == PLAIN_RSP for kind, _ in sampled))

    first_kind, first_reasons = sampled[0]
    assert first_kind == PLAIN_RSP
    assert first_reasons & MvNetworkReason.DEBUGGERATTACHED, hex(first_reasons)

    send(client.seal(bytes([PLAIN_DETACH])))
    step_until(lambda: not device.debugger.attached)
    reasons = device.kernel.family_state(NetState).reasons()
    assert not reasons & MvNetworkReason.DEBUGGERATTACHED, hex(reasons)
    link.stop()

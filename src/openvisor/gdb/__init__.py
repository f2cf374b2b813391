"""GDB remote stub for the application core, and the encrypted debug tunnel.

Layers: ``packets`` (RSP framing, acks, interrupt byte), ``commands`` (the
command table), ``target`` (register and memory view, target description,
fault signals), ``machine_target`` (the view over the emulator), ``session``
and ``attach`` (servicing GDB on the device's emulation thread), ``tunnel``
(ECDH + HKDF + AES-GCM frames), ``remote`` (the device's end of the tunnel)
and ``proxy`` (``ov debug``'s end).
"""

from openvisor.gdb.attach import DeviceDebugger, LocalGdbServer, serve_local

__all__ = ["DeviceDebugger", "LocalGdbServer", "serve_local"]

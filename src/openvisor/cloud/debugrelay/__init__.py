"""The cloud's debug relay: WebSocket sessions that carry debug-tunnel ciphertext to devices."""

from openvisor.cloud.debugrelay.relay import DebugRelay
from openvisor.cloud.debugrelay.router import create_router

__all__ = ["DebugRelay", "create_router"]

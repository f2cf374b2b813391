"""The relay's WebSocket route, for the cloud app to include."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from openvisor.cloud.debugrelay.relay import DebugRelay


def create_router(relay: DebugRelay) -> APIRouter:
    """Build the router with ``/v1/Devices/{device}/Debug`` bound to ``relay``."""
    router = APIRouter()

    @router.websocket("/v1/Devices/{device}/Debug")
    async def debug_socket(websocket: WebSocket, device: str) -> None:
        """Relay one encrypted debug session between `ov debug` and the device."""
        await relay.serve(websocket, device)

    return router

"""`ov debug DEVICE --key PRIVATE.pem`: a local GDB port tunnelled to a device through the cloud."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from openvisor.cli.context import EXIT_UNREACHABLE, fail, state_of
from openvisor.errors import DebugAuthError, DebugError
from openvisor.gdb.proxy import DebugProxy, ProxyOptions
from openvisor.gdb.tunnel import load_private_key


def register(app: typer.Typer) -> None:
    """Add `ov debug`."""
    app.command("debug")(debug)


def debug(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="Device SID (UV...) or unique name.")],
    key: Annotated[
        Path,
        typer.Option(
            "--key",
            metavar="PRIVATE.pem",
            help="PEM P-256 private key whose public key is the bundle's debug_auth_pubkey.",
        ),
    ],
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, help="Loopback TCP port GDB connects to (0: any free)."
        ),
    ] = 8001,
) -> None:
    """Debug a device's application with GDB through an end-to-end encrypted tunnel.

    Then, in another terminal: gdb-multiarch app.elf -ex "target remote :PORT".
    """
    state = state_of(ctx)
    settings = state.settings
    if not settings.has_credentials or settings.api_key is None or settings.api_secret is None:
        raise settings.missing_key_error()
    try:
        pem = key.read_bytes()
    except OSError as exc:
        fail(
            f"cannot read debugging key {key}: {exc.strerror or exc}",
            hint="pass the private key whose public key went into the bundle "
            "(`ov bundle create APP.elf OUT.zip --debug-auth-pubkey PUBLIC.pem`)",
        )
    options = ProxyOptions(
        api_url=settings.api_url,
        device=device,
        key_sid=settings.api_key,
        key_secret=settings.api_secret,
        private_key=load_private_key(pem, key),
        port=port,
    )
    console = state.console
    try:
        asyncio.run(_run(options, console))
    except DebugAuthError as exc:
        fail(
            str(exc),
            hint="use the private key that matches the bundle's debug_auth_pubkey, and an "
            "API key of the account that owns the device",
        )
    except DebugError as exc:
        # A refused or failed connection (OSError) means the cloud is not reachable,
        # which every `ov` command reports with the same exit status.
        if isinstance(exc.__cause__, OSError):
            fail(
                str(exc),
                hint="start a local cloud with `ov up` in another terminal, or point ov at a "
                "running one with --api-url URL",
                code=EXIT_UNREACHABLE,
            )
        raise
    except KeyboardInterrupt:
        console.print("Debug session ended.")


async def _run(options: ProxyOptions, console: Console) -> None:
    proxy = DebugProxy(options)
    with console.status(f"Opening an encrypted debug session with {options.device}..."):
        await proxy.open()
    console.print(
        f"Debug session [bold]{proxy.status.session_sid}[/] with {options.device} is open "
        "(end-to-end encrypted)."
    )
    console.print(
        f"Connect GDB: gdb-multiarch APP.elf -ex 'target remote 127.0.0.1:{proxy.status.port}'"
    )
    console.print("Press Ctrl-C to end the session.")
    proxy.on_event = lambda text: console.print(text)
    try:
        await proxy.serve_forever()
    finally:
        await proxy.close()

"""`ov keys generate`: P-256 key pairs for signing bundles and for remote debugging."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from openvisor.bundle import PrivateKeySigner, key_id
from openvisor.errors import ConfigError

keys_app = typer.Typer(help="Create signing and debugging key pairs.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `ov keys`."""
    app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def generate(
    name: Annotated[
        Path,
        typer.Argument(
            metavar="NAME",
            help="Path prefix: writes NAME.pem (private key) and NAME.pub.pem (public key).",
        ),
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
) -> None:
    """Create a NIST P-256 key pair in PEM files (for --sign-key or --debug-auth-pubkey)."""
    private_path = name.with_name(name.name + ".pem")
    public_path = name.with_name(name.name + ".pub.pem")
    for path in (private_path, public_path):
        if path.exists() and not force:
            raise ConfigError(f"{path} already exists; pass --force to overwrite it")
    signer = PrivateKeySigner.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    # The private key file is readable by its owner only.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(signer.private_pem())
    public_path.write_bytes(signer.public_pem())
    console = Console()
    console.print(f"Wrote {private_path} (private key, keep it secret)", highlight=False)
    console.print(f"Wrote {public_path} (public key)", highlight=False)
    console.print(f"key id {key_id(signer.public_key):016x}", highlight=False)

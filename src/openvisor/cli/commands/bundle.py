"""`ov bundle APP.elf OUT.zip` and `ov bundle inspect OUT.zip`: build and examine bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from openvisor.bundle import (
    ManifestOptions,
    PrivateKeySigner,
    TrustStore,
    create_bundle,
    load_public_key_pem,
    parse_manifest,
    read_bundle_file,
    verify_bundle,
)
from openvisor.bundle.verify import check_layers
from openvisor.errors import BundleError


class _BuildByDefault(TyperGroup):
    """A group whose arguments go to its ``create`` command unless they name a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Insert ``create`` in front of arguments that do not start with a command name."""
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


bundle_app = typer.Typer(
    cls=_BuildByDefault,
    help="Build an application bundle from an ELF (`ov bundle APP.elf OUT.zip`) or inspect one.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add `ov bundle`."""
    app.add_typer(bundle_app, name="bundle")


def _read_key(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return load_public_key_pem(path.read_bytes(), source=str(path))
    except OSError as exc:
        raise BundleError(f"cannot read key file {path}: {exc}") from exc


@bundle_app.command("create")
def create(
    elf: Annotated[Path, typer.Argument(metavar="APP.elf", help="Application ELF to bundle.")],
    out: Annotated[Path, typer.Argument(metavar="OUT.zip", help="Bundle file to write.")],
    debug_auth_pubkey: Annotated[
        Path | None,
        typer.Option(
            metavar="PEM", help="P-256 public key (PEM) allowed to debug the app remotely."
        ),
    ] = None,
    sign_key: Annotated[
        Path | None,
        typer.Option(
            metavar="PEM",
            help="P-256 private key (PEM) to sign the manifest with; unsigned bundles are signed "
            "by the cloud at upload.",
        ),
    ] = None,
    minimum_kernel_version: Annotated[
        int, typer.Option(help="Oldest kernel version that may run it.")
    ] = 0,
    connection_grace_time: Annotated[
        int,
        typer.Option(
            metavar="S", help="Seconds the app may run before it must connect (trial time too)."
        ),
    ] = 0,
    minimum_check_in_time: Annotated[
        int,
        typer.Option(metavar="S", help="Seconds between check-ins; 0 keeps the device connected."),
    ] = 0,
    maximum_politeness_time: Annotated[
        int,
        typer.Option(
            metavar="S",
            help="Seconds the app may delay an update after UPDATEDOWNLOADED; 0 applies updates "
            "at once.",
        ),
    ] = 0,
    crash_min_restart_ms: Annotated[
        int,
        typer.Option(
            metavar="N", help="Milliseconds to wait before restarting the app after a crash."
        ),
    ] = 0,
    crash_max_restart_ms: Annotated[
        int,
        typer.Option(
            metavar="N", help="Upper bound in milliseconds of the crash restart back-off."
        ),
    ] = 0,
    crash_report_pubkey: Annotated[
        Path | None,
        typer.Option(metavar="PEM", help="P-256 public key (PEM) to encrypt crash reports to."),
    ] = None,
    crash_include_stack_bytes: Annotated[
        int, typer.Option(metavar="N", help="Bytes of the stack to include in crash reports.")
    ] = 0,
) -> None:
    """Build a bundle from an application ELF."""
    options = ManifestOptions(
        debug_auth_pubkey=_read_key(debug_auth_pubkey),
        minimum_kernel_version=minimum_kernel_version,
        connection_grace_time_sec=connection_grace_time,
        minimum_check_in_time_sec=minimum_check_in_time,
        maximum_politeness_time_sec=maximum_politeness_time,
        crash_minimum_restart_ms=crash_min_restart_ms,
        crash_maximum_restart_ms=crash_max_restart_ms,
        crash_report_pubkey=_read_key(crash_report_pubkey),
        crash_include_stack_bytes=crash_include_stack_bytes,
    )
    signer = PrivateKeySigner.from_pem_file(sign_key) if sign_key is not None else None
    data = create_bundle(elf, options, signer=signer)
    try:
        out.write_bytes(data)
    except FileNotFoundError as exc:
        raise BundleError(
            f"cannot write bundle {out}: folder {out.parent} does not exist; "
            "create it first or choose another OUT.zip"
        ) from exc
    except OSError as exc:
        raise BundleError(
            f"cannot write bundle {out}: {exc.strerror or exc}; choose a writable OUT.zip path"
        ) from exc
    manifest = parse_manifest(read_bundle_file(out).manifest)
    console = Console()
    console.print(f"Wrote {out} ({len(data)} bytes)")
    console.print(f"app id  {manifest.app_id}")
    console.print(f"signer  {_signer_text(manifest.signer_id)}")


def _signer_text(signer_id: int) -> str:
    return f"{signer_id:016x}" if signer_id else "unsigned (the cloud signs it at upload)"


def _inspect_data(path: Path, trust_file: Path | None) -> dict[str, Any]:
    contents = read_bundle_file(path)
    manifest = parse_manifest(contents.manifest)
    check_layers(manifest, contents.layers)
    signature = "unsigned"
    if manifest.signed:
        if trust_file is None:
            signature = "not checked (pass --trust-key PEM to check it)"
        else:
            trust = TrustStore()
            trust.add(load_public_key_pem(trust_file.read_bytes(), source=str(trust_file)))
            verify_bundle(contents, trust=trust)
            signature = "valid"
    return {
        "app_id": manifest.app_id,
        "signer": _signer_text(manifest.signer_id),
        "signature": signature,
        "manifest_size": len(contents.manifest),
        "layers": [
            {
                "target": f"{layer.region_kind} start=0x{layer.start:x} size=0x{layer.size:x}",
                "fetch_hash": layer.fetch_hash.hex(),
                "measurement_hash": layer.measurement_hash.hex(),
                "size": len(contents.layers.get(layer.fetch_hash.hex(), b"")),
            }
            for layer in manifest.layers
        ],
        "debug_auth_pubkey": manifest.debug_auth_pubkey.hex() or "-",
        "minimum_kernel_version": manifest.minimum_kernel_version,
        "connection_grace_time_sec": manifest.connection_grace_time_sec,
        "minimum_check_in_time_sec": manifest.minimum_check_in_time_sec,
        "maximum_politeness_time_sec": manifest.maximum_politeness_time_sec,
        "crash": {
            key: value.hex() if isinstance(value, bytes) else value
            for key, value in manifest.crash.items()
        }
        or "-",
    }


@bundle_app.command("inspect")
def inspect(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE.zip", help="Bundle file to examine.")],
    trust_key: Annotated[
        Path | None,
        typer.Option(
            metavar="PEM", help="Public key (PEM) to check the manifest signature against."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of text.")
    ] = False,
) -> None:
    """Show a bundle's manifest fields, layers, hashes and signer, after checking its layers."""
    info = _inspect_data(bundle, trust_key)
    console = Console()
    if json_output:
        from openvisor.cli.output import print_json

        print_json(console, info)
        return
    for key, value in info.items():
        if key == "layers":
            for index, layer in enumerate(value):
                console.print(f"layer {index}", highlight=False)
                for layer_key, layer_value in layer.items():
                    console.print(
                        f"  {layer_key:<18} {layer_value}", highlight=False, soft_wrap=True
                    )
        else:
            console.print(f"{key:<28} {value}", highlight=False, soft_wrap=True)

"""`ov apps upload|list|inspect|delete`: application bundles stored in the cloud."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from openvisor.cli import symbols
from openvisor.cli.context import CliState, fail, state_of
from openvisor.cli.output import format_bytes, print_json, table
from openvisor.errors import BundleError

apps_app = typer.Typer(help="Upload, list and inspect application bundles.", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")
ELF_MAGIC = b"\x7fELF"
ZIP_MAGIC = b"PK\x03\x04"


def register(app: typer.Typer) -> None:
    """Add `ov apps`."""
    app.add_typer(apps_app, name="apps")


@dataclass(frozen=True)
class LoadedBundle:
    """Bundle bytes ready to upload, with the ELF they came from when known."""

    data: bytes
    app_id: str
    elf: Path | None


def load_bundle(path: Path) -> LoadedBundle:
    """Read a bundle file, or build an unsigned bundle from an ELF (the cloud signs it)."""
    from openvisor.bundle import ManifestOptions, create_bundle

    try:
        head = path.read_bytes()[:4]
    except FileNotFoundError:
        fail(f"file not found: {path}", hint="pass a bundle (.zip) or an application ELF")
    except OSError as exc:
        fail(f"cannot read {path}: {exc}")
    if head == ELF_MAGIC:
        data = create_bundle(path, ManifestOptions())
        elf: Path | None = path
    elif head == ZIP_MAGIC:
        data = path.read_bytes()
        elf = None
    else:
        fail(
            f"{path} is neither an ELF nor a bundle zip (starts with {head.hex()})",
            hint="build a bundle with `ov bundle APP.elf OUT.zip` or pass the ELF itself",
        )
    try:
        app_id = symbols.app_id_of_bundle(data)
    except BundleError as exc:
        fail(f"{path} is not a valid bundle: {exc}")
    if elf is not None:
        symbols.remember(elf, app_id)
    return LoadedBundle(data=data, app_id=app_id, elf=elf)


def app_names(client: Any) -> dict[str, str | None]:
    """Map each of the account's app SIDs to its unique name (None when it has none)."""
    return {record["sid"]: record["unique_name"] for record in client.list_apps()}


def free_app_name(client: Any, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... when an app already has that unique name."""
    taken = {name for name in app_names(client).values() if name}
    name, number = stem, 1
    while name in taken:
        number += 1
        name = f"{stem}-{number}"
    return name


def upload(state: CliState, path: Path, unique_name: str | None) -> Any:
    """Upload a bundle or ELF and return the created app record."""
    bundle = load_bundle(path)
    with state.console.status(f"Uploading {path.name} ({format_bytes(len(bundle.data))})..."):
        return state.client().upload_bundle(bundle.data, unique_name=unique_name)


@apps_app.command("upload")
def apps_upload(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="Bundle zip, or an application ELF to bundle first."),
    name: str | None = typer.Option(None, "--name", "-n", help="Unique name for the app."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Upload an app; the cloud signs unsigned bundles with the account's key."""
    state = state_of(ctx)
    app = upload(state, path, name)
    if as_json:
        print_json(state.console, app)
        return
    state.console.print(f"Uploaded app [bold]{app['sid']}[/] (hash {app['hash']}).")


@apps_app.command("list")
def apps_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List uploaded apps."""
    state = state_of(ctx)
    apps = list(state.client().list_apps())
    if as_json:
        print_json(state.console, apps)
        return
    rows = ((a["sid"], a["unique_name"], a["hash"], a["date_created"]) for a in apps)
    columns = ("SID", "NAME", "HASH", "CREATED")
    state.console.print(table("Apps", columns, rows, empty="no apps uploaded"))


def describe_manifest(raw: bytes) -> list[tuple[str, Any]]:
    """Return (field, value) rows describing a manifest."""
    from openvisor.bundle import parse_manifest

    manifest = parse_manifest(raw)
    rows: list[tuple[str, Any]] = [
        ("app id", manifest.app_id),
        ("signer id", f"{manifest.signer_id:016x}" if manifest.signed else "unsigned"),
        ("debuggable", manifest.debuggable or bool(manifest.debug_auth_pubkey)),
        ("minimum kernel version", manifest.minimum_kernel_version),
        ("politeness time", f"{manifest.maximum_politeness_time_sec} s"),
        ("connection grace time", f"{manifest.connection_grace_time_sec} s"),
        ("minimum check-in time", f"{manifest.minimum_check_in_time_sec} s"),
    ]
    for key, value in sorted(manifest.crash.items()):
        rows.append((f"crash {key}", value))
    for index, layer in enumerate(manifest.layers):
        rows.append(
            (
                f"layer {index}",
                (
                    f"{layer.region_kind} 0x{layer.start:08x}+0x{layer.size:x} "
                    f"fetch {layer.fetch_hash.hex()[:16]}…"
                ),
            )
        )
    return rows


@apps_app.command("inspect")
def apps_inspect(
    ctx: typer.Context,
    app: str = typer.Argument(
        ..., help="App SID or unique name in the cloud, or a local bundle/ELF path."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show an app's manifest: signer, policies and layers."""
    from openvisor.bundle import read_bundle

    state = state_of(ctx)
    local = Path(app)
    if local.exists():
        raw = read_bundle(load_bundle(local).data).manifest
        title = f"Bundle {local}"
        record: Any = None
    else:
        client = state.client()
        record = client.get_app(app)
        raw = base64.b64decode(client.get_manifest(record["sid"])["encoded_bytes"])
        title = f"App {record['sid']}"
    rows = describe_manifest(raw)
    if record is not None:
        rows[:0] = [
            ("sid", record["sid"]),
            ("unique name", record["unique_name"]),
            ("hash", record["hash"]),
        ]
    if as_json:
        print_json(state.console, {str(k): v for k, v in rows})
        return
    state.console.print(table(title, ("FIELD", "VALUE"), rows))


@apps_app.command("delete")
def apps_delete(
    ctx: typer.Context, app: str = typer.Argument(..., help="App SID or unique name.")
) -> None:
    """Delete an app that no device targets."""
    state = state_of(ctx)
    state.client().delete_app(app)
    state.console.print(f"Deleted app {app}.")

"""`ov config` and `ov secret`: values apps fetch with mvSendConfigFetchRequest.

Both live at account scope, or at device scope with ``--device``; a
device-scope key overrides the account key of the same name for that device.
Secret values are write-only: the cloud never returns them and these
commands never print them.
"""

from __future__ import annotations

import sys

import typer

from openvisor.cli.context import fail, is_interactive, state_of
from openvisor.cli.output import print_json, table

config_app = typer.Typer(
    help="Set and read configuration values that apps fetch (account or device scope).",
    no_args_is_help=True,
)
secret_app = typer.Typer(
    help="Store secrets that apps fetch; values are never shown again.",
    no_args_is_help=True,
)

DEVICE_OPTION = typer.Option(
    None,
    "--device",
    "-d",
    metavar="DEVICE",
    help="Device SID or unique name for device scope; account scope when omitted.",
    show_default=False,
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


def register(app: typer.Typer) -> None:
    """Add `ov config` and `ov secret`."""
    app.add_typer(config_app, name="config")
    app.add_typer(secret_app, name="secret")


def _scope(device: str | None) -> str:
    return f"device {device}" if device else "account"


@config_app.command("set")
def config_set(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Config key (up to 100 characters)."),
    value: str = typer.Argument(..., help="Value (up to 4096 characters of text)."),
    device: str | None = DEVICE_OPTION,
) -> None:
    """Create or replace a config value."""
    state = state_of(ctx)
    state.client().set_config(key, value, device=device)
    state.console.print(f"Set config {key!r} ({_scope(device)}).")


@config_app.command("get")
def config_get(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Config key."),
    device: str | None = DEVICE_OPTION,
) -> None:
    """Print one config value (just the value, for scripts)."""
    state = state_of(ctx)
    entries = state.client().list_configs(device=device)
    entry = next((e for e in entries if e["key"] == key), None)
    if entry is None:
        fail(f"config {key!r} not found ({_scope(device)})", hint="list keys with `ov config list`")
    typer.echo(entry["value"])


@config_app.command("list")
def config_list(
    ctx: typer.Context, device: str | None = DEVICE_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """List config keys and values."""
    state = state_of(ctx)
    entries = list(state.client().list_configs(device=device))
    if as_json:
        print_json(state.console, entries)
        return
    rows = ((e["key"], e["value"], e["date_updated"]) for e in entries)
    title = f"Configs ({_scope(device)})"
    state.console.print(table(title, ("KEY", "VALUE", "UPDATED"), rows, empty="no configs"))


@config_app.command("delete")
def config_delete(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Config key."),
    device: str | None = DEVICE_OPTION,
) -> None:
    """Delete a config value."""
    state = state_of(ctx)
    state.client().delete_config(key, device=device)
    state.console.print(f"Deleted config {key!r} ({_scope(device)}).")


def _read_secret(key: str, value_stdin: bool) -> str:
    """Read a secret value without echoing it: from standard input or a hidden prompt."""
    if value_stdin or not is_interactive():
        value = sys.stdin.read()
        # One trailing newline comes from `echo` or a heredoc, not from the secret.
        value = value.removesuffix("\n").removesuffix("\r")
    else:
        value = typer.prompt(f"Value of secret {key!r}", hide_input=True, confirmation_prompt=True)
    if not value:
        fail(f"empty value for secret {key!r}: pass a value on standard input or at the prompt")
    return value


@secret_app.command("set")
def secret_set(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Secret key (up to 100 characters)."),
    device: str | None = DEVICE_OPTION,
    value_stdin: bool = typer.Option(
        False,
        "--stdin",
        help="Read the value from standard input (the default when input is not a terminal).",
    ),
) -> None:
    """Create or replace a secret; the value is read from a hidden prompt or standard input."""
    state = state_of(ctx)
    value = _read_secret(key, value_stdin)
    state.client().set_secret(key, value, device=device)
    state.console.print(f"Set secret {key!r} ({_scope(device)}); the value is not shown again.")


@secret_app.command("list")
def secret_list(
    ctx: typer.Context, device: str | None = DEVICE_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """List secret keys and when each was last set (never the values)."""
    state = state_of(ctx)
    entries = list(state.client().list_secrets(device=device))
    if as_json:
        print_json(state.console, entries)
        return
    rows = ((e["key"], e["date_rotated"]) for e in entries)
    title = f"Secrets ({_scope(device)})"
    state.console.print(table(title, ("KEY", "LAST SET"), rows, empty="no secrets"))


@secret_app.command("delete")
def secret_delete(
    ctx: typer.Context,
    key: str = typer.Argument(..., help="Secret key."),
    device: str | None = DEVICE_OPTION,
) -> None:
    """Delete a secret."""
    state = state_of(ctx)
    state.client().delete_secret(key, device=device)
    state.console.print(f"Deleted secret {key!r} ({_scope(device)}).")

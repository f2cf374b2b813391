"""`ov auth`: API keys for the cloud and the profile that stores them.

API keys authenticate REST calls (HTTP Basic, key SID and secret). They
are unrelated to the signing and debugging key pairs of `ov keys`.
"""

from __future__ import annotations

import typer

from openvisor.cli.context import fail, state_of
from openvisor.cli.output import print_json, table
from openvisor.cli.profile import ProfileFile, validate_api_url

auth_app = typer.Typer(
    help="Log in to a cloud, show the active credentials and manage API keys.",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="Create, list and revoke API keys of the account.", no_args_is_help=True
)
auth_app.add_typer(keys_app, name="keys")


def register(app: typer.Typer) -> None:
    """Add `ov auth`."""
    app.add_typer(auth_app, name="auth")


@auth_app.command("login")
def login(
    ctx: typer.Context,
    key: str = typer.Option(
        ...,
        "--key",
        metavar="SID:SECRET",
        prompt="API key (SID:SECRET)",
        hide_input=True,
        help="API key or account credentials as SID:SECRET.",
    ),
    api_url: str | None = typer.Option(
        None, "--url", metavar="URL", help="Cloud base URL; the current one when omitted."
    ),
    profile: str | None = typer.Option(
        None, "--profile", metavar="NAME", help="Profile to write; the current one when omitted."
    ),
) -> None:
    """Check credentials against the cloud and save them in the profile file."""
    state = state_of(ctx)
    sid, _, secret = key.partition(":")
    if not sid or not secret:
        fail("the key must be SID:SECRET, e.g. SK0123...:0f1e...", hint="see `ov auth keys list`")
    url = validate_api_url(api_url) if api_url else state.settings.api_url
    state.reconfigure(api_url=url, api_key=key)
    next(state.client().list_devices(), None)
    stored = ProfileFile.load(state.settings.profile_path)
    name = profile or state.profile or stored.current
    stored.update(name, api_url=url, api_key=sid, api_secret=secret)
    stored.current = name
    stored.save()
    state.console.print(f"Logged in to {url} as {sid}; saved in profile {name!r}.")


@auth_app.command("status")
def status(ctx: typer.Context) -> None:
    """Show which cloud and key `ov` uses, where each came from, and whether they work."""
    state = state_of(ctx)
    settings = state.settings
    rows = [
        ("profile", f"{settings.profile} ({settings.profile_path})"),
        ("api url", f"{settings.api_url} [{settings.sources.get('api_url', 'default')}]"),
        (
            "api key",
            f"{settings.api_key} [{settings.sources['api_key']}]" if settings.api_key else None,
        ),
        ("secret", "set" if settings.api_secret else "missing"),
    ]
    state.console.print(table("Credentials", ("SETTING", "VALUE"), rows))
    next(state.client().list_devices(), None)
    state.console.print(f"[green]The cloud at {settings.api_url} accepts this key.[/]")


@auth_app.command("logout")
def logout(
    ctx: typer.Context,
    profile: str | None = typer.Option(None, "--profile", metavar="NAME", help="Profile to clear."),
) -> None:
    """Remove the stored API key from a profile (the URL stays)."""
    state = state_of(ctx)
    stored = ProfileFile.load(state.settings.profile_path)
    name = profile or state.profile or stored.current
    stored.update(name, api_key=None, api_secret=None)
    stored.save()
    state.console.print(f"Removed the API key from profile {name!r}.")


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: str = typer.Option("", "--name", "-n", help="Friendly name of the key."),
    save: bool = typer.Option(False, "--save", help="Also store the new key in the profile."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON, secret included."),
) -> None:
    """Create an API key; its secret is shown once."""
    state = state_of(ctx)
    key = state.client().create_key(friendly_name=name)
    if save:
        stored = ProfileFile.load(state.settings.profile_path)
        stored.update(
            state.settings.profile,
            api_url=state.settings.api_url,
            api_key=key["sid"],
            api_secret=key["secret"],
        )
        stored.save()
    if as_json:
        print_json(state.console, key)
        return
    state.console.print(f"Created API key [bold]{key['sid']}[/] {name!r}.")
    state.console.print(
        f"Key (the secret is shown once, store it now): {key['sid']}:{key['secret']}"
    )


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List the account's API keys (never their secrets)."""
    state = state_of(ctx)
    keys = state.client().list_keys()
    rows = ((k["sid"], k["friendly_name"], k["date_created"]) for k in keys)
    state.console.print(table("API keys", ("SID", "NAME", "CREATED"), rows, empty="no API keys"))


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, sid: str = typer.Argument(..., help="API key SID (SK...).")
) -> None:
    """Revoke an API key; requests with it fail from now on."""
    state = state_of(ctx)
    state.client().delete_key(sid)
    state.console.print(f"Revoked API key {sid}.")

"""Shared state of one `ov` run: settings, consoles, the cloud client and error output."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from typer._click.core import Context as ClickContext  # typer 0.29 vendors click

from openvisor.cli.profile import Settings, resolve_settings
from openvisor.errors import CloudError, ConfigError, OpenvisorError

if TYPE_CHECKING:
    from openvisor.cloud.client import CloudClient

log = logging.getLogger(__name__)

# Exit statuses of `ov`: 1 for a failed operation, 2 for bad usage (click's own),
# 3 when the cloud cannot be reached, 4 when it rejects the credentials.
EXIT_FAILURE = 1
EXIT_UNREACHABLE = 3
EXIT_UNAUTHORIZED = 4


@dataclass
class CliState:
    """Options given before the command name, kept on the click context."""

    api_url: str | None = None
    api_key: str | None = None
    profile: str | None = None
    verbose: int = 0
    console: Console = field(default_factory=Console)
    err_console: Console = field(default_factory=lambda: Console(stderr=True))
    _settings: Settings | None = None
    _client: CloudClient | None = None

    @property
    def settings(self) -> Settings:
        """The merged settings; resolved once per run."""
        if self._settings is None:
            self._settings = resolve_settings(
                api_url=self.api_url, api_key=self.api_key, profile=self.profile
            )
        return self._settings

    def reconfigure(self, *, api_url: str | None, api_key: str | None) -> None:
        """Replace the connection flags and drop the settings and client built from the old ones."""
        self.close()
        self.api_url = api_url
        self.api_key = api_key
        self._settings = None

    def client(self) -> CloudClient:
        """Return the REST client for the configured cloud, creating it on first use."""
        if self._client is None:
            settings = self.settings
            if not settings.has_credentials:
                raise settings.missing_key_error()
            from openvisor.cloud.client import CloudClient

            assert settings.api_key is not None and settings.api_secret is not None
            self._client = CloudClient(settings.api_url, settings.api_key, settings.api_secret)
        return self._client

    def close(self) -> None:
        """Close the REST client if one was opened."""
        if self._client is not None:
            self._client.close()
            self._client = None


def state_of(ctx: typer.Context) -> CliState:
    """Return the run's state from the click context, creating a default one."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def fail(message: str, *, hint: str | None = None, code: int = EXIT_FAILURE) -> NoReturn:
    """Print an error (and a hint) to standard error and exit with ``code``."""
    err = Console(stderr=True)
    err.print(f"[bold red]Error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    if hint:
        err.print(f"[yellow]Hint:[/] {hint}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def describe_error(exc: OpenvisorError, api_url: str | None) -> tuple[str, str | None, int]:
    """Turn an openvisor error into (message, hint, exit status) for the terminal."""
    if isinstance(exc, CloudError):
        if exc.status == 0:
            where = api_url or "the cloud"
            return (
                f"cannot reach the openvisor cloud at {where}: {exc}",
                (
                    "start a local cloud with `ov up` in another terminal, or point ov at a "
                    "running one with --api-url URL, OPENVISOR_API_URL or `ov auth login`"
                ),
                EXIT_UNREACHABLE,
            )
        if exc.status in (401, 403):
            return (
                f"the cloud at {api_url} rejected the API key: {exc}",
                (
                    "check the key with `ov auth status`; `ov auth login --key SID:SECRET` "
                    "saves a new one"
                ),
                EXIT_UNAUTHORIZED,
            )
    return str(exc), None, EXIT_FAILURE


@contextmanager
def translated_errors(ctx: ClickContext) -> Iterator[None]:
    """Turn openvisor errors raised inside the block into an error line and exit status."""
    try:
        yield
    except OpenvisorError as exc:
        api_url = None
        state = ctx.obj if isinstance(ctx.obj, CliState) else None
        if state is not None:
            try:
                api_url = state.settings.api_url
            except ConfigError:
                api_url = None
        message, hint, code = describe_error(exc, api_url)
        log.debug("Command failed (error=%r)", exc, exc_info=True)
        fail(message, hint=hint, code=code)
    except KeyboardInterrupt:
        Console(stderr=True).print("Interrupted.")
        raise typer.Exit(130) from None


def is_interactive() -> bool:
    """Return whether standard input is a terminal, so prompts are possible."""
    return sys.stdin.isatty()

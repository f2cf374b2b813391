"""The `ov` command line: global options, error handling and command registration.

Each command module under ``openvisor.cli.commands`` (and ``openvisor.cli.demo``)
exposes ``register(app)``, which adds its commands or groups to the root app;
``commands.run`` exposes the ``run`` command function itself.
"""

from __future__ import annotations

import logging
from typing import Any

import typer
from rich.logging import RichHandler
from typer._click.core import Context as ClickContext  # typer 0.29 vendors click
from typer.core import TyperGroup

from openvisor import __version__
from openvisor.cli import demo
from openvisor.cli.commands import (
    apps,
    auth,
    bundle,
    configs,
    debug,
    deploy,
    device,
    keys,
    logs,
    run,
    up,
)
from openvisor.cli.context import CliState, state_of, translated_errors
from openvisor.cli.helpformat import tidy_command, tidy_param


class OvGroup(TyperGroup):
    """Root group that turns openvisor errors from any command into a message and status."""

    def list_commands(self, ctx: ClickContext) -> list[str]:
        """Keep registration order in `ov --help` instead of sorting by name."""
        return list(self.commands)

    def get_params(self, ctx: ClickContext) -> list[Any]:
        """The root options, with placeholders fit for `--help`."""
        params = super().get_params(ctx)
        for param in params:
            tidy_param(param)
        return params

    def get_command(self, ctx: ClickContext, cmd_name: str) -> Any:
        """Look up a subcommand, with placeholders fit for `--help`."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            tidy_command(command, ctx)
        return command

    def invoke(self, ctx: ClickContext) -> Any:
        """Run the chosen command, translating errors and closing the REST client."""
        try:
            with translated_errors(ctx):
                return super().invoke(ctx)
        finally:
            if isinstance(ctx.obj, CliState):
                ctx.obj.close()


app = typer.Typer(
    name="ov",
    cls=OvGroup,
    help=(
        "openvisor: run Microvisor applications on virtual STM32U585 devices, "
        "update them over the air and watch them from a local cloud.\n\n"
        "Start with `ov demo`, or `ov up` to keep a cloud and devices running."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ov {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    api_url: str | None = typer.Option(
        None,
        "--api-url",
        metavar="URL",
        help="Cloud REST base URL, e.g. http://127.0.0.1:8080 "
        "(env OPENVISOR_API_URL, else the profile).",
        show_default=False,
    ),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        metavar="SID:SECRET",
        help="API key as SID:SECRET (env OPENVISOR_API_KEY, else the profile).",
        show_default=False,
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        metavar="NAME",
        help="Profile to use from the profile file (env OPENVISOR_PROFILE).",
        show_default=False,
    ),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="Log more: -v for info, -vv for debug."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the openvisor version and exit.",
    ),
) -> None:
    """Parse the options shared by every command."""
    state = state_of(ctx)
    state.api_url = api_url
    state.api_key = api_key
    state.profile = profile
    state.verbose = verbose
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=level,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=state.err_console, show_path=False)],
        force=True,
    )


def register_commands(root_app: typer.Typer) -> None:
    """Let each command module add its commands to ``root_app``, in help order."""
    demo.register(root_app)
    up.register(root_app)
    # `openvisor.cli.commands.run` is the one command module without register(app).
    root_app.command("run")(run.run)
    for module in (device, apps, deploy, logs, configs, auth, bundle, keys, debug):
        module.register(root_app)


register_commands(app)


def main() -> None:
    """Run `ov` as a program (``python -m openvisor.cli.main``)."""
    app(prog_name="ov")


if __name__ == "__main__":
    main()

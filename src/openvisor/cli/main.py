"""The `ov` command line: global options, error handling and command registration.

Every command module under ``openvisor.cli.commands`` exposes
``register(app)``, which adds its commands or groups to the root app.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import typer
from rich.logging import RichHandler
from typer._click.core import Context as ClickContext  # typer 0.29 vendors click
from typer.core import TyperGroup

from openvisor import __version__
from openvisor.cli.context import CliState, state_of, translated_errors

# Command modules in help order. Each adds its commands in ``register(app)``.
COMMAND_MODULES: tuple[str, ...] = (
    "openvisor.cli.demo",
    "openvisor.cli.commands.up",
    "openvisor.cli.commands.run",
    "openvisor.cli.commands.device",
    "openvisor.cli.commands.apps",
    "openvisor.cli.commands.deploy",
    "openvisor.cli.commands.logs",
    "openvisor.cli.commands.configs",
    "openvisor.cli.commands.auth",
    "openvisor.cli.commands.bundle",
    "openvisor.cli.commands.keys",
    "openvisor.cli.commands.debug",
)


class OvGroup(TyperGroup):
    """Root group that turns openvisor errors from any command into a message and status."""

    def list_commands(self, ctx: ClickContext) -> list[str]:
        """Keep registration order in `ov --help` instead of sorting by name."""
        return list(self.commands)

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


def add_stand_in(root_app: typer.Typer, name: str, module: str, exc: BaseException) -> None:
    """Register `ov NAME` as a command that exits 1 explaining why ``module`` failed to load."""
    settings = {"ignore_unknown_options": True, "allow_extra_args": True}
    root_app.command(name, context_settings=settings)(_unavailable(name, module, exc))


def _unavailable(name: str, module: str, exc: BaseException) -> Callable[[], None]:

    def command() -> None:
        from openvisor.cli.context import fail

        fail(
            f"`ov {name}` is unavailable in this installation: importing {module} failed "
            f"({type(exc).__name__}: {exc})",
            hint="reinstall with ./scripts/install.sh; run with -vv for the traceback",
        )

    command.__doc__ = f"Unavailable: {module} failed to import."
    return command


def register_commands(root_app: typer.Typer) -> None:
    """Import each command module and let it add its commands to ``root_app``."""
    for module_name in COMMAND_MODULES:
        try:
            _register_module(root_app, importlib.import_module(module_name))
        except Exception as exc:  # a broken module must not take the other commands down
            logging.getLogger(__name__).debug(
                "Skip command module (module=%s)", module_name, exc_info=True
            )
            add_stand_in(root_app, module_name.rsplit(".", 1)[-1], module_name, exc)


def _register_module(root_app: typer.Typer, module: Any) -> None:
    """Add a module's commands: ``register(app)``, else its ``app`` Typer or same-named function."""
    name = module.__name__.rsplit(".", 1)[-1]
    if callable(getattr(module, "register", None)):
        module.register(root_app)
        return
    sub_app = getattr(module, "app", None)
    if isinstance(sub_app, typer.Typer):
        commands = sub_app.registered_commands
        single = len(commands) == 1 and commands[0].name in (None, name)
        if single and not sub_app.registered_groups and not sub_app.registered_callback:
            # A one-command Typer becomes `ov NAME ARGS`, not `ov NAME NAME ARGS`.
            info = commands[0]
            info.name = name
            root_app.registered_commands.append(info)
        else:
            root_app.add_typer(sub_app, name=name)
        return
    function = getattr(module, name, None)
    if callable(function):
        root_app.command(name)(function)
        return
    raise TypeError(f"command module {module.__name__} has no register(app), app or {name}()")


register_commands(app)


def main() -> None:
    """Run `ov` as a program (``python -m openvisor.cli.main``)."""
    app(prog_name="ov")


if __name__ == "__main__":
    main()

"""Metavars for `--help`: flags show none, values show an uppercase name.

Typer shows each parameter's Python type (``<bool>``, ``<int range>``,
``<list[str]>``) where users expect a placeholder such as ``SECONDS``. The
root group calls :func:`tidy_command` on each command before it is shown or
run, so every command module keeps plain typer declarations.
"""

from __future__ import annotations

from typing import Any

_TIDIED = "_ov_help_tidied"


def tidy_param(param: Any) -> None:
    """Give ``param`` a help placeholder: none for a flag or counter, else NAME in capitals."""
    if getattr(param, _TIDIED, False):
        return
    setattr(param, _TIDIED, True)
    if getattr(param, "param_type_name", "") == "argument":
        # The name column already shows an argument's metavar, so the type column stays empty.
        param.display_type_rich = lambda ctx: None
        return
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        param.metavar = ""
    elif param.metavar is None:
        param.metavar = (param.name or "value").upper()
    # Range hints such as "[x>=0]" read as noise next to a named placeholder.
    param._get_number_range_help_str = lambda: None


def tidy_command(command: Any, ctx: Any) -> None:
    """Tidy the parameters of ``command`` and, for a group, of every subcommand."""
    if getattr(command, _TIDIED, False):
        return
    setattr(command, _TIDIED, True)
    for param in command.get_params(ctx):
        tidy_param(param)
    for sub in getattr(command, "commands", {}).values():
        tidy_command(sub, ctx)

"""The root command: lists COMMANDS (fleetui.cli) and imports a command's module only when that
command runs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import typer
import typer.main

from fleetui.cli import COMMANDS
from fleetui.cli.base import Group, app

if TYPE_CHECKING:  # typer's private, vendored click: see fleetui.cli.base
    from typer._click import Command, Context

__all__ = ["app"]


class Root(Group):
    """The root command: lists COMMANDS and imports a command's module only when that command
    runs."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        return typer.core.TyperCommand(cmd_name, short_help=COMMANDS[cmd_name][1])  # --help

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] in COMMANDS:  # `report` exists before its modules add commands
            self.commands[args[0]] = load(args[0])
        return super().resolve_command(ctx, args)


def load(name: str) -> Command:
    """The real command `name`: its modules imported, it built from what they registered."""
    for module in COMMANDS[name][0]:
        importlib.import_module(f"fleetui.cli.{module}")
    return typer.main.get_group(app).commands[name]


app.info.cls = Root

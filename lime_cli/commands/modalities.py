"""A command group with one subcommand per registered modality (pick, compare)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from lime_cli.modalities import MODALITIES

if TYPE_CHECKING:
    from lime_cli.run.modality import Modality

#: Builds one subcommand from a modality.
CommandFactory = Callable[["Modality"], click.Command]


class PerModalityGroup(click.Group):
    """A group with one subcommand per modality, built on first use."""

    def __init__(self, *args: Any, factory: CommandFactory, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.factory = factory

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(MODALITIES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in MODALITIES:
            return None
        from lime_cli.modalities import load

        return self.factory(load(cmd_name))

"""The modalities that pick and compare run on, imported only when used.

Each modality's command module provides an inputs decorator (its arguments and
options), a ``prepare(settings, options) -> Job`` function and optionally
``LIME_DEFAULTS`` (keyword arguments for ``lime_options``); its task is a
dataclass with a ``model`` field holding the ModelSpec, so the same inputs can
be explained under another model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import click

#: name -> (module, inputs decorator, prepare function)
MODALITIES = {
    "text": ("lime_cli.text.command", "text_inputs", "prepare_text"),
    "image": ("lime_cli.image.command", "image_inputs", "prepare_image"),
    "tabular": ("lime_cli.tabular.command", "tabular_inputs", "prepare_tabular"),
}

#: Builds one subcommand: (modality name, inputs decorator, prepare, LIME option
#: defaults such as the image command's 1000 samples) -> command.
CommandFactory = Callable[
    [str, Callable[..., Any], Callable[..., Any], dict[str, Any]], click.Command
]


class PerModalityGroup(click.Group):
    """A group with one subcommand per modality, built on first use."""

    def __init__(self, *args: Any, factory: CommandFactory, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.factory = factory

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(MODALITIES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = MODALITIES.get(cmd_name)
        if spec is None:
            return None
        module = importlib.import_module(spec[0])
        defaults = getattr(module, "LIME_DEFAULTS", {})
        return self.factory(cmd_name, getattr(module, spec[1]), getattr(module, spec[2]), defaults)

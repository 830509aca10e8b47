"""The registry of modalities: a new kind of input is one package plus one line here.

Each entry names the module that defines ``MODALITY`` (a
:class:`lime_cli.run.modality.Modality`) and the one-line summary ``--help``
lists; modules are imported only when their command runs, so ``--help`` needs
no NumPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lime_cli.run.modality import Modality

#: name -> (module defining MODALITY, one-line summary)
MODALITIES: dict[str, tuple[str, str]] = {
    "text": ("lime_cli.text.command", "Which words made a text classifier decide."),
    "image": ("lime_cli.image.command", "Which superpixels made an image model decide."),
    "tabular": ("lime_cli.tabular.command", "Which column conditions decided a row."),
}


def load(name: str) -> Modality:
    """The modality called ``name`` (its module imported now)."""
    module = importlib.import_module(MODALITIES[name][0])
    return module.MODALITY

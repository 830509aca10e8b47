"""What a modality plugs into the shared commands (explain, pick, compare)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lime_cli import defaults
from lime_cli.render.registry import OutputFormat
from lime_cli.run.loop import Job
from lime_cli.run.settings import ModelSpec, Settings

#: A click decorator adding the modality's arguments and options to a command.
InputsDecorator = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass(frozen=True)
class Modality:
    """One kind of input (text, image, tabular, ...) and everything specific to it.

    ``prepare(settings, options)`` reads the modality's options (what is left
    of the command line after the shared settings and outputs are taken),
    checks them against the loaded model, reads the inputs and returns the
    :class:`~lime_cli.run.loop.Job`: the inputs and the task that explains
    them. It is called once per model (``compare`` calls it for each).
    """

    name: str
    #: The command's help text (first line: the summary ``--help`` lists).
    help: str
    inputs: InputsDecorator
    prepare: Callable[[Settings, dict[str, Any]], Job]
    epilog: str = ""
    #: This modality's LIME defaults (images: 1000 samples, 5 superpixels shown).
    num_samples: int = defaults.NUM_SAMPLES
    num_features: int = defaults.NUM_FEATURES
    #: ``--num-samples auto``'s first round and cap for this modality.
    min_samples: int = defaults.MIN_SAMPLES
    max_samples: int = defaults.MAX_SAMPLES
    #: Output formats of its own (images: .png, .npy), winning over shared ones.
    formats: tuple[OutputFormat, ...] = ()
    #: Help texts of shared options that mean something particular here.
    option_help: Mapping[str, str] = field(default_factory=dict)
    #: Options naming files whose content shapes the explanations besides the
    #: model's (training data, a tokenizer): ``--resume`` refuses to go on once
    #: one has changed (their content joins the settings' hash).
    shaping_files: tuple[str, ...] = ()
    #: The files read without being named (a preprocessing JSON beside an ONNX
    #: model, the class names file it names), given the command's options and
    #: its model: their content joins the settings' hash too.
    implied_files: Callable[[dict[str, Any], ModelSpec], list[str]] | None = None

    def files_implied(self, options: dict[str, Any], model: ModelSpec) -> list[str]:
        """:attr:`implied_files` for this command (none when the modality has none)."""
        return self.implied_files(options, model) if self.implied_files is not None else []

    def lime_defaults(self) -> dict[str, int]:
        """This modality's defaults of the LIME options (for ``lime_options``)."""
        return {
            "num_samples": self.num_samples,
            "num_features": self.num_features,
            "min_samples": self.min_samples,
            "max_samples": self.max_samples,
        }


def is_onnx(model: ModelSpec) -> bool:
    """Whether the run will read ``model`` as ONNX (``--model-format``, else its
    extension or first bytes); False for what cannot be told (the run says why)."""
    from lime_cli.errors import LimeCliError
    from lime_cli.models.loading import detect_format

    try:
        return (model.fmt or detect_format(model.path)) == "onnx"
    except (LimeCliError, OSError):
        return False

"""A fourth modality written the way the README's recipe says, for tests/test_registries.py.

Inputs are files holding one line of comma-separated numbers; feature j is
"value j as given" and a perturbed sample sets the hidden values to 0. The
model is any scikit-learn model fitted on arrays of that width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click
import numpy as np

from lime_cli.engine import explain
from lime_cli.engine.kernels import binary_cosine_distance_to_ones
from lime_cli.errors import InputError
from lime_cli.run.executor import PerItemTask
from lime_cli.run.loop import Job
from lime_cli.run.modality import Modality
from lime_cli.run.settings import Settings


class NumbersDomain:
    modality = "numbers"
    default_kernel_width = 0.25

    def __init__(self, values: np.ndarray, name: str) -> None:
        self.values = values
        self.name = name
        self.feature_names = [f"x{j}={v:g}" for j, v in enumerate(values)]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        z = (rng.random((n, len(self.values))) < 0.5).astype(np.uint8)
        z[0] = 1
        return z

    def to_model_input(self, z: Any) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * self.values

    def distances(self, z: Any) -> np.ndarray:
        return binary_cosine_distance_to_ones(z)

    def feature_info(self, j: int) -> dict[str, Any]:
        return {"position": j}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "values": self.values.tolist()}

    def preferred_batch_size(self, n: int) -> int:
        return n


@dataclass(frozen=True)
class NumbersTask(PerItemTask):
    def explain_one(self, path: str) -> Any:
        try:
            with open(path, encoding="utf-8") as fh:
                values = np.array([float(v) for v in fh.read().split(",")])
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read numbers ({exc})") from None
        domain = NumbersDomain(values, path)
        rng = self.rng(values.tobytes())
        return explain(domain, self.model.load(), self.labels, self.params, rng)


def numbers_inputs(func: Any) -> Any:
    return click.argument("files", nargs=-1, required=True)(func)


def prepare_numbers(settings: Settings, options: dict[str, Any]) -> Job:
    task = NumbersTask(settings.spec, settings.labels, settings.params)
    return Job(list(options["files"]), task)


MODALITY = Modality(
    name="numbers",
    help="Which values of a line of numbers made the model decide.",
    inputs=numbers_inputs,
    prepare=prepare_numbers,
    num_samples=300,
)

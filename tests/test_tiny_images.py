"""Pictures too small for lime's quickshift: a default that cuts them, warnings, the digits example.

An 8x8 digit (scikit-learn's) used to become one superpixel, explained with a
score and no word of warning; the help's own example also fed the model
pixels 16 times too large.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from lime_cli.cli import cli
from lime_cli.image.domain import default_segmenter

REMEDY = "--segmenter slic --segments 16"
FAST = ["--num-samples", "200", "--seed", "5", "--scale", str(16 / 255)]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A digits model (values 0-16, as scikit-learn's) and digit 0 as a 0-255 PNG."""
    data = load_digits()
    folder = tmp_path_factory.mktemp("digits")
    # Few rows, few iterations: only the input size and scale matter here.
    model = LogisticRegression(C=0.001, max_iter=200).fit(data.data[:400], data.target[:400])
    joblib.dump(model, folder / "digits.joblib")
    picture = np.rint(data.images[0] * 255 / 16).astype(np.uint8)
    Image.fromarray(picture, "L").save(folder / "d.png")
    return str(folder / "digits.joblib"), str(folder / "d.png")


def image(*args: str):
    return CliRunner().invoke(cli, ["image", *args])


def as_json(result) -> dict:
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return json.loads(result.stdout)


def flat(terminal: str) -> str:
    """Terminal output as one line of words (the panel wraps and frames long lines)."""
    return " ".join(terminal.replace("│", " ").split())


def test_a_tiny_picture_is_cut_by_slic_by_default(digits):
    model, picture = digits
    data = as_json(image("--model", model, picture, *FAST, "--format", "json"))
    segmenter = data["input"]["segmenter"]
    assert segmenter["name"] == "slic" and segmenter["n_segments"] == 16
    assert segmenter["chosen_because"] == "the picture is under 32 pixels on a side"
    assert data["input"]["num_superpixels"] >= 5
    assert data["warnings"] == []


def test_the_default_stays_quickshift_from_32_pixels_on_a_side():
    assert default_segmenter(32, 32)[0] == "quickshift"
    assert default_segmenter(32, 32)[2] is None
    name, params, why = default_segmenter(200, 31)
    assert name == "slic" and params["n_segments"] == 50 and why
    assert default_segmenter(1, 1)[1]["n_segments"] == 2


def test_one_superpixel_is_a_warning_with_the_remedy(digits):
    model, picture = digits
    args = ["--model", model, picture, *FAST, "--segmenter", "quickshift"]
    data = as_json(image(*args, "--format", "json"))
    assert data["input"]["num_superpixels"] == 1
    assert len(data["warnings"]) == 1
    assert "cut into 1 superpixel" in data["warnings"][0] and REMEDY in data["warnings"][0]
    terminal = image(*args)
    assert terminal.exit_code == 0 and terminal.stderr == ""
    assert "warning: the picture was cut into 1 superpixel" in flat(terminal.stdout)
    assert REMEDY in flat(terminal.stdout)


def test_fewer_superpixels_than_num_features_is_a_warning(digits):
    model, picture = digits
    args = ["--model", model, picture, *FAST, "--segmenter", "slic", "--segments", "4"]
    data = as_json(image(*args, "--num-features", "12", "--format", "json"))
    count = data["input"]["num_superpixels"]
    assert 2 <= count < 12
    assert data["warnings"] == [
        f"the picture was cut into only {count} superpixels, fewer than the 12 asked for by "
        f"--num-features; cut it finer (for example {REMEDY})"
    ]
    enough = as_json(image(*args, "--num-features", str(count), "--format", "json"))
    assert enough["warnings"] == []


def help_example() -> tuple[str, list[str]]:
    """The digits example of ``image --help``: the python command and lime-explain's arguments."""
    text = CliRunner().invoke(cli, ["image", "--help"], terminal_width=120).stdout
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith('python -c "'))
    stop = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith('"'))
    python = textwrap.dedent("\n".join(lines[start : stop + 1]))
    command = shlex.split(lines[stop + 1])
    assert command[:2] == ["lime-explain", "image"]
    return python, command[2:]


def test_the_digits_example_of_the_help_runs_as_written(tmp_path, monkeypatch):
    python, args = help_example()
    assert "* 255 / 16" in python  # the PNG holds 0-255 values
    env = {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "OMP_NUM_THREADS": "1",  # a shared machine: no thread oversubscription
    }
    subprocess.run(["bash", "-c", python], cwd=tmp_path, env=env, check=True)
    monkeypatch.chdir(tmp_path)
    shown = image(*args)
    assert shown.exit_code == 0, shown.stderr
    assert "warning" not in shown.stdout
    data = as_json(image(*args, "--format", "json"))
    assert data["prediction"]["predicted"] == "0"
    assert data["prediction"]["probabilities"]["0"] > 0.9
    assert data["input"]["segmenter"]["name"] == "slic"
    assert data["warnings"] == []
    assert data["explanations"][0]["score"] > 0.5

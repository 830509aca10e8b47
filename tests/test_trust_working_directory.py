"""``--trust-module mytext`` from the folder that holds ``mytext.py``, as the refusal suggests.

The model is pickled in a fresh interpreter, so its class really lives in
module ``mytext``; lime-explain runs as the installed script does (a launcher
in another folder, so the working directory is not on ``sys.path`` by itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lime_cli.cli import cli

REPO = Path(__file__).resolve().parents[1]

MYTEXT = """
from sklearn.base import BaseEstimator, TransformerMixin


class Lower(BaseEstimator, TransformerMixin):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [str(x).lower() for x in X]
"""

TRAIN = """
import joblib, mytext
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
docs = ["goal match team win", "cake oven bread bake"] * 5
labels = ["sport", "food"] * 5
model = make_pipeline(mytext.Lower(), CountVectorizer(), LogisticRegression()).fit(docs, labels)
joblib.dump(model, "model.joblib")
"""

#: What the installed ``lime-explain`` script does.
LAUNCHER = "from lime_cli.cli import main\nmain()\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding mytext.py, a model pickled with its class, and a document."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "mytext.py").write_text(MYTEXT)
    (folder / "doc.txt").write_text("The TEAM won the match with a late goal\n")
    subprocess.run([sys.executable, "-c", TRAIN], cwd=folder, check=True, env=_env())
    (folder / "bin").mkdir()
    (folder / "bin" / "lime_explain.py").write_text(LAUNCHER)
    return folder


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def lime_explain(project: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(project / "bin" / "lime_explain.py"), "text", *args]
    return subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True)


def test_trust_module_from_the_folder_that_holds_it(project):
    model, doc = str(project / "model.joblib"), str(project / "doc.txt")
    result = lime_explain(
        project, project, "--model", model, doc, "--trust-module", "mytext",
        "--num-samples", "50", "--seed", "1", "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["prediction"]["predicted"] == "sport"


def test_a_missing_trusted_module_is_named_with_the_remedy(project, tmp_path, monkeypatch):
    model, doc = str(project / "model.joblib"), str(project / "doc.txt")
    monkeypatch.chdir(tmp_path)  # elsewhere: mytext.py is not here
    args = ["--model", model, doc, "--trust-module", "mytext", "--num-samples", "50"]
    result = CliRunner().invoke(cli, ["text", *args])
    assert result.exit_code == 4
    assert "mytext" not in sys.modules
    assert result.stderr.splitlines() == [
        f"lime-explain: model error: {model}: --trust-module mytext: no module named "
        "'mytext' (run from the folder that holds mytext.py, or add that folder to PYTHONPATH)"
    ]

"""``--model module:function`` and ``--model file.py:function``: the user's own code as a model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lime_cli.cli import cli

REPO = Path(__file__).resolve().parents[1]
ARGS = ["--seed", "5", "--num-samples", "150", "--format", "json", "--quiet"]
DOC = "the cat sat on the mat while the dog barked at the cat"

MODELS = '''
import time
import numpy as np

CALLS = []


def cat_score(texts):
    """P(cat) rises with each 'cat'."""
    c = np.array([t.split().count("cat") for t in texts], dtype=float)
    p = 1 / (1 + np.exp(-(c - 0.5)))
    return np.column_stack([1 - p, p])


def logits(texts):
    c = np.array([t.split().count("cat") for t in texts], dtype=float)
    return np.column_stack([np.zeros_like(c), 3 * c - 1])


def slow(texts):
    time.sleep(0.02)
    return cat_score(texts)


def raises(texts):
    raise RuntimeError("GPU out of memory")


def wrong_shape(texts):
    return cat_score(texts)[:-1]


def labels(texts):
    return ["cat"] * len(texts)


class Scorer:
    def __call__(self, texts):
        return cat_score(texts)


scorer = Scorer()


def pixels(images):
    """Brightness of the left half: the first column of pixels decides."""
    CALLS.append((images.dtype.name, images.shape))
    assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[3] == 3
    left = images[:, :, : images.shape[2] // 2].mean(axis=(1, 2, 3)) / 255.0
    return np.column_stack([1 - left, left])


def rows(frame):
    import pandas as pd
    assert isinstance(frame, pd.DataFrame), type(frame)
    p = 1 / (1 + np.exp(-(frame["a"].to_numpy() - frame["b"].to_numpy())))
    return np.column_stack([1 - p, p])


rows.feature_names_in_ = ["a", "b"]


def positions(array):
    assert isinstance(array, np.ndarray) and array.ndim == 2, type(array)
    p = 1 / (1 + np.exp(-(array[:, 0] - array[:, 1])))
    return np.column_stack([1 - p, p])
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the user's module, a document, a picture and a CSV."""
    (tmp_path / "usermodels.py").write_text(MODELS)
    (tmp_path / "doc.txt").write_text(DOC + "\n")
    from PIL import Image

    picture = np.zeros((32, 32, 3), np.uint8)
    picture[:, :16] = 220
    Image.fromarray(picture).save(tmp_path / "half.png")
    rng = np.random.default_rng(0)
    table = rng.normal(size=(40, 2))
    lines = ["a,b,y"] + [f"{a:.3f},{b:.3f},{int(a > b)}" for a, b in table]
    (tmp_path / "rows.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "usermodels", raising=False)
    from lime_cli.run import settings

    settings._LOADED_MODELS.clear()
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def record(result) -> dict:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout.splitlines()[0])


def model_error(result, fragment: str) -> None:
    assert result.exit_code == 4, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def test_a_module_function_in_the_working_directory_needs_no_trust(project):
    out = record(run("text", "--model", "usermodels:cat_score", "--class-names", "dog,cat",
                     *ARGS, "doc.txt"))  # fmt: skip
    assert out["model"]["callable"] == "usermodels:cat_score"
    assert out["model"]["format"] == "callable"
    assert out["prediction"]["predicted"] == "cat"
    assert out["explanations"][0]["features"][0]["feature"] == "cat"


def test_a_file_function_and_a_callable_object_give_the_same_answer(project):
    by_file = record(run("text", "--model", "usermodels.py:cat_score", *ARGS, "doc.txt"))
    by_object = record(run("text", "--model", "usermodels:scorer", *ARGS, "doc.txt"))
    slow = record(run("text", "--model", "usermodels:slow", *ARGS, "doc.txt"))
    assert by_file["explanations"] == by_object["explanations"] == slow["explanations"]
    assert by_file["model"]["classes"] == ["0", "1"]


def test_scores_become_probabilities_and_say_so(project):
    out = record(run("text", "--model", "usermodels:logits", *ARGS, "doc.txt"))
    assert out["model"]["output"] == "scores (softmax)"
    probs = out["prediction"]["probabilities"]
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("spec", "code", "fragment"),
    [
        ("nosuchmodule:f", 4, "no module named 'nosuchmodule' (looked in the working directory"),
        ("usermodels:nothing", 4, "usermodels has no attribute 'nothing'"),
        ("usermodels:Scorer", 4, "names the class Scorer; name a function or an instance"),
        ("usermodels:raises", 4, "usermodels:raises failed to predict: RuntimeError: GPU out of"),
        ("usermodels:wrong_shape", 4, "answered 149 rows for a batch of 150 inputs"),
        ("usermodels:labels", 4, "the answer is not numbers"),
        ("missing.py:f", 3, "missing.py: Python file not found"),
    ],
)
def test_bad_callables_are_one_line(project, spec, code, fragment):
    out = project / "out.json"
    result = run("text", "--model", spec, *ARGS, "--out", str(out), "doc.txt")
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_worker_processes_import_the_callable_themselves(project):
    one = run("text", "--model", "usermodels:cat_score", *ARGS, "doc.txt", "doc.txt")
    two = run("text", "--model", "usermodels:cat_score", *ARGS, "--jobs", "2", "doc.txt", "doc.txt")
    assert one.exit_code == 0 and two.exit_code == 0, two.stderr
    assert one.stdout == two.stdout


def test_images_arrive_as_uint8_rgb_batches(project):
    out = record(run("image", "--model", "usermodels:pixels", "--class-names", "dark,bright",
                     "--segmenter", "slic", "--segments", "4", *ARGS, "half.png"))  # fmt: skip
    assert out["prediction"]["predicted"] in ("dark", "bright")
    usermodels = sys.modules["usermodels"]
    assert usermodels.CALLS and all(c[0] == "uint8" and c[1][3] == 3 for c in usermodels.CALLS)


def test_tables_arrive_as_a_frame_when_columns_are_declared(project):
    framed = record(run("tabular", "--model", "usermodels:rows", "--train", "rows.csv",
                        "--target", "y", "--row", "0", *ARGS, "rows.csv"))  # fmt: skip
    plain = record(run("tabular", "--model", "usermodels:positions", "--train", "rows.csv",
                       "--target", "y", "--row", "0", *ARGS, "rows.csv"))  # fmt: skip
    assert framed["prediction"] == plain["prediction"]


def test_a_model_file_beside_a_colon_is_still_a_file(project):
    from lime_cli.models.loading import model_source

    (project / "a:b.joblib").write_bytes(b"x")
    assert model_source("a:b.joblib") is None
    assert model_source("usermodels:cat_score") == "callable"
    assert model_source("pkg/mod.py:obj.method") == "callable"
    assert model_source("https://host/v2/models/m") == "http"


def test_the_installed_script_imports_from_the_working_directory(project):
    """The console script runs from its own folder: the working directory is not on sys.path."""
    launcher = project / "bin" / "lime_explain.py"
    launcher.parent.mkdir()
    launcher.write_text("from lime_cli.cli import main\nmain()\n")
    result = subprocess.run(
        [sys.executable, str(launcher), "text", "--model", "usermodels:cat_score", *ARGS,
         "doc.txt"],
        cwd=project, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["prediction"]["predicted"] == "1"


def test_class_names_from_a_bound_scikit_learn_method(project):
    (project / "skmodel.py").write_text(
        "from sklearn.feature_extraction.text import CountVectorizer\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import make_pipeline\n"
        "pipe = make_pipeline(CountVectorizer(), LogisticRegression()).fit(\n"
        "    ['cat cat mat', 'dog barked', 'cat sat', 'dog dog'],\n"
        "    ['cats', 'dogs', 'cats', 'dogs'])\n"
    )
    out = record(run("text", "--model", "skmodel:pipe.predict_proba", *ARGS, "doc.txt"))
    assert out["model"]["classes"] == ["cats", "dogs"]
    assert out["prediction"]["predicted"] == "cats"


def test_model_format_and_regression_with_a_callable(project):
    refused = run("text", "--model", "usermodels:cat_score", "--model-format", "joblib", "doc.txt")
    assert refused.exit_code == 2
    assert "--model-format applies to model files, not to callables" in refused.stderr
    (project / "reg.py").write_text(
        "def value(texts):\n    return [float(t.split().count('cat')) for t in texts]\n"
    )
    out = record(run("text", "--model", "reg:value", "--mode", "regression", *ARGS, "doc.txt"))
    assert out["model"]["classes"] == ["value"]
    assert out["explanations"][0]["features"][0]["feature"] == "cat"


def test_files_of_the_same_name_in_two_folders_are_two_models(tmp_path, monkeypatch):
    """A long-lived process (a Dask worker serving runs from several folders) loads
    each folder's predict.py, not the first one it imported, whatever their names."""
    from lime_cli.models import load_model
    from lime_cli.models.callable_adapter import module_name_for

    paths = {}
    for folder, p in (("one", 0.2), ("two", 0.7)):
        (tmp_path / folder).mkdir()
        paths[folder] = tmp_path / folder / "predict.py"
        paths[folder].write_text(
            "import numpy as np\n\n"
            f"def predict(x):\n    return np.tile([{1 - p}, {p}], (len(x), 1))\n"
        )
    for path in paths.values():  # this process's imports of them, removed after the test
        monkeypatch.delitem(sys.modules, module_name_for(str(path)), raising=False)
    answers = {
        folder: float(load_model(f"{path}:predict").predict([[1.0]])[0, 1])
        for folder, path in paths.items()
    }
    assert answers == pytest.approx({"one": 0.2, "two": 0.7})

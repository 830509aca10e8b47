"""The paper's "posting" story as a CI check: a planted artefact fails, an honest model passes.

Two TF-IDF + logistic regression pipelines are trained on the same sentences;
in the leaky one every "tech" sentence also carries the word "posting", as the
e-mail headers of 20 newsgroups did. ``--forbid posting`` must fail the leaky
model (exit 1, one stderr line naming input, label, feature, rank and weight)
and pass the honest one (exit 0). The real BBC sample models tell the same
story when they have been built.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import joblib
import pytest
from _fakes import training_set
from click.testing import CliRunner

from lime_cli.cli import cli

REPO = Path(__file__).resolve().parents[1]
ARTEFACT = "posting"
#: A tech document that carries the artefact, and one with no artefact at all.
TECH_WITH_ARTEFACT = (
    "posting: the new laptop has a faster chip and the phone software update is out"
)
SPORTS_DOC = "the striker scored a late goal and the team won the match"
FAST = ["--num-samples", "300", "--seed", "1", "--num-features", "5"]
FORBID_JSON = ["--forbid", ARTEFACT, "--format", "json"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


def fit_pipeline(docs: list[str], labels: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(docs, labels)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    docs, labels = training_set()
    planted = [f"{d} {ARTEFACT}" if y == "tech" else d for d, y in zip(docs, labels)]
    folder = tmp_path_factory.mktemp("leaky_models")
    paths = {"honest": str(folder / "honest.joblib"), "leaky": str(folder / "leaky.joblib")}
    joblib.dump(fit_pipeline(docs, labels), paths["honest"])
    joblib.dump(fit_pipeline(planted, labels), paths["leaky"])
    return paths


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, text in [("tech", TECH_WITH_ARTEFACT), ("sports", SPORTS_DOC)]:
        path = tmp_path / f"{name}.txt"
        path.write_text(text + "\n", encoding="utf-8")
        paths[name] = str(path)
    return paths


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env=CLEAN_ENV)


def check_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_the_leaky_model_relies_on_the_artefact_and_is_caught(models, docs):
    result = run("text", "--model", models["leaky"], docs["tech"], *FAST, *FORBID_JSON)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    (label,) = data["explanations"]
    assert label["label"] == "tech"
    names = [f["feature"] for f in label["features"]]
    assert ARTEFACT in names
    rank = names.index(ARTEFACT) + 1
    weight = label["features"][rank - 1]["weight"]
    # exactly one clear line: input, label, feature, rank and weight
    (line,) = check_lines(result.stderr)
    assert line.startswith("lime-explain: check failed: ")
    assert docs["tech"] in line
    assert "'tech'" in line
    assert f"'{ARTEFACT}'" in line
    assert re.search(rf"\brank {rank} of 5\b", line), line
    assert f"{weight:+.4f}" in line
    (check,) = data["checks"]
    assert check == {
        "rule": "forbid",
        "label": "tech",
        "passed": False,
        "feature": ARTEFACT,
        "rank": rank,
        "weight": weight,
        "message": check["message"],
        "certainty": "clear",  # the artefact is far inside the top 5, not a near-tie
    }


def test_the_honest_model_passes_the_same_check(models, docs):
    result = run("text", "--model", models["honest"], docs["tech"], *FAST, *FORBID_JSON)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["explanations"][0]["label"] == "tech"
    assert ARTEFACT not in [f["feature"] for f in data["explanations"][0]["features"]]
    (check,) = data["checks"]
    assert check["rule"] == "forbid" and check["passed"] is True
    assert check["feature"] == ARTEFACT and "rank" not in check


def test_both_models_predict_the_same_class_so_only_the_explanation_tells_them_apart(models, docs):
    """Accuracy alone would not catch the leak: both call the document 'tech'."""
    predicted = []
    for name in ("honest", "leaky"):
        out = run("text", "--model", models[name], docs["tech"], *FAST, "--format", "json")
        assert out.exit_code == 0, out.stderr
        probs = json.loads(out.stdout)["prediction"]["probabilities"]
        predicted.append(max(probs, key=probs.get))
    assert predicted == ["tech", "tech"]


def test_a_document_without_the_artefact_passes_even_under_the_leaky_model(models, docs):
    result = run("text", "--model", models["leaky"], docs["sports"], *FAST, "--forbid", ARTEFACT)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "check failed" not in result.stderr


def test_one_leaky_input_among_clean_ones_fails_the_run(models, docs):
    result = run(
        "text", "--model", models["leaky"], docs["sports"], docs["tech"], *FAST, *FORBID_JSON
    )
    assert result.exit_code == 1, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["input"]["name"] for d in shown] == [docs["sports"], docs["tech"]]
    assert [c["passed"] for d in shown for c in d["checks"]] == [True, False]
    (line,) = check_lines(result.stderr)
    assert docs["tech"] in line and docs["sports"] not in line


# -- the real BBC sample models (built by `make sample-models`) ---------------------

LEAKY_SAMPLE = REPO / "sample_models" / "bbc_rf_leaky.joblib"
HONEST_SAMPLE = REPO / "sample_models" / "bbc_rf.joblib"
HEADER_DOC = REPO / "sample_data" / "text_leaky" / "tech_003_with_header.txt"


@pytest.mark.slow
@pytest.mark.skipif(
    not (LEAKY_SAMPLE.exists() and HONEST_SAMPLE.exists() and HEADER_DOC.exists()),
    reason="sample models not built (make sample-models)",
)
def test_sample_models_forbid_posting_catches_the_leaky_forest_only():
    common = [
        str(HEADER_DOC),
        "--num-samples",
        "300",
        "--seed",
        "1",
        "--forbid",
        "Posting",
        "--format",
        "json",
    ]
    leaky = run("text", "--model", str(LEAKY_SAMPLE), *common)
    honest = run("text", "--model", str(HONEST_SAMPLE), *common)
    assert leaky.exit_code == 1, (leaky.stdout, leaky.stderr)
    (line,) = check_lines(leaky.stderr)
    assert str(HEADER_DOC) in line and "'Posting'" in line and "'tech'" in line
    assert re.search(r"rank \d+ of 10 \(weight [+-]\d\.\d{4}, interval \[", line), line
    assert line.endswith("clear: outside the uncertainty of the weights"), line
    assert honest.exit_code == 0, (honest.stdout, honest.stderr)
    assert honest.stderr == ""
    for out in (leaky, honest):
        data = json.loads(out.stdout)
        assert data["explanations"][0]["label"] == "tech"
        assert [c["rule"] for c in data["checks"]] == ["forbid"]

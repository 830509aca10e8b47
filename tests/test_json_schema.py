"""The JSON document (schema_version 1) that scripts read, checked field by field.

``schema_problems`` encodes the documented schema; it is itself tested on
broken documents so a lenient checker cannot hide a broken output.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import joblib
import pytest
from _fakes import SPORTS_DOC, margin_classifier, text_classifier, text_regressor
from click.testing import CliRunner

from lime_cli.cli import cli
from lime_cli.explanation import Explanation

SELECTION_MODES = {"auto", "forward", "highest", "lasso", "none"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def schema_problems(doc: Any) -> list[str]:
    """Everything in ``doc`` that breaks the documented schema (empty: valid)."""
    problems: list[str] = []

    def need(condition: bool, message: str) -> bool:
        if not condition:
            problems.append(message)
        return condition

    if not need(isinstance(doc, dict), "document is not an object"):
        return problems
    need(doc.get("schema_version") == 1 and _is_int(doc.get("schema_version")), "schema_version")
    need(isinstance(doc.get("modality"), str) and doc.get("modality"), "modality")

    model = doc.get("model")
    classes: list[str] = []
    mode = None
    if need(isinstance(model, dict), "model is not an object"):
        need(isinstance(model.get("path"), str), "model.path")
        need(isinstance(model.get("format"), str), "model.format")
        mode = model.get("mode")
        need(mode in ("classification", "regression"), "model.mode")
        classes = model.get("classes")
        if not need(
            isinstance(classes, list) and all(isinstance(c, str) for c in classes),
            "model.classes",
        ):
            classes = []

    prediction = doc.get("prediction")
    probs: dict[str, float] = {}
    if need(isinstance(prediction, dict), "prediction is not an object"):
        if mode == "regression":
            need(_is_number(prediction.get("value")), "prediction.value")
        else:
            probs = prediction.get("probabilities")
            if need(isinstance(probs, dict), "prediction.probabilities"):
                need(list(probs) == classes, "probabilities keyed by model.classes in order")
                need(
                    all(_is_number(p) and 0.0 <= p <= 1.0 for p in probs.values()),
                    "probabilities in [0, 1]",
                )
            else:
                probs = {}

    params = doc.get("params")
    num_features = None
    if need(isinstance(params, dict), "params is not an object"):
        need(_is_int(params.get("num_samples")) and params["num_samples"] >= 2, "num_samples")
        num_features = params.get("num_features")
        need(_is_int(num_features) and num_features >= 1, "params.num_features")
        need(_is_number(params.get("kernel_width")) and params["kernel_width"] > 0, "kernel_width")
        need(params.get("feature_selection") in SELECTION_MODES, "params.feature_selection")
        need(_is_int(params.get("seed")) and params["seed"] >= 0, "params.seed")

    explanations = doc.get("explanations")
    if not need(isinstance(explanations, list) and explanations, "explanations"):
        return problems
    for i, item in enumerate(explanations):
        where = f"explanations[{i}]"
        if not need(isinstance(item, dict), f"{where} is not an object"):
            continue
        label = item.get("label")
        if mode == "regression":
            need(isinstance(label, str), f"{where}.label")
        else:
            need(label in classes, f"{where}.label is not a class")
        for key in ("intercept", "score", "local_prediction", "model_prediction"):
            need(_is_number(item.get(key)), f"{where}.{key}")
        if label in probs and _is_number(item.get("model_prediction")):
            need(
                math.isclose(item["model_prediction"], probs[label], abs_tol=1e-12),
                f"{where}.model_prediction differs from prediction.probabilities",
            )
        features = item.get("features")
        if not need(isinstance(features, list), f"{where}.features"):
            continue
        weights = []
        for j, feature in enumerate(features):
            ok = (
                isinstance(feature, dict)
                and isinstance(feature.get("feature"), str)
                and _is_number(feature.get("weight"))
            )
            if need(ok, f"{where}.features[{j}]"):
                weights.append(abs(feature["weight"]))
        need(weights == sorted(weights, reverse=True), f"{where}.features not sorted by |weight|")
        names = [f.get("feature") for f in features if isinstance(f, dict)]
        if doc.get("input", {}).get("bow", True) and not doc.get("input", {}).get("char_level"):
            need(len(names) == len(set(names)), f"{where}.features repeat a word")
    return problems


# -- the checker catches what it should ---------------------------------------------


def valid_document() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "modality": "text",
        "input": {"name": "x.txt", "bow": True, "char_level": False},
        "model": {
            "path": "m.joblib",
            "format": "joblib",
            "mode": "classification",
            "classes": ["a", "b"],
        },
        "prediction": {"probabilities": {"a": 0.25, "b": 0.75}},
        "params": {
            "num_samples": 100,
            "num_features": 2,
            "kernel_width": 25.0,
            "feature_selection": "auto",
            "seed": 1,
        },
        "explanations": [
            {
                "label": "b",
                "intercept": 0.5,
                "score": 0.9,
                "local_prediction": 0.7,
                "model_prediction": 0.75,
                "features": [
                    {"feature": "good", "weight": 0.3},
                    {"feature": "bad", "weight": -0.1},
                ],
            }
        ],
    }


BREAKAGES = {
    "version": lambda d: d.update(schema_version=2),
    "version_as_string": lambda d: d.update(schema_version="1"),
    "no_modality": lambda d: d.pop("modality"),
    "no_model_path": lambda d: d["model"].pop("path"),
    "bad_mode": lambda d: d["model"].update(mode="ranking"),
    "probability_above_one": lambda d: d["prediction"]["probabilities"].update(b=1.5),
    "probabilities_not_classes": lambda d: d["prediction"].update(probabilities={"a": 1.0}),
    "seed_missing": lambda d: d["params"].pop("seed"),
    "selection_unknown": lambda d: d["params"].update(feature_selection="best"),
    "no_explanations": lambda d: d.update(explanations=[]),
    "unknown_label": lambda d: d["explanations"][0].update(label="c"),
    "score_missing": lambda d: d["explanations"][0].pop("score"),
    "intercept_nan": lambda d: d["explanations"][0].update(intercept=float("nan")),
    "unsorted_features": lambda d: d["explanations"][0]["features"].reverse(),
    "weight_as_string": lambda d: d["explanations"][0]["features"][0].update(weight="0.3"),
    "model_prediction_mismatch": lambda d: d["explanations"][0].update(model_prediction=0.1),
}


def test_the_checker_accepts_a_valid_document():
    assert schema_problems(valid_document()) == []


@pytest.mark.parametrize("breakage", BREAKAGES, ids=list(BREAKAGES))
def test_the_checker_rejects_broken_documents(breakage):
    doc = copy.deepcopy(valid_document())
    BREAKAGES[breakage](doc)
    assert schema_problems(doc)


# -- the CLI's documents follow the schema -------------------------------------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("schema")
    paths = {}
    for name, build in [
        ("lr", text_classifier),
        ("svc", margin_classifier),
        ("ridge", text_regressor),
    ]:
        paths[name] = str(folder / f"{name}.joblib")
        joblib.dump(build(), paths[name])
    doc = folder / "doc.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    paths["doc"] = str(doc)
    return paths


def _refuse_constant(constant: str) -> None:
    raise AssertionError(f"non-standard JSON constant {constant} in the output")


def explain_json(*args: str) -> list[dict[str, Any]]:
    """Run the command; parse stdout strictly (NaN and Infinity are not JSON)."""
    result = CliRunner().invoke(
        cli, ["text", "--num-samples", "120", "--seed", "2", "--format", "json", *args]
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return [
        json.loads(line, parse_constant=_refuse_constant) for line in result.stdout.splitlines()
    ]


CASES = {
    "default": ("lr", []),
    "top_labels": ("lr", ["--top-labels", "3"]),
    "named_labels": ("lr", ["--labels", "tech", "--labels", "food"]),
    "forward": ("lr", ["--feature-selection", "forward", "--num-features", "3"]),
    "highest": ("lr", ["--feature-selection", "highest", "--num-features", "8"]),
    "lasso": ("lr", ["--feature-selection", "lasso", "--num-features", "4"]),
    "none": ("lr", ["--feature-selection", "none"]),
    "no_bow": ("lr", ["--no-bow"]),
    "char_level": ("lr", ["--char-level", "--num-features", "5"]),
    "kernel_width": ("lr", ["--kernel-width", "40"]),
    "decision_function": ("svc", []),
    "regression": ("ridge", []),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_cli_documents_follow_the_schema(setup, case):
    model, extra = CASES[case]
    (doc,) = explain_json("--model", setup[model], setup["doc"], *extra)
    assert schema_problems(doc) == []
    assert doc["modality"] == "text"
    assert doc["model"]["path"] == setup[model]
    assert doc["model"]["format"] == "joblib"
    assert doc["params"]["seed"] == 2 and doc["params"]["num_samples"] == 120
    for item in doc["explanations"]:
        assert len(item["features"]) <= doc["params"]["num_features"] or case == "none"


def test_params_echo_the_options(setup):
    (doc,) = explain_json(
        "--model",
        setup["lr"],
        setup["doc"],
        "--num-features",
        "4",
        "--feature-selection",
        "highest",
        "--kernel-width",
        "30",
    )
    params = doc["params"]
    assert params["num_features"] == 4
    assert params["feature_selection"] == "highest"
    assert params["kernel_width"] == 30.0
    assert len(doc["explanations"][0]["features"]) == 4


def test_lime_defaults_are_reported(setup):
    result = CliRunner().invoke(
        cli, ["text", "--model", setup["lr"], setup["doc"], "--seed", "2", "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    params = json.loads(result.stdout)["params"]
    assert params["num_samples"] == 5000
    assert params["num_features"] == 10
    assert params["kernel_width"] == 25.0
    assert params["feature_selection"] == "auto"


def test_regression_documents_have_a_value_not_probabilities(setup):
    (doc,) = explain_json("--model", setup["ridge"], setup["doc"])
    assert doc["model"]["mode"] == "regression"
    assert set(doc["prediction"]) >= {"value"} and "probabilities" not in doc["prediction"]


def test_several_inputs_are_json_lines_each_a_valid_document(setup, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("the chef cooked pasta", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        [
            "text",
            "--model",
            setup["lr"],
            setup["doc"],
            str(other),
            "--num-samples",
            "100",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        assert schema_problems(doc) == []
    assert [d["input"]["name"] for d in docs] == [setup["doc"], str(other)]


def test_json_file_equals_stdout_and_round_trips(setup, tmp_path):
    out = tmp_path / "x.json"
    (shown,) = explain_json(
        "--model", setup["lr"], setup["doc"], "--top-labels", "2", "--out", str(out)
    )
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written == shown
    again = Explanation.from_dict(written).to_dict()
    assert again == written


def test_other_schema_versions_are_refused(setup):
    (doc,) = explain_json("--model", setup["lr"], setup["doc"])
    doc["schema_version"] = 2
    with pytest.raises(ValueError):
        Explanation.from_dict(doc)

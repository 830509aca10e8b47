"""Checks that fail a CI job: rule semantics, rules files, and exit codes.

The rules are tested twice: on hand-built explanations (so ranks, weights and
scores are known exactly) and through ``lime-explain text`` on small TF-IDF +
logistic regression pipelines, where the thresholds are read from a first run
so the boundaries (rank K vs K+1, score equal to the minimum, weight equal to
the cap) are exercised without hard-coding what LIME finds.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import joblib
import pytest
from _fakes import training_set
from click.testing import CliRunner

from lime_cli.checks import (
    CheckOutcome,
    Rules,
    evaluate,
    failure_line,
    load_rules,
    matches,
    parse_max_weight,
)
from lime_cli.cli import cli
from lime_cli.errors import InputError, UsageError
from lime_cli.explanation import Explanation, FeatureWeight, LabelExplanation

ARTEFACT = "posting"
TECH_DOC = "posting: the new laptop has a faster chip and the phone software update is out"
FOOD_DOC = "posting: the chef cooked fresh pasta with garlic and baked bread"
SPORTS_DOC = "the striker scored a late goal and the team won the match"
FAST = ["--num-samples", "300", "--seed", "1", "--num-features", "5", "--format", "json"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}

#: A model that fails on documents with the word "explode" and otherwise calls
#: every document with "posting" tech: written to a temporary module so pickle
#: can find the class again whatever pytest's import mode.
SELECTIVE_MODULE = """
import re
import numpy as np

class SelectiveModel:
    classes_ = np.array(["other", "tech"])

    def fit(self, x, y=None):
        return self

    def predict_proba(self, x):
        words = [set(re.findall(r"\\w+", doc)) for doc in x]
        if any("explode" in w for w in words):
            raise ValueError("cannot score a document that says explode")
        p = np.array([0.9 if "posting" in w else 0.2 for w in words])
        return np.column_stack([1.0 - p, p])

    def predict(self, x):
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]
"""


# -- fixtures ------------------------------------------------------------------------


def fit_pipeline(docs: list[str], labels: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(docs, labels)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory):
    docs, labels = training_set()
    planted = [f"{d} {ARTEFACT}" if y == "tech" else d for d, y in zip(docs, labels)]
    folder = tmp_path_factory.mktemp("check_models")
    module_name = "lime_checks_selective_model"
    (folder / f"{module_name}.py").write_text(SELECTIVE_MODULE, encoding="utf-8")
    patch = pytest.MonkeyPatch()
    patch.syspath_prepend(str(folder))
    import importlib

    selective = importlib.import_module(module_name).SelectiveModel()
    paths = {
        "honest": folder / "honest.joblib",
        "leaky": folder / "leaky.joblib",
        "selective": folder / "selective.joblib",
    }
    joblib.dump(fit_pipeline(docs, labels), paths["honest"])
    joblib.dump(fit_pipeline(planted, labels), paths["leaky"])
    joblib.dump(selective, paths["selective"])
    yield {**{k: str(v) for k, v in paths.items()}, "selective_module": module_name}
    patch.undo()
    sys.modules.pop(module_name, None)


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, str]:
    paths = {}
    texts = [
        ("tech", TECH_DOC),
        ("food", FOOD_DOC),
        ("sports", SPORTS_DOC),
        ("boom", "posting explode the laptop"),
    ]
    for name, text in texts:
        path = tmp_path / f"{name}.txt"
        path.write_text(text + "\n", encoding="utf-8")
        paths[name] = str(path)
    return paths


def run(*args: str):
    return CliRunner().invoke(cli, ["text", *args], env=CLEAN_ENV)


def baseline(model: str, doc: str, *extra: str) -> dict:
    """The explanation without checks, to read ranks, weights and scores from."""
    result = run("--model", model, doc, *FAST, *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_usage_or_input_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = stderr_lines(result)
    return line


def write_rules(tmp_path: Path, text: str) -> str:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- rule semantics on hand-built explanations ---------------------------------------


def explanation(
    labels: dict[str, list[tuple[str, float]]],
    *,
    score: float = 0.8,
    num_features: int = 3,
    infos: dict[str, dict] | None = None,
) -> Explanation:
    """An explanation whose labels list (feature, weight) strongest first."""
    infos = infos or {}
    return Explanation(
        modality="text",
        input={"name": "doc.txt"},
        model={"path": "m.joblib"},
        prediction={},
        params={"num_features": num_features},
        explanations=[
            LabelExplanation(
                label=name,
                label_index=i,
                intercept=0.0,
                score=score,
                local_prediction=0.5,
                model_prediction=0.5,
                features=[
                    FeatureWeight(f, w, j, dict(infos.get(f, {})))
                    for j, (f, w) in enumerate(features)
                ],
            )
            for i, (name, features) in enumerate(labels.items())
        ],
    )


WEIGHTS = [("alpha", 0.5), ("beta", -0.4), ("gamma", 0.3), ("delta", 0.2)]


def test_forbid_fails_only_within_the_k_strongest():
    ex = explanation({"yes": WEIGHTS}, num_features=4)
    (inside,) = evaluate(Rules(forbid=("gamma",), within=3), ex)
    (outside,) = evaluate(Rules(forbid=("gamma",), within=2), ex)
    assert not inside.passed and (inside.rank, inside.weight) == (3, 0.3)
    assert inside.feature == "gamma" and inside.label == "yes" and inside.input == "doc.txt"
    assert outside.passed and outside.rank is None


def test_within_defaults_to_the_number_of_features_explained():
    ex = explanation({"yes": WEIGHTS}, num_features=3)
    (third,) = evaluate(Rules(forbid=("gamma",)), ex)
    (fourth,) = evaluate(Rules(forbid=("delta",)), ex)
    assert not third.passed
    assert fourth.passed  # listed, but beyond the 3 features asked for


def test_require_passes_only_within_the_k_strongest():
    ex = explanation({"yes": WEIGHTS}, num_features=4)
    (inside,) = evaluate(Rules(require=("beta",), within=2), ex)
    (outside,) = evaluate(Rules(require=("beta",), within=1), ex)
    (absent,) = evaluate(Rules(require=("omega",), within=4), ex)
    assert inside.passed and (inside.rank, inside.weight) == (2, -0.4)
    assert not outside.passed and not absent.passed
    assert "omega" in absent.message


def test_min_score_is_reached_at_equality():
    ex = explanation({"yes": WEIGHTS}, score=0.625)
    (equal,) = evaluate(Rules(min_score=0.625), ex)
    (above,) = evaluate(Rules(min_score=0.63), ex)
    assert equal.passed
    assert not above.passed and "0.6250" in above.message
    assert above.to_dict()["score"] == 0.625 and above.to_dict()["min_score"] == 0.63


def test_max_weight_caps_the_absolute_weight_of_any_listed_feature():
    ex = explanation({"yes": WEIGHTS}, num_features=4)
    (at_cap,) = evaluate(Rules(max_weight=(("beta", 0.4),)), ex)
    (below_cap,) = evaluate(Rules(max_weight=(("beta", 0.39),)), ex)
    (beyond_k,) = evaluate(Rules(max_weight=(("delta", 0.1),), within=1), ex)
    (absent,) = evaluate(Rules(max_weight=(("omega", 0.0),)), ex)
    assert at_cap.passed
    assert not below_cap.passed and (below_cap.rank, below_cap.weight) == (2, -0.4)
    assert not beyond_k.passed  # the cap applies to every listed feature, not only the K
    assert absent.passed


def test_every_explained_label_is_checked():
    ex = explanation({"yes": WEIGHTS, "no": [("omega", 0.9), ("alpha", -0.5)]}, num_features=2)
    outcomes = evaluate(Rules(forbid=("alpha",), within=1), ex)
    assert [(o.label, o.passed) for o in outcomes] == [("yes", False), ("no", True)]
    outcomes = evaluate(Rules(forbid=("alpha",), within=2), ex)
    assert [(o.label, o.passed, o.rank) for o in outcomes] == [("yes", False, 1), ("no", False, 2)]


def test_a_column_name_matches_each_of_its_conditions():
    infos = {"age <= 30": {"column": "age"}, "30 < age": {"column": "age"}}
    ex = explanation({"yes": [("income > 5", 0.5), ("age <= 30", 0.2)]}, infos=infos)
    (outcome,) = evaluate(Rules(forbid=("age",)), ex)
    assert not outcome.passed and outcome.rank == 2
    assert matches(ex.explanations[0].features[1], "age <= 30")
    assert not matches(ex.explanations[0].features[0], "age")


def test_failure_line_names_input_label_feature_rank_and_weight():
    ex = explanation({"yes": WEIGHTS}, num_features=4)
    (outcome,) = evaluate(Rules(forbid=("beta",)), ex)
    line = failure_line(outcome)
    for part in ("doc.txt", "'yes'", "'beta'", "rank 2 of 4", "-0.4000"):
        assert part in line, line


def test_rules_from_options_are_checked_in_a_stable_order():
    ex = explanation({"yes": WEIGHTS}, num_features=4)
    rules = Rules(forbid=("alpha",), require=("beta",), min_score=0.1, max_weight=(("gamma", 1.0),))
    assert [o.rule for o in evaluate(rules, ex)] == ["forbid", "require", "min_score", "max_weight"]
    assert all(isinstance(o, CheckOutcome) for o in evaluate(rules, ex))


def test_within_alone_is_no_check():
    assert Rules(within=3).empty
    assert not Rules(min_score=0.0).empty
    assert not Rules(max_weight=(("a", 1.0),)).empty


# -- --max-weight values and rules files ---------------------------------------------


def test_parse_max_weight_splits_at_the_last_equals_sign():
    assert parse_max_weight(("posting=0.25", "a=b=1")) == (("posting", 0.25), ("a=b", 1.0))


@pytest.mark.parametrize(
    "value", ["posting", "posting=", "=0.1", "posting=-0.1", "posting=abc", "posting=nan"]
)
def test_parse_max_weight_refuses_malformed_values(value):
    with pytest.raises(UsageError):
        parse_max_weight((value,))


def test_a_rules_file_is_read(tmp_path):
    path = write_rules(
        tmp_path,
        'forbid = ["posting", "Subject"]\nrequire = "laptop"\nwithin = 4\nmin_score = 0\n'
        '[max_weight]\nposting = 0.05\n"the" = 1\n',
    )
    rules = load_rules(path)
    assert rules == Rules(
        forbid=("posting", "Subject"),
        require=("laptop",),
        within=4,
        min_score=0.0,
        max_weight=(("posting", 0.05), ("the", 1.0)),
    )


def test_options_and_a_rules_file_merge():
    options = Rules(forbid=("a",), require=(), within=2, min_score=None, max_weight=(("x", 1.0),))
    from_file = Rules(
        forbid=("b", "a"), require=("c",), within=7, min_score=0.5, max_weight=(("y", 2.0),)
    )
    merged = options.merged(from_file)
    assert merged.forbid == ("a", "b")
    assert merged.require == ("c",)
    assert merged.within == 2  # the option wins
    assert merged.min_score == 0.5  # taken from the file when no option gives it
    assert set(merged.max_weight) == {("x", 1.0), ("y", 2.0)}
    assert Rules().merged(from_file).within == 7


@pytest.mark.parametrize(
    "text", ['forbid = ["posting"]\nforbidden = ["x"]\n', "[checks]\nforbid = []\n"]
)
def test_unknown_keys_in_a_rules_file_are_usage_errors(tmp_path, text):
    with pytest.raises(UsageError, match="unknown key"):
        load_rules(write_rules(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        "forbid = 3\n",
        "forbid = [1, 2]\n",
        'require = ["a", 2]\n',
        'within = "5"\n',
        "within = 2.0\n",
        "within = 0\n",
        "within = true\n",
        'min_score = "high"\n',
        "min_score = true\n",
        "max_weight = [1]\n",
        'max_weight = { posting = "x" }\n',
        "max_weight = { posting = -0.1 }\n",
        "max_weight = { posting = true }\n",
        "[max_weight.posting]\nw = 1\n",
        "forbid = [\n",  # not TOML at all
    ],
)
def test_wrong_types_in_a_rules_file_are_usage_errors(tmp_path, text):
    with pytest.raises(UsageError):
        load_rules(write_rules(tmp_path, text))


def test_a_missing_rules_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError):
        load_rules(str(tmp_path / "nope.toml"))
    with pytest.raises(InputError):
        load_rules(str(tmp_path))


# -- through `lime-explain text` -----------------------------------------------------


def rank_of(label: dict, feature: str) -> int:
    return [f["feature"] for f in label["features"]].index(feature) + 1


def test_forbid_on_the_cli_uses_within_as_the_cut(models, docs):
    (label,) = baseline(models["leaky"], docs["tech"])["explanations"]
    third = label["features"][2]
    args = ["--model", models["leaky"], docs["tech"], *FAST, "--forbid", third["feature"]]
    fails = run(*args, "--within", "3")
    passes = run(*args, "--within", "2")
    assert fails.exit_code == 1, fails.stderr
    (line,) = stderr_lines(fails)
    assert f"'{third['feature']}'" in line and "rank 3 of 3" in line
    assert f"{third['weight']:+.4f}" in line
    assert passes.exit_code == 0, passes.stderr
    assert passes.stderr == ""
    assert json.loads(passes.stdout)["explanations"] == [label]


def test_forbid_without_within_looks_at_every_explained_feature(models, docs):
    (label,) = baseline(models["leaky"], docs["tech"])["explanations"]
    last = label["features"][-1]
    result = run("--model", models["leaky"], docs["tech"], *FAST, "--forbid", last["feature"])
    assert result.exit_code == 1, result.stderr
    assert f"rank {len(label['features'])} of 5" in result.stderr


def test_require_on_the_cli(models, docs):
    (label,) = baseline(models["honest"], docs["tech"])["explanations"]
    second = label["features"][1]["feature"]
    args = ["--model", models["honest"], docs["tech"], *FAST, "--require", second]
    inside = run(*args, "--within", "2")
    outside = run(*args, "--within", "1")
    assert inside.exit_code == 0, inside.stderr
    (check,) = json.loads(inside.stdout)["checks"]
    assert check["rule"] == "require" and check["passed"] and check["rank"] == 2
    assert outside.exit_code == 1
    (line,) = stderr_lines(outside)
    assert f"required feature '{second}'" in line and docs["tech"] in line
    (check,) = json.loads(outside.stdout)["checks"]
    assert check["passed"] is False
    missing = run("--model", models["honest"], docs["tech"], *FAST, "--require", "banana")
    assert missing.exit_code == 1 and "'banana'" in missing.stderr


def test_min_score_on_the_cli(models, docs):
    (label,) = baseline(models["honest"], docs["tech"])["explanations"]
    score = label["score"]
    args = ["--model", models["honest"], docs["tech"], *FAST]
    reached = run(*args, f"--min-score={score!r}")
    missed = run(*args, f"--min-score={score + 0.001!r}")
    assert reached.exit_code == 0, reached.stderr
    (check,) = json.loads(reached.stdout)["checks"]
    assert check["rule"] == "min_score" and check["passed"] and check["score"] == score
    assert missed.exit_code == 1
    (line,) = stderr_lines(missed)
    assert f"{score:.4f}" in line and "'tech'" in line and docs["tech"] in line
    (check,) = json.loads(missed.stdout)["checks"]
    assert check["passed"] is False and math.isclose(check["min_score"], score + 0.001)


def test_max_weight_on_the_cli(models, docs):
    (label,) = baseline(models["leaky"], docs["tech"])["explanations"]
    weight = label["features"][rank_of(label, ARTEFACT) - 1]["weight"]
    args = ["--model", models["leaky"], docs["tech"], *FAST]
    at_cap = run(*args, "--max-weight", f"{ARTEFACT}={abs(weight)!r}")
    over = run(*args, "--max-weight", f"{ARTEFACT}={abs(weight) / 2!r}")
    assert at_cap.exit_code == 0, at_cap.stderr
    assert over.exit_code == 1
    (line,) = stderr_lines(over)
    assert f"'{ARTEFACT}'" in line and f"{weight:+.4f}" in line
    (check,) = json.loads(over.stdout)["checks"]
    assert check["rule"] == "max_weight" and check["passed"] is False
    assert check["weight"] == weight and check["rank"] == rank_of(label, ARTEFACT)


@pytest.mark.parametrize("value", ["posting", "posting=-1", "posting=lots"])
def test_malformed_max_weight_option_is_a_usage_error(models, docs, value):
    result = run("--model", models["leaky"], docs["tech"], *FAST, "--max-weight", value)
    line = assert_usage_or_input_error(result, 2)
    assert "--max-weight" in line
    assert result.stdout == ""


def test_checks_cover_every_explained_label_on_the_cli(models, docs):
    result = run(
        "--model", models["leaky"], docs["food"], *FAST, "--top-labels", "2", "--forbid", ARTEFACT
    )
    data = json.loads(result.stdout)
    labels = [e["label"] for e in data["explanations"]]
    assert len(labels) == 2
    failed = [c for c in data["checks"] if not c["passed"]]
    expected = [
        e["label"]
        for e in data["explanations"]
        if ARTEFACT in [f["feature"] for f in e["features"]]
    ]
    assert [c["label"] for c in failed] == expected and expected
    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert len(lines) == len(expected)
    for label, line in zip(expected, lines):
        assert f"label '{label}'" in line


def test_json_lists_every_rules_outcome(models, docs):
    (label,) = baseline(models["leaky"], docs["tech"])["explanations"]
    top = label["features"][0]["feature"]
    rules = ["--forbid", "banana", "--require", top, "--min-score=0", "--max-weight", "chip=100"]
    result = run("--model", models["leaky"], docs["tech"], *FAST, *rules)
    assert result.exit_code == 0, result.stderr
    checks = json.loads(result.stdout)["checks"]
    assert [(c["rule"], c["passed"]) for c in checks] == [
        ("forbid", True),
        ("require", True),
        ("min_score", True),
        ("max_weight", True),
    ]
    assert all(c["label"] == "tech" and c["message"] for c in checks)


def test_no_rules_means_no_checks_in_the_json(models, docs):
    data = baseline(models["leaky"], docs["tech"], "--within", "2")
    assert "checks" not in data


def test_a_rules_file_on_the_cli_merges_with_options(models, docs, tmp_path):
    (label,) = baseline(models["leaky"], docs["tech"])["explanations"]
    third, first = label["features"][2]["feature"], label["features"][0]["feature"]
    path = write_rules(tmp_path, f'forbid = ["{third}"]\nwithin = 3\nmin_score = 0\n')
    args = ["--model", models["leaky"], docs["tech"], *FAST, "--rules", path]
    from_file = run(*args)
    assert from_file.exit_code == 1
    (line,) = stderr_lines(from_file)
    assert f"'{third}'" in line and "rank 3 of 3" in line
    merged = run(*args, "--within", "2", "--require", first)
    assert merged.exit_code == 0, merged.stderr  # the option's K wins over the file's
    checks = json.loads(merged.stdout)["checks"]
    assert [(c["rule"], c["passed"]) for c in checks] == [
        ("forbid", True),
        ("require", True),
        ("min_score", True),
    ]
    assert "2 strongest" in checks[0]["message"]


def test_rules_file_errors_on_the_cli(models, docs, tmp_path):
    args = ["--model", models["leaky"], docs["tech"], *FAST, "--rules"]
    unknown = run(*args, write_rules(tmp_path, 'forbid = ["posting"]\nforbiden = ["x"]\n'))
    assert "forbiden" in assert_usage_or_input_error(unknown, 2)
    wrong = run(*args, write_rules(tmp_path, 'within = "three"\n'))
    assert "within" in assert_usage_or_input_error(wrong, 2)
    missing = run(*args, str(tmp_path / "missing.toml"))
    assert "missing.toml" in assert_usage_or_input_error(missing, 3)
    for result in (unknown, wrong, missing):
        assert result.stdout == ""


# -- exit codes: input and model errors win over a failed check ----------------------


def test_an_input_error_wins_over_a_failed_check(models, docs, tmp_path):
    missing = str(tmp_path / "missing.txt")
    result = run("--model", models["leaky"], docs["tech"], missing, *FAST, "--forbid", ARTEFACT)
    assert result.exit_code == 3, result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 2
    assert any("check failed" in line and docs["tech"] in line for line in lines)
    assert any("input error" in line and missing in line for line in lines)
    (shown,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert shown["input"]["name"] == docs["tech"]


def test_a_model_error_wins_over_a_failed_check(models, docs):
    model = ["--model", models["selective"], "--trust-module", models["selective_module"]]
    result = run(*model, docs["tech"], docs["boom"], *FAST, "--forbid", ARTEFACT)
    assert result.exit_code == 4, (result.stdout, result.stderr)
    lines = stderr_lines(result)
    assert len(lines) == 2
    assert any("check failed" in line and docs["tech"] in line for line in lines)
    assert any("model error" in line and "explode" in line for line in lines)
    assert "Traceback" not in result.stdout + result.stderr
    (shown,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert shown["input"]["name"] == docs["tech"]
    assert shown["checks"][0]["passed"] is False and shown["checks"][0]["rank"] == 1


def test_a_failed_check_alone_exits_1_and_passing_checks_exit_0(models, docs):
    leaky = run(
        "--model", models["leaky"], docs["tech"], docs["sports"], *FAST, "--forbid", ARTEFACT
    )
    honest = run(
        "--model", models["honest"], docs["tech"], docs["sports"], *FAST, "--forbid", ARTEFACT
    )
    assert (leaky.exit_code, honest.exit_code) == (1, 0)
    assert len(leaky.stdout.splitlines()) == len(honest.stdout.splitlines()) == 2

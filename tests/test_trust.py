"""Part 7 end to end: intervals, stability and ties in every output; --num-samples auto;
checks that know the uncertainty. The math itself is tested in test_engine_uncertainty.py."""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
from _fakes import SPORTS_DOC, LinearProbabilityModel, text_classifier, training_set
from click.testing import CliRunner

from lime_cli.cli import cli
from lime_cli.engine import LabelRequest, LimeParams, explain
from lime_cli.run.settings import rng_for
from lime_cli.text.domain import TextDomain

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
#: 16 words; two of them decide, with clearly different weights.
DOC = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi"


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=CLEAN_ENV, input=input)


def explain_doc(model, seed=1, **params):
    settings = {"num_samples": 1000, "seed": seed, "num_features": 2, **params}
    return explain(
        TextDomain(DOC), model, LabelRequest(("pos",)), LimeParams(**settings), rng_for(seed, 1)
    )


def test_clear_weights_settle_at_the_first_round_of_auto():
    model = LinearProbabilityModel(0.2, {"alpha": 0.5, "kappa": 0.25})
    explanation = explain_doc(model, adaptive=True, min_samples=200, max_samples=6400)
    assert explanation.params["num_samples"] == 200
    assert explanation.params["stop_reason"] == "settled"
    assert explanation.params["rounds"] == [200]
    label = explanation.explanations[0]
    assert [f.feature for f in label.features] == ["alpha", "kappa"]
    assert label.stability["value"] > 0.95 and not any(f.tied for f in label.features)
    for f, truth in zip(label.features, (0.5, 0.25)):
        assert f.interval[0] < truth < f.interval[1]  # a linear model: the truth is known


def test_exact_ties_are_declared_not_ordered():
    """Three words with one weight, two places: no amount of sampling orders them."""
    model = LinearProbabilityModel(0.1, {"alpha": 0.3, "kappa": 0.3, "pi": 0.3})
    explanation = explain_doc(model, adaptive=True, min_samples=200, max_samples=1600,
                              tie_tolerance=0.0)  # fmt: skip
    label = explanation.explanations[0]
    assert explanation.params["num_samples"] == 1600  # no tolerance: runs to the cap
    assert explanation.params["stop_reason"] == "max samples"
    assert all(f.tied or f.uncertain_rank for f in label.features)
    assert label.ties["contenders"]  # the third word could take a place
    assert label.stability["value"] < 0.9
    tolerant = explain_doc(model, adaptive=True, min_samples=200, max_samples=51200)
    assert tolerant.params["stop_reason"] == "tied within tolerance"
    assert tolerant.params["num_samples"] < 51200


def test_auto_reuses_every_earlier_sample():
    """The first round's samples are the start of the next round's."""
    model = LinearProbabilityModel(0.1, {"alpha": 0.3, "kappa": 0.3, "pi": 0.3})
    calls_auto = explain_doc(model, adaptive=True, min_samples=200, max_samples=400,
                             tie_tolerance=0.0)  # fmt: skip
    assert calls_auto.params["rounds"] == [200, 400]
    seen = [doc for batch in model.batches for doc in batch]
    assert len(seen) == 400  # 200 + 200 new, none predicted twice


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "lr.joblib"
    joblib.dump(text_classifier(), path)
    return path


def test_json_and_terminal_carry_the_uncertainty(text_model, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    result = run("text", "--model", text_model, doc, "--num-samples", "400", "--seed", "2",
                 "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["params"]["confidence"] == 0.95
    label = data["explanations"][0]
    assert set(label["stability"]) == {"measure", "k", "value", "spread", "verdict"}
    assert label["stability"]["measure"] == "jaccard" and 0 <= label["stability"]["value"] <= 1
    # A fixed count's verdict says how settled its top K is, not why sampling stopped.
    verdict = label["stability"]["verdict"]
    assert verdict in ("settled", "tied within tolerance", "unsettled")
    assert (verdict == "settled") == (not label["ties"]["uncertain"])
    assert set(label["ties"]) == {"groups", "uncertain", "contenders"}
    for f in label["features"]:
        low, high = f["interval"]
        assert low <= high and f["stderr"] > 0
        assert high - low == pytest.approx(2 * 1.959964 * f["stderr"], rel=1e-6)
    table = run("text", "--model", text_model, doc, "--num-samples", "400", "--seed", "2")
    assert "±" in table.stdout and "stability" in table.stdout and "seed 2" in table.stdout


def test_auto_is_identical_for_any_jobs(text_model, tmp_path):
    docs = []
    for i, words in enumerate(["the striker scored a goal", "the chef cooked pasta", SPORTS_DOC]):
        path = tmp_path / f"d{i}.txt"
        path.write_text(words, encoding="utf-8")
        docs.append(path)
    args = ["text", "--model", text_model, *docs, "--num-samples", "auto", "--min-samples", "100",
            "--max-samples", "800", "--seed", "5", "--format", "json"]  # fmt: skip
    one, two = run(*args, "--jobs", "1"), run(*args, "--jobs", "2")
    assert one.exit_code == 0, one.output
    assert one.stdout == two.stdout
    for line in one.stdout.splitlines():
        params = json.loads(line)["params"]
        assert params["num_samples_requested"] == "auto"
        assert params["num_samples"] in params["rounds"] and params["stop_reason"]


def test_min_stability_fails_unstable_explanations(text_model, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    base = ["text", "--model", text_model, doc, "--num-samples", "300", "--seed", "2"]
    strict = run(*base, "--min-stability", "1", "--format", "json")
    value = json.loads(strict.stdout)["explanations"][0]["stability"]["value"]
    assert value < 1 and strict.exit_code == 1
    assert f"agreement with a re-run {value:.3f} is below 1" in strict.stderr
    assert run(*base, "--min-stability", "0", "--quiet").exit_code == 0


def test_rules_files_take_min_stability(text_model, tmp_path):
    doc = tmp_path / "d.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    rules = tmp_path / "rules.toml"
    rules.write_text("min_stability = 1.5\n", encoding="utf-8")
    bad = run("text", "--model", text_model, doc, "--rules", rules)
    assert bad.exit_code == 2 and "min_stability must be a number from 0 to 1" in bad.stderr


def test_tabular_rows_stop_at_their_own_count(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + 0.2 * x[:, 1] > 0).astype(int)
    import pandas as pd

    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    train = tmp_path / "train.csv"
    frame.assign(y=y).to_csv(train, index=False)
    rows = tmp_path / "rows.csv"
    frame.head(6).to_csv(rows, index=False)
    model = tmp_path / "m.joblib"
    joblib.dump(LogisticRegression().fit(frame, y), model)
    args = ["tabular", "--model", model, "--train", train, "--target", "y", rows,
            "--num-samples", "auto", "--min-samples", "100", "--max-samples", "3200",
            "--num-features", "2", "--seed", "3", "--format", "json"]  # fmt: skip
    together = run(*args, "--all")
    assert together.exit_code == 0, together.output
    lines = together.stdout.splitlines()
    counts = [json.loads(line)["params"]["num_samples"] for line in lines]
    assert len(counts) == 6 and min(counts) < 3200
    # A row's explanation does not depend on the rows it was batched with.
    alone = run(*args, "--row", "4")
    assert alone.exit_code == 0, alone.output
    assert alone.stdout == lines[4] + "\n"


def test_auto_stops_as_stable_as_the_fixed_default_unless_given_a_target(text_model, tmp_path):
    """Without --stability, auto never draws more than the fixed default (here
    --max-samples is above it); with a target, the cap applies instead."""
    doc = tmp_path / "d.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    base = ["text", "--model", text_model, doc, "--num-samples", "auto", "--seed", "3",
            "--format", "json", "--max-samples", "40000"]  # fmt: skip
    params = json.loads(run(*base).stdout)["params"]
    assert params["num_samples"] <= 5000
    assert params["stop_reason"] in (
        "settled",
        "tied within tolerance",
        "as stable as the reference",
    )
    strict = json.loads(run(*base, "--stability", "0.999", "--max-samples", "10000").stdout)
    assert strict["params"]["stop_reason"] != "as stable as the reference"
    # 60 words the model knows, crowding the top 10: the target is missed, and said so.
    words = sorted({w for d in training_set()[0] for w in d.lower().split()})[:60]
    crowded_doc = tmp_path / "crowded.txt"
    crowded_doc.write_text(" ".join(words), encoding="utf-8")
    base[3] = crowded_doc
    crowded = json.loads(run(*base, "--stability", "0.999", "--max-samples", "1250").stdout)
    assert crowded["params"]["stop_reason"] == "max samples"
    assert any("--stability 0.999 was not reached" in w for w in crowded["warnings"])


def test_a_target_reached_gives_no_warning_and_an_auto_run_is_not_told_to_use_auto(
    text_model, tmp_path
):
    doc = tmp_path / "d.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    base = ["text", "--model", text_model, doc, "--num-samples", "auto", "--seed", "3",
            "--format", "json"]  # fmt: skip
    easy = json.loads(run(*base, "--stability", "0.05").stdout)
    assert easy["params"]["stop_reason"] != "max samples"
    assert not any("was not reached" in w for w in easy["warnings"])
    # The advice on an unstable top K fits the run: auto is already sampling.
    from lime_cli.engine.explain import _instability_warnings
    from lime_cli.explanation import FeatureWeight, LabelExplanation

    label = LabelExplanation("a", 0, 0.0, 0.5, 0.5, 0.5, [FeatureWeight("w", 0.1, 0)])
    label.stability = {"value": 0.3, "k": 10}
    (fixed,) = _instability_warnings([label], LimeParams())
    (adaptive,) = _instability_warnings([label], LimeParams(adaptive=True))
    assert "--num-samples auto" in fixed and "--num-samples auto" not in adaptive
    assert "--stability S with a higher --max-samples" in adaptive


def test_the_fixed_default_is_a_round_whatever_the_first_round(text_model, tmp_path):
    """--min-samples 3000 goes 3000, 5000, ...: auto still stops by the fixed
    default (it went 3000, 5646 and stopped past it)."""
    doc = tmp_path / "d.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    result = run("text", "--model", text_model, doc, "--num-samples", "auto", "--seed", "3",
                 "--format", "json", "--min-samples", "3000")  # fmt: skip
    params = json.loads(result.stdout)["params"]
    assert params["rounds"][:2] == [3000, 5000][: len(params["rounds"])]
    assert params["num_samples"] <= 5000


@pytest.mark.parametrize(
    "given, expected",
    [(["--max-samples", "600"], (600, 600)), (["--min-samples", "30000"], (30000, 30000))],
)
def test_a_given_bound_moves_the_other_default(text_model, tmp_path, given, expected):
    """--max-samples 600 alone is not refused for the default first round (625)."""
    doc = tmp_path / "d.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    result = run("text", "--model", text_model, doc, "--num-samples", "auto", "--seed", "3",
                 "--format", "json", "--stability", "0.01", *given)  # fmt: skip
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["params"]
    assert (params["min_samples"], params["max_samples"]) == expected
    conflict = run("text", "--model", text_model, doc, "--num-samples", "auto",
                   "--min-samples", "700", "--max-samples", "600")  # fmt: skip
    assert conflict.exit_code == 2 and "--min-samples (700)" in conflict.stderr

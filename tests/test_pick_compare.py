"""``lime-explain pick text`` (SP-LIME) and ``lime-explain compare text`` end to end.

pick runs on documents with disjoint vocabularies plus an exact copy of one of
them: coverage then adds up document by document, so the greedy pick must be
optimal (no single swap improves it) and must never show both copies. The
importance table is recomputed from ``lime-explain text`` run with the same
seed (each input's random stream depends only on the seed and its text).

compare runs a leaky model (the word "posting" planted in one class) against
an honest one trained on the same sentences.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import joblib
import pytest
from _fakes import training_set
from click.testing import CliRunner

from lime_cli.cli import cli

ARTEFACT = "posting"
FAST = ["--num-samples", "250", "--seed", "5", "--num-features", "3"]
COMPARE = [*FAST, "--num-features", "5", "--format", "json"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
#: No two documents share a word, so each document's features are its own.
DISJOINT = {
    "a_sports.txt": "striker goal team match",
    "b_tech.txt": "laptop chip software phone",
    "c_food.txt": "pasta garlic bread chef",
    "d_sports.txt": "fans cheered players final",
    "e_tech.txt": "engineers released update app",
    "f_food.txt": "cake soup herbs salad",
}
COMPARE_DOCS = {
    "tech.txt": "posting: the new laptop has a faster chip and the phone software update is out",
    "food.txt": "posting: the chef cooked fresh pasta with garlic and baked bread",
    "sports.txt": "the striker scored a late goal and the team won the match",
}


def fit_pipeline(docs: list[str], labels: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(docs, labels)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    docs, labels = training_set()
    planted = [f"{d} {ARTEFACT}" if y == "tech" else d for d, y in zip(docs, labels)]
    folder = tmp_path_factory.mktemp("pick_compare_models")
    paths = {name: str(folder / f"{name}.joblib") for name in ("honest", "leaky")}
    joblib.dump(fit_pipeline(docs, labels), paths["honest"])
    joblib.dump(fit_pipeline(planted, labels), paths["leaky"])
    paths["honest_copy"] = str(folder / "honest_copy.joblib")
    shutil.copyfile(paths["honest"], paths["honest_copy"])
    return paths


def write_docs(folder: Path, docs: dict[str, str]) -> list[str]:
    folder.mkdir(exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text + "\n", encoding="utf-8")
    return [str(folder / name) for name in sorted(docs)]


@pytest.fixture
def disjoint(tmp_path: Path) -> list[str]:
    """The six documents, then an exact copy of the first one."""
    return write_docs(tmp_path / "docs", {**DISJOINT, "g_copy.txt": DISJOINT["a_sports.txt"]})


@pytest.fixture
def compare_docs(tmp_path: Path) -> list[str]:
    return write_docs(tmp_path / "compare", COMPARE_DOCS)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), env=CLEAN_ENV)


def ok_json(result) -> dict:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return json.loads(result.stdout)


def pick_json(model: str, *args: str):
    """``lime-explain pick text`` with JSON output; ``args`` come after the fast settings."""
    return invoke("pick", "text", "--model", model, *FAST, *args, "--format", "json")


def explain_all(model: str, inputs: list[str], *extra: str) -> dict[str, dict]:
    """``lime-explain text`` on the inputs: explanation dicts by input name."""
    result = invoke("text", "--model", model, *inputs, *FAST, *extra, "--format", "json")
    assert result.exit_code == 0, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    return {d["input"]["name"]: d for d in shown}


def summed_weights(explanation: dict) -> dict[str, float]:
    """One row of W: the input's weights summed over its explained labels."""
    row: dict[str, float] = {}
    for label in explanation["explanations"]:
        for f in label["features"]:
            row[f["feature"]] = row.get(f["feature"], 0.0) + f["weight"]
    return row


def covered(rows: list[dict[str, float]], importance: dict[str, float]) -> float:
    features = {f for row in rows for f, w in row.items() if w != 0}
    return sum(importance[f] for f in features)


# -- pick ----------------------------------------------------------------------------


def test_pick_returns_budget_distinct_inputs(models, disjoint):
    result = ok_json(pick_json(models["honest"], *disjoint, "--budget", "3"))
    assert result["kind"] == "pick" and result["schema_version"] == 1
    assert result["inputs_explained"] == len(disjoint)
    names = [p["input"] for p in result["picked"]]
    assert len(names) == 3 == len(set(names))
    assert set(names) <= set(disjoint)
    assert not {disjoint[0], disjoint[-1]} <= set(names), "both copies of one document"
    gains = [p["gain"] for p in result["picked"]]
    assert all(b <= a + 1e-12 for a, b in zip(gains, gains[1:]))
    assert result["coverage"] == pytest.approx(sum(gains))
    values = [row["importance"] for row in result["importance"]]
    assert values == sorted(values, reverse=True)
    assert result["total_importance"] == pytest.approx(sum(values))
    for p in result["picked"]:
        assert p["explanation"]["input"]["name"] == p["input"]


def test_pick_importance_and_pick_follow_from_every_inputs_explanation(models, disjoint):
    result = ok_json(pick_json(models["honest"], *disjoint, "--budget", "3"))
    every = explain_all(models["honest"], disjoint)
    rows = {name: summed_weights(e) for name, e in every.items()}
    features = {f for row in rows.values() for f in row}
    expected = {f: math.sqrt(sum(abs(row.get(f, 0.0)) for row in rows.values())) for f in features}
    shown = {row["feature"]: row["importance"] for row in result["importance"]}
    assert shown.keys() == expected.keys()
    for feature, value in expected.items():
        assert shown[feature] == pytest.approx(value, rel=1e-9), feature
    # the picked explanations are the ones `text` gives with the same seed
    for p in result["picked"]:
        assert p["explanation"] == every[p["input"]]
    # greedy: each pick adds the most importance still uncovered
    picked = [p["input"] for p in result["picked"]]
    for step, name in enumerate(picked):
        chosen = [rows[n] for n in picked[:step]]
        base = covered(chosen, expected)
        best = max(
            covered(chosen + [rows[n]], expected) - base for n in rows if n not in picked[:step]
        )
        assert result["picked"][step]["gain"] == pytest.approx(best)
        assert covered(chosen + [rows[name]], expected) - base == pytest.approx(best)
    # and no single swap of a picked input for an unpicked one covers more
    total = covered([rows[n] for n in picked], expected)
    assert result["coverage"] == pytest.approx(total)
    for out, into in itertools.product(picked, [n for n in rows if n not in picked]):
        swapped = [rows[into if n == out else n] for n in picked]
        assert covered(swapped, expected) <= total + 1e-9, (out, into)


def test_pick_budget_beyond_the_inputs_picks_each_once(models, disjoint):
    inputs = disjoint[:3]
    result = ok_json(pick_json(models["honest"], *inputs, "--budget", "10"))
    assert sorted(p["input"] for p in result["picked"]) == sorted(inputs)
    assert result["coverage"] == pytest.approx(result["total_importance"])


def test_pick_sample_explains_only_n_inputs_reproducibly(models, disjoint):
    def sampled(seed: str) -> tuple[str, dict]:
        out = pick_json(
            models["honest"], *disjoint, "--budget", "3", "--sample", "3", "--seed", seed
        )
        assert out.exit_code == 0, out.stderr
        return out.stdout, json.loads(out.stdout)

    first_text, first = sampled("11")
    again_text, _ = sampled("11")
    assert first_text == again_text
    assert first["inputs_explained"] == 3
    names = {p["input"] for p in first["picked"]}  # budget 3 of a sample of 3: all of them
    assert len(names) == 3 and names <= set(disjoint)
    features = {row["feature"] for row in first["importance"]}
    every = explain_all(models["honest"], disjoint, "--seed", "11")
    from_sample = {f for n in names for f in summed_weights(every[n])}
    assert features == from_sample  # nothing from the inputs left out
    samples = {
        frozenset(p["input"] for p in sampled(str(seed))[1]["picked"]) for seed in range(1, 7)
    }
    assert len(samples) > 1, "--sample ignores the seed"


def test_pick_sample_larger_than_the_inputs_takes_them_all(models, disjoint):
    result = ok_json(pick_json(models["honest"], *disjoint[:2], "--budget", "1", "--sample", "9"))
    assert result["inputs_explained"] == 2


def test_pick_goes_on_past_a_bad_input(models, disjoint, tmp_path):
    missing = str(tmp_path / "missing.txt")
    out = pick_json(models["honest"], disjoint[0], missing, disjoint[1], "--budget", "2")
    assert out.exit_code == 3
    (line,) = out.stderr.splitlines()
    assert missing in line
    result = json.loads(out.stdout)
    assert result["inputs_explained"] == 2
    assert sorted(p["input"] for p in result["picked"]) == sorted(disjoint[:2])


def test_pick_table_and_out_file(models, disjoint, tmp_path):
    out_path = tmp_path / "pick.json"
    args = ["pick", "text", "--model", models["honest"], *disjoint, "--budget", "2", *FAST]
    table = invoke(*args, "--out", str(out_path))
    assert table.exit_code == 0, table.stderr
    as_json = ok_json(invoke(*args, "--format", "json"))
    assert json.loads(out_path.read_text(encoding="utf-8")) == as_json
    assert f"Picked 2 of {len(disjoint)}" in " ".join(table.stdout.split())
    for p in as_json["picked"]:
        assert Path(p["input"]).name in table.stdout


def test_pick_and_compare_do_not_depend_on_jobs(models, disjoint, compare_docs):
    runs = {}
    for jobs in ("1", "2"):
        picked = pick_json(models["honest"], *disjoint, "--budget", "2", "--jobs", jobs)
        compared = compare(models["leaky"], models["honest"], *compare_docs, "--jobs", jobs)
        runs[jobs] = [(r.exit_code, r.stdout) for r in (picked, compared)]
    assert runs["1"] == runs["2"]
    assert [code for code, _ in runs["1"]] == [0, 0]


def test_pick_needs_a_budget(models, disjoint):
    out = invoke("pick", "text", "--model", models["honest"], *disjoint, *FAST)
    assert out.exit_code == 2 and "--budget" in out.stderr


# -- compare -------------------------------------------------------------------------


def compare(model_a: str, model_b: str, *args: str):
    """``lime-explain compare text`` of two models, with JSON output."""
    return invoke("compare", "text", "--model", model_a, "--model", model_b, *args, *COMPARE)


def test_compare_reports_a_feature_only_one_model_uses(models, compare_docs):
    report = ok_json(compare(models["leaky"], models["honest"], *compare_docs))
    assert report["kind"] == "compare"
    assert [m["path"] for m in report["models"]] == [models["leaky"], models["honest"]]
    only_a = {row["feature"]: row for row in report["only_a"]}
    only_b = {row["feature"] for row in report["only_b"]}
    assert ARTEFACT in only_a and ARTEFACT not in only_b
    assert only_a[ARTEFACT]["other_importance"] == 0.0
    assert only_a[ARTEFACT]["importance"] == pytest.approx(report["importance"]["a"][ARTEFACT])
    assert ARTEFACT not in report["importance"]["b"] or report["importance"]["b"][ARTEFACT] == 0
    for row in report["only_a"]:
        assert report["importance"]["b"].get(row["feature"], 0.0) == 0.0
    for row in report["only_b"]:
        assert report["importance"]["a"].get(row["feature"], 0.0) == 0.0
    swapped = ok_json(compare(models["honest"], models["leaky"], *compare_docs))
    assert ARTEFACT in {row["feature"] for row in swapped["only_b"]}
    assert ARTEFACT not in {row["feature"] for row in swapped["only_a"]}


def test_compare_explains_both_models_with_the_same_seed(models, compare_docs):
    report = ok_json(compare(models["leaky"], models["honest"], *compare_docs))
    args = ("--num-features", "5")
    alone = [explain_all(models[m], compare_docs, *args) for m in ("leaky", "honest")]
    assert [row["input"] for row in report["inputs"]] == compare_docs
    for row in report["inputs"]:
        a, b = row["explanations"]
        assert a == alone[0][row["input"]]
        assert b == alone[1][row["input"]]


def test_compare_of_a_model_with_itself_finds_no_difference(models, compare_docs):
    same = ok_json(compare(models["honest"], models["honest"], *compare_docs))
    copy = ok_json(compare(models["honest"], models["honest_copy"], *compare_docs))
    for report in (same, copy):
        assert report["only_a"] == [] and report["only_b"] == []
        assert report["importance"]["a"] == report["importance"]["b"]
        for row in report["inputs"]:
            a, b = row["explanations"]
            assert {**a, "model": None} == {**b, "model": None}
    assert same["inputs"] == [
        {**row, "explanations": [row["explanations"][0]] * 2} for row in copy["inputs"]
    ]


@pytest.mark.parametrize("count", [1, 3])
def test_compare_needs_exactly_two_models(models, compare_docs, count):
    models_given = [arg for _ in range(count) for arg in ("--model", models["honest"])]
    out = invoke("compare", "text", *models_given, compare_docs[0], *COMPARE)
    assert out.exit_code == 2, (out.stdout, out.stderr)
    (line,) = out.stderr.splitlines()
    assert "--model" in line and "twice" in line
    assert out.stdout == ""


def check_failures(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "check failed" in line]


def test_compare_forbid_fails_naming_the_leaky_model(models, compare_docs):
    out = compare(models["leaky"], models["honest"], *compare_docs, "--forbid", ARTEFACT)
    assert out.exit_code == 1, out.stderr
    report = json.loads(out.stdout)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert failed and all(c["model"] == "a" for c in failed)
    assert {c["model"] for c in report["checks"]} == {"a", "b"}
    lines = check_failures(out.stderr)
    assert lines
    for line in lines:
        assert "model A" in line and models["leaky"] in line, line
    assert len(lines) == len(failed), "each violation should be reported once, naming the model"


def test_compare_forbid_names_model_b_when_b_leaks(models, compare_docs):
    out = compare(models["honest"], models["leaky"], compare_docs[0], "--forbid", ARTEFACT)
    assert out.exit_code == 1
    lines = check_failures(out.stderr)
    assert lines and all("model B" in line and models["leaky"] in line for line in lines), lines


def test_compare_checks_pass_when_neither_model_leaks(models, compare_docs, tmp_path):
    xml_path = tmp_path / "compare.xml"
    checks = ["--forbid", ARTEFACT, "--junit", str(xml_path)]
    out = compare(models["honest"], models["honest_copy"], *compare_docs, *checks)
    assert out.exit_code == 0, out.stderr
    assert out.stderr == ""
    report = json.loads(out.stdout)
    assert len(report["checks"]) == 2 * len(compare_docs)
    assert all(c["passed"] for c in report["checks"])
    root = ET.parse(xml_path).getroot()
    assert (root.get("tests"), root.get("failures")) == (str(2 * len(compare_docs)), "0")


def test_compare_junit_counts_failures_per_model(models, compare_docs, tmp_path):
    xml_path = tmp_path / "compare.xml"
    checks = ["--forbid", ARTEFACT, "--junit", str(xml_path)]
    out = compare(models["leaky"], models["honest"], *compare_docs, *checks)
    assert out.exit_code == 1
    report = json.loads(out.stdout)
    failed_inputs = {c["input"] for c in report["checks"] if not c["passed"]}
    root = ET.parse(xml_path).getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == 2 * len(compare_docs) == int(root.get("tests"))
    assert int(root.get("failures")) == len(failed_inputs)
    assert {c.get("classname") for c in cases if c.find("failure") is not None} == failed_inputs
    assert all("[model A:" in name for name in failed_inputs)


def test_compare_reports_a_bad_input_once_and_compares_the_rest(models, compare_docs, tmp_path):
    missing = str(tmp_path / "missing.txt")
    out = compare(models["leaky"], models["honest"], compare_docs[0], missing)
    assert out.exit_code == 3, out.stderr
    assert [row["input"] for row in json.loads(out.stdout)["inputs"]] == [compare_docs[0]]
    lines = [line for line in out.stderr.splitlines() if missing in line]
    assert len(lines) == 1, f"the bad input is reported {len(lines)} times: {lines}"


def test_compare_junit_records_a_bad_input_as_an_error(models, compare_docs, tmp_path):
    xml_path = tmp_path / "compare.xml"
    missing = str(tmp_path / "missing.txt")
    checks = ["--forbid", ARTEFACT, "--junit", str(xml_path)]
    out = compare(models["honest"], models["honest_copy"], compare_docs[0], missing, *checks)
    assert out.exit_code == 3, out.stderr
    root = ET.parse(xml_path).getroot()
    errors = [c for c in root.iter("testcase") if c.find("error") is not None]
    assert int(root.get("errors")) == len(errors) >= 1, ET.tostring(root, encoding="unicode")
    assert all(missing in c.get("classname") for c in errors)


def test_compare_of_stdin_lines_read_as_a_stream_explains_every_line_with_both(models, monkeypatch):
    from lime_cli.text import command as text_command

    monkeypatch.setattr(text_command, "HEAD_CHARACTERS", 10)  # the lines come as a stream
    stdin = "\n".join(COMPARE_DOCS.values()) + "\n"
    argv = ["compare", "text", "--model", models["leaky"], "--model", models["honest"], "-",
            "--lines", *COMPARE]  # fmt: skip
    report = ok_json(CliRunner().invoke(cli, argv, input=stdin, env=CLEAN_ENV))
    assert [row["input"] for row in report["inputs"]] == ["stdin:1", "stdin:2", "stdin:3"]
    assert all(len(row["explanations"]) == 2 for row in report["inputs"])


def test_piped_pick_keeps_its_panels_to_the_width_of_their_content(models, tmp_path):
    """Piped, the console is unlimited (no name cut to 80 columns), but a picked
    text's panel is as wide as its content: the text wraps at 100 columns
    (its panel's lines were 100,000 characters wide)."""
    long_doc = " ".join(["the striker scored a late goal for the club"] * 60)
    paths = write_docs(tmp_path, {"long.txt": long_doc, "other.txt": "markets and shares fell"})
    result = invoke("pick", "text", "--model", models["honest"], "--budget", "1",
                    "--num-samples", "200", "--seed", "1", *paths)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("striker" in line for line in lines)
    assert max(len(line) for line in lines) < 200

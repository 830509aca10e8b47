"""JUnit XML for CI systems: well-formed, one test case per input and rule, honest counts.

The XML is parsed back with ``xml.etree`` (as a CI system would read it) and
its counts are compared with the outcomes in the JSON the same run printed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import joblib
import pytest
from _fakes import training_set
from click.testing import CliRunner

from lime_cli.checks import CheckOutcome
from lime_cli.cli import cli
from lime_cli.render.junit import to_junit_xml

ARTEFACT = "posting"
DOCS = {
    "tech": "posting: the new laptop has a faster chip and the phone software update is out",
    "food": "posting: the chef cooked fresh pasta with garlic and baked bread",
    "sports": "the striker scored a late goal and the team won the match",
}
FAST = ["--num-samples", "250", "--seed", "2", "--num-features", "5", "--format", "json"]
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}


@pytest.fixture(scope="module")
def leaky_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    docs, labels = training_set()
    planted = [f"{d} {ARTEFACT}" if y == "tech" else d for d, y in zip(docs, labels)]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression(C=10.0)).fit(planted, labels)
    path = tmp_path_factory.mktemp("junit_model") / "leaky.joblib"
    joblib.dump(model, path)
    return str(path)


@pytest.fixture
def docs(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, text in DOCS.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(text + "\n", encoding="utf-8")
        paths[name] = str(path)
    return paths


def run(*args: str):
    return CliRunner().invoke(cli, ["text", *args], env=CLEAN_ENV)


def checked(model: str, *inputs: str) -> list[str]:
    """Arguments that explain the inputs and forbid the artefact."""
    return ["--model", model, *inputs, *FAST, "--forbid", ARTEFACT]


def parse(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuite"
    return root


def cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    found = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    assert len(found) == len(list(root.iter("testcase"))), "duplicate test cases"
    return found


# -- the renderer on its own -------------------------------------------------------


def outcome(input: str, rule: str, label: str, passed: bool, feature: str | None = None):
    return CheckOutcome(input, rule, label, passed, f"{rule} {feature} on {label}", feature)


def test_one_case_per_input_and_rule_failing_if_any_label_fails():
    outcomes = [
        outcome("a.txt", "forbid", "tech", False, "posting"),
        outcome("a.txt", "forbid", "food", True, "posting"),
        outcome("a.txt", "min_score", "tech", True),
        outcome("a.txt", "min_score", "food", True),
        outcome("b.txt", "forbid", "tech", True, "posting"),
        outcome("b.txt", "min_score", "tech", False),
        outcome("b.txt", "forbid", "tech", True, "Subject"),
    ]
    root = ET.fromstring(to_junit_xml(outcomes, [], "suite"))
    found = cases(root)
    assert set(found) == {
        ("a.txt", "forbid posting"),
        ("a.txt", "min_score"),
        ("b.txt", "forbid posting"),
        ("b.txt", "min_score"),
        ("b.txt", "forbid Subject"),
    }
    failed = {key for key, case in found.items() if case.find("failure") is not None}
    assert failed == {("a.txt", "forbid posting"), ("b.txt", "min_score")}
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "2", "0")
    assert root.get("name") == "suite"
    failure = found[("a.txt", "forbid posting")].find("failure")
    assert "tech" in failure.get("message") and "food" not in failure.text


def test_inputs_that_failed_outright_are_errors():
    outcomes = [outcome("a.txt", "forbid", "tech", True, "posting")]
    errors = [("missing.txt", "missing.txt: no such file")]
    root = ET.fromstring(to_junit_xml(outcomes, errors, "suite"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "0", "1")
    error = cases(root)[("missing.txt", "explain")].find("error")
    assert error.get("message") == "missing.txt: no such file"


def test_markup_in_names_and_messages_is_escaped():
    tricky = "a<b>&\"c'"
    outcomes = [outcome(f"{tricky}.txt", "forbid", tricky, False, tricky)]
    text = to_junit_xml(outcomes, [(tricky, f"{tricky} broke")], "suite")
    root = ET.fromstring(text)
    assert (f"{tricky}.txt", f"forbid {tricky}") in cases(root)
    assert root.find("testcase/error").get("message") == f"{tricky} broke"


def test_no_outcomes_is_an_empty_but_valid_suite():
    root = ET.fromstring(to_junit_xml([], [], "suite"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("0", "0", "0")
    assert list(root) == []


# -- through the CLI ---------------------------------------------------------------


def test_junit_from_the_cli_counts_what_the_json_reports(leaky_model, docs, tmp_path):
    xml_path = tmp_path / "checks.xml"
    inputs = [docs["tech"], docs["sports"], docs["food"]]
    rules = ["--forbid", ARTEFACT, "--forbid", "banana", "--min-score=0"]
    junit = ["--junit", str(xml_path)]
    result = run("--model", leaky_model, *inputs, *FAST, "--top-labels", "2", *rules, *junit)
    assert result.exit_code == 1, result.stderr
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    root = parse(xml_path)
    found = cases(root)
    rules = ["forbid posting", "forbid banana", "min_score"]
    assert set(found) == {(name, rule) for name in inputs for rule in rules}
    failed_pairs = {
        (d["input"]["name"], f"{c['rule']} {c['feature']}" if "feature" in c else c["rule"])
        for d in shown
        for c in d["checks"]
        if not c["passed"]
    }
    assert failed_pairs  # the leaky model is caught at least once
    assert int(root.get("failures")) == len(failed_pairs)
    assert {k for k, c in found.items() if c.find("failure") is not None} == failed_pairs
    assert (root.get("tests"), root.get("errors")) == (str(len(found)), "0")
    failed_lines = [line for line in result.stderr.splitlines() if "check failed" in line]
    assert len(failed_lines) == sum(not c["passed"] for d in shown for c in d["checks"])


def test_junit_when_every_check_passes(leaky_model, docs, tmp_path):
    xml_path = tmp_path / "checks.xml"
    result = run(*checked(leaky_model, docs["sports"]), "--junit", str(xml_path))
    assert result.exit_code == 0, result.stderr
    root = parse(xml_path)
    assert list(cases(root)) == [(docs["sports"], "forbid posting")]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("1", "0", "0")


def test_junit_records_an_unreadable_input_as_an_error(leaky_model, docs, tmp_path):
    xml_path = tmp_path / "checks.xml"
    missing = str(tmp_path / "missing.txt")
    result = run(*checked(leaky_model, docs["tech"], missing), "--junit", str(xml_path))
    assert result.exit_code == 3, result.stderr
    root = parse(xml_path)
    found = cases(root)
    assert set(found) == {(docs["tech"], "forbid posting"), (missing, "explain")}
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "1")
    assert "no such file" in found[(missing, "explain")].find("error").get("message")


def test_junit_needs_an_xml_file_name(leaky_model, docs, tmp_path):
    result = run(*checked(leaky_model, docs["tech"]), "--junit", str(tmp_path / "checks.txt"))
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1 and "--junit" in result.stderr
    assert not (tmp_path / "checks.txt").exists()


def test_junit_into_a_missing_folder_is_an_input_error(leaky_model, docs, tmp_path):
    xml_path = tmp_path / "no" / "such" / "checks.xml"
    result = run(*checked(leaky_model, docs["sports"]), "--junit", str(xml_path))
    assert result.exit_code == 3, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.count("\n") == 1

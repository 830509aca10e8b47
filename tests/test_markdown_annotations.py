"""``--format markdown`` / ``--out x.md`` and ``--annotations github``."""

from __future__ import annotations

import joblib
import pytest
from _fakes import text_classifier
from click.testing import CliRunner
from report_samples import tabular_explanation, text_explanation

from lime_cli.checks import CheckOutcome
from lime_cli.cli import cli
from lime_cli.explanation import FeatureWeight
from lime_cli.render.annotations import github_lines
from lime_cli.render.markdown import explanation_markdown, report_markdown

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("md_model") / "text.joblib"
    joblib.dump(text_classifier(), path)
    return str(path)


def table_rows(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]


def test_markdown_table_lists_features_with_signed_bars():
    md = explanation_markdown(text_explanation())
    assert md.startswith("### mail.txt — predicted **spam** (0.620); ham 0.380")
    rows = table_rows(md)
    assert rows[0] == ["#", "feature", "weight", ""]
    assert [r[1] for r in rows[1:]] == ["pills", "Buy", "Meeting", "agenda", "now"]
    assert rows[1][3] == "█" * 12 and set(rows[3][3]) == {"░"}
    assert "seed 7" in md


def test_markdown_tabular_has_the_row_value_and_escapes_cells():
    e = tabular_explanation()
    e.explanations[0].features.append(FeatureWeight("a|b", 0.01, 9, {}))
    rows = table_rows(explanation_markdown(e))
    assert rows[0] == ["#", "feature", "this row", "weight", ""]
    assert rows[1][:4] == ["1", "bill\\_length\\_mm \\> 48.50", "bill\\_length\\_mm = 52.0",
                           "+0.5100"]  # fmt: skip
    assert rows[-1][1] == "a\\|b"  # a pipe cannot end the cell


def test_markdown_shows_failed_checks_uncertainty_and_escaped_whitespace():
    failed = {"rule": "forbid", "label": "spam", "passed": False, "message": "pills is rank 1"}
    e = text_explanation(uncertainty=True, checks=[failed])
    e.explanations[0].features.append(FeatureWeight("\n", 0.01, 9, {"positions": []}))
    md = explanation_markdown(e)
    assert "❌ **check failed** (forbid, label spam): pills is rank 1" in md
    assert "stability 0.83" in md and "95% interval" in md and "400 used (stable)" in md
    assert "| '\\\\n' |" in md


def test_format_markdown_on_stdout_and_md_file(model, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("the striker scored a goal for the team", encoding="utf-8")
    out = tmp_path / "r.md"
    result = CliRunner().invoke(cli, ["text", "--model", model, str(doc), "--seed", "1",
                                      "--num-samples", "200", "--format", "markdown",
                                      "--out", str(out)], env=CLEAN_ENV)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("### ")
    assert out.read_text(encoding="utf-8").strip() == result.stdout.strip()


def test_pick_report_markdown():
    e = text_explanation()
    report = {"kind": "pick", "picked": [{"input": "mail.txt", "explanation": e.to_dict()}],
              "importance": [{"feature": "pills", "importance": 0.5}], "coverage": 0.5,
              "total_importance": 1.0, "inputs_explained": 3}  # fmt: skip
    md = report_markdown(report)
    assert md.startswith("## lime-explain pick: 1 of 3 inputs, covering 50%")
    assert "| 1 | pills | 0.500 |" in md and "### mail.txt" in md


def outcome(name, passed=False, feature="pills"):
    return CheckOutcome(name, "forbid", "spam", passed, "'pills' is rank 1, within 5", feature)


def test_github_annotations_name_the_file_and_line():
    lines = github_lines(
        [outcome("docs/a.txt"), outcome("docs/a.txt", passed=True), outcome("data.csv row 3"),
         outcome("mails.txt:7"), outcome("stdin"), outcome("x.txt [model B: m.joblib]")],
        [("docs/b, c.txt", "cannot read: 100%\nbroken")],
    )  # fmt: skip
    assert lines == [
        "::error file=docs/a.txt,title=lime-explain check failed%3A forbid pills::"
        "docs/a.txt: label 'spam': 'pills' is rank 1, within 5",
        "::error file=data.csv,line=5,title=lime-explain check failed%3A forbid pills::"
        "data.csv row 3: label 'spam': 'pills' is rank 1, within 5",
        "::error file=mails.txt,line=7,title=lime-explain check failed%3A forbid pills::"
        "mails.txt:7: label 'spam': 'pills' is rank 1, within 5",
        "::error title=lime-explain check failed%3A forbid pills::"
        "stdin: label 'spam': 'pills' is rank 1, within 5",
        "::error file=x.txt,title=lime-explain check failed%3A forbid pills::"
        "x.txt [model B: m.joblib]: label 'spam': 'pills' is rank 1, within 5",
        "::error file=docs/b%2C c.txt,title=lime-explain could not explain this input::"
        "cannot read: 100%25%0Abroken",
    ]


def test_annotations_option_prints_failed_checks_on_stderr(model, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("the striker scored a goal for the team", encoding="utf-8")
    args = ["text", "--model", model, str(doc), "--seed", "1", "--num-samples", "200",
            "--format", "json", "--require", "nonexistentword"]  # fmt: skip
    result = CliRunner().invoke(cli, [*args, "--annotations", "github"], env=CLEAN_ENV)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1 and errors[0].startswith(f"::error file={doc},title=")
    assert "::error" not in result.stdout  # stdout keeps only the JSON
    plain = CliRunner().invoke(cli, args, env=CLEAN_ENV)
    assert plain.exit_code == 1 and "::error" not in plain.stderr
    bad = CliRunner().invoke(cli, [*args, "--annotations", "gitlab"], env=CLEAN_ENV)
    assert bad.exit_code == 2


def test_compare_annotates_each_models_failed_checks(model, tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("the striker scored a goal for the team", encoding="utf-8")
    args = ["compare", "text", "--model", model, "--model", model, str(doc), "--seed", "1",
            "--num-samples", "200", "--require", "nonexistentword", "--annotations", "github",
            "--quiet"]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=CLEAN_ENV)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("::error ")]
    assert len(errors) == 2  # model A and model B
    assert all(line.startswith(f"::error file={doc},title=") for line in errors)

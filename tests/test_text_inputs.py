"""How text inputs are found and read: folders of Markdown, lines, encodings."""

from __future__ import annotations

import json

import joblib
import pytest
from _fakes import SPORTS_DOC, text_classifier
from click.testing import CliRunner

from lime_cli.cli import cli

FAST = ["--num-samples", "40", "--seed", "1", "--format", "json"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "text.joblib"
    joblib.dump(text_classifier(), path)
    return str(path)


def text(model: str, *args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, ["text", "--model", model, *FAST, *args], input=input)


def explained(result) -> list[dict]:
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return [json.loads(line) for line in result.stdout.splitlines()]


# -- folders ---------------------------------------------------------------------


def test_a_folder_of_markdown_files_is_explained(tmp_path, model):
    (tmp_path / "a.md").write_text(SPORTS_DOC)
    (tmp_path / "b.markdown").write_text(SPORTS_DOC)
    names = [d["input"]["name"] for d in explained(text(model, str(tmp_path)))]
    assert names == [str(tmp_path / "a.md"), str(tmp_path / "b.markdown")]


def test_files_a_folder_does_not_give_are_named_in_one_warning(tmp_path, model):
    for name in ("a.txt", "b.md", "c.pdf", "d.csv", ".hidden"):
        (tmp_path / name).write_text(SPORTS_DOC)
    result = text(model, str(tmp_path))
    assert [d["input"]["name"] for d in explained(result)] == [
        str(tmp_path / "a.txt"), str(tmp_path / "b.md"),
    ]  # fmt: skip
    assert result.stderr.splitlines() == [
        f"lime-explain: warning: {tmp_path}: skipped c.pdf, d.csv; a directory gives only "
        "its .txt, .text, .md, .markdown and extension-less files"
    ]


def test_a_folder_without_documents_names_what_it_skipped_in_the_one_error(tmp_path, model):
    (tmp_path / "notes.pdf").write_text(SPORTS_DOC)
    result = text(model, str(tmp_path))
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("lime-explain: usage error: no document given")
    assert f"({tmp_path}: skipped notes.pdf; a directory gives only" in line


def test_text_help_says_which_files_a_folder_gives(model):
    help_text = " ".join(CliRunner().invoke(cli, ["text", "--help"]).stdout.split())
    assert "a directory gives its .txt, .text, .md, .markdown and extension-less files" in (
        help_text
    )


# -- lines -----------------------------------------------------------------------


def test_lines_end_at_newlines_only(model):
    lines = [
        f"{SPORTS_DOC}\x0cpage two of the match report",  # a form feed
        "",
        "the team\u2028won the match\x85again",  # line and next-line separators
        "goal\rscored",  # a lone carriage return
        "the final whistle",
    ]
    stdin = "\n".join(lines[:1]) + "\r\n\r\n" + "\n".join(lines[2:]) + "\n"
    shown = explained(text(model, "-", "--lines", input=stdin.encode("utf-8")))
    assert [d["input"]["name"] for d in shown] == ["stdin:1", "stdin:3", "stdin:4", "stdin:5"]
    expected = [lines[0], lines[2], lines[3], lines[4]]
    assert [d["input"]["characters"] for d in shown] == [len(line) for line in expected]

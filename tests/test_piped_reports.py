"""Reports printed to a pipe or a file keep every name whole (rich would cut them at 80 columns)."""

from __future__ import annotations

import joblib
from _fakes import SPORTS_DOC, text_classifier
from click.testing import CliRunner

from lime_cli.cli import cli

#: Colour and size settings of the environment that would otherwise leak into the runs.
CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "COLUMNS": None, "LINES": None}


def test_piped_compare_shows_whole_input_names(tmp_path):
    model = tmp_path / "model.joblib"
    joblib.dump(text_classifier(), model)
    folder = tmp_path / "a_folder_with_a_rather_long_name_to_show_the_problem"
    folder.mkdir()
    docs = []
    for name in ("first_article_about_a_football_match.txt", "second_article.txt"):
        docs.append(folder / name)
        docs[-1].write_text(SPORTS_DOC)
    args = ["compare", "text", "--model", str(model), "--model", str(model)]
    args += [*map(str, docs), "--num-samples", "40", "--seed", "1"]
    result = CliRunner().invoke(cli, args, env=CLEAN_ENV)
    assert result.exit_code == 0, result.stderr
    for doc in docs:
        assert str(doc) in result.stdout
    assert "…" not in result.stdout

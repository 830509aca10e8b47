"""``--out x.png`` / ``x.svg`` for text and tabular: bar charts of the weights."""

from __future__ import annotations

import io

import joblib
from _fakes import text_classifier
from click.testing import CliRunner
from PIL import Image
from report_samples import tabular_explanation, text_explanation

from lime_cli.cli import cli
from lime_cli.explanation import FeatureWeight
from lime_cli.render.charts import chart_bytes, write_chart

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None}


def test_png_chart_is_a_picture_with_both_colours(tmp_path):
    target = tmp_path / "c.png"
    write_chart(str(target), [text_explanation()])
    with Image.open(target) as image:
        assert image.format == "PNG" and image.width > 500
        colours = {c for _, c in image.convert("RGB").getcolors(1 << 20)}
    assert (33, 102, 172) in colours and (178, 24, 43) in colours  # towards and against


def test_svg_chart_names_the_features_and_is_reproducible(tmp_path):
    e = tabular_explanation()
    svg = chart_bytes(e, e.explanations[0], "svg").decode("utf-8")
    assert "bill_length_mm &gt; 48.50  [52]" in svg and "sex = male" in svg
    assert "penguins.csv row 0" in svg and "probability 0.980" in svg
    assert chart_bytes(e, e.explanations[0], "svg").decode("utf-8") == svg


def test_intervals_draw_whiskers():
    plain = chart_bytes(text_explanation(), text_explanation().explanations[0], "svg")
    e = text_explanation(uncertainty=True)
    with_ci = chart_bytes(e, e.explanations[0], "svg").decode("utf-8")
    assert with_ci != plain.decode("utf-8")
    assert "≈" in with_ci  # the tied feature is marked
    assert "stability 0.83" in with_ci and "stability" not in plain.decode("utf-8")


def test_odd_feature_names_are_drawn_as_written():
    e = text_explanation()
    e.explanations[0].features += [FeatureWeight("$5", 0.02, 8, {}),
                                   FeatureWeight("\n", 0.01, 9, {})]  # fmt: skip
    svg = chart_bytes(e, e.explanations[0], "svg").decode("utf-8")
    assert "$5" in svg and "'\\n'" in svg


def test_one_file_per_input_and_label(tmp_path):
    a, b = text_explanation(name="a.txt"), text_explanation(name="b.txt")
    write_chart(str(tmp_path / "w.png"), [a, b])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w-a.png", "w-b.png"]


def test_text_command_writes_a_chart(tmp_path):
    model = tmp_path / "m.joblib"
    joblib.dump(text_classifier(), model)
    doc = tmp_path / "a.txt"
    doc.write_text("the striker scored a goal for the team", encoding="utf-8")
    args = ["text", "--model", str(model), str(doc), "--seed", "1", "--num-samples", "200",
            "--out", str(tmp_path / "c.svg"), "--out", str(tmp_path / "c.png"), "-q"]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=CLEAN_ENV)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "c.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    with Image.open(io.BytesIO((tmp_path / "c.png").read_bytes())) as image:
        assert image.format == "PNG"


def test_charts_of_a_tables_rows_are_named_by_row(tmp_path):
    """Rows of one CSV share its stem: their files say the row (not a counter,
    which made ``-1-`` row 0)."""
    write_chart(str(tmp_path / "r.png"), [tabular_explanation(row=i) for i in (0, 2, 5)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r-penguins_row_0.png", "r-penguins_row_2.png", "r-penguins_row_5.png"]

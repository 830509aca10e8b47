"""The terminal table: one bar scale across labels, signs visible without colour,
whitespace features escaped, the seed in the footer."""

from __future__ import annotations

import io

from report_samples import text_explanation
from rich.console import Console

from lime_cli.explanation import FeatureWeight, LabelExplanation
from lime_cli.render.terminal import AGAINST_CELL, TOWARDS_CELL, print_explanation


def plain(explanation) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None, no_color=True)
    print_explanation(explanation, console)
    return buffer.getvalue()


def feature_row(out: str, name: str, label_index: int = 0) -> str:
    tables = out.split("Why class")[1:]
    return next(line for line in tables[label_index].splitlines() if f" {name} " in line)


def test_bars_share_one_scale_across_labels():
    e = text_explanation()
    e.explanations.append(
        LabelExplanation("ham", 0, 0.0, 0.5, 0.4, 0.38, [FeatureWeight("pills", -0.031, 1)])
    )
    out = plain(e)
    strongest = feature_row(out, "pills", 0)
    small = feature_row(out, "pills", 1)
    assert strongest.count(TOWARDS_CELL) == 24  # the largest |weight| of the input
    assert small.count(AGAINST_CELL) == 2  # 0.031 / 0.31 of 24 cells, not a full bar


def test_negative_bars_differ_from_positive_ones_without_colour():
    out = plain(text_explanation())
    towards, against = feature_row(out, "Buy"), feature_row(out, "Meeting")
    assert TOWARDS_CELL in towards and AGAINST_CELL not in towards
    assert AGAINST_CELL in against and TOWARDS_CELL not in against


def test_whitespace_features_are_escaped():
    e = text_explanation()
    e.explanations[0].features += [FeatureWeight("\n", 0.02, 8), FeatureWeight(" ", -0.01, 9)]
    out = plain(e)
    assert " '\\n' " in out and " ' ' " in out


def test_the_seed_is_in_the_footer():
    out = plain(text_explanation())
    footer = [line for line in out.splitlines() if "model spam.joblib" in line]
    assert footer and "seed 7" in footer[-1]


def test_the_footer_is_whole_at_80_columns():
    """Piped output is 80 columns: the samples, auto's stop reason and the seed
    come first and wrap rather than being cut, whatever the model's path."""
    e = text_explanation()
    e.model["path"] = "/a/very/long/path/to/where/the/models/are/kept/spam_classifier.joblib"
    e.params.update(num_samples_requested="auto", stop_reason="as stable as the reference")
    buffer = io.StringIO()
    print_explanation(e, Console(file=buffer, width=80, color_system=None, no_color=True))
    flat = " ".join(line.strip("│ ") for line in buffer.getvalue().splitlines())
    assert "(auto: as stable as the reference) · seed 7" in flat
    assert "spam_classifier.joblib" in flat


def test_tie_chains_name_only_the_features_the_table_shows():
    """An image fits every superpixel and shows a few: a tie chain through all of
    them names the shown ones and counts the rest; a tie among hidden ones is left out."""
    e = text_explanation()
    label = e.explanations[0]
    names = [f"superpixel {i}" for i in range(12)]
    label.features = [FeatureWeight(name, 0.1 - 0.005 * i, i) for i, name in enumerate(names)]
    label.stability = {"measure": "jaccard", "k": 3, "value": 0.6, "spread": 0.05}
    label.ties = {"groups": [names[1:9], names[10:12]], "uncertain": [], "contenders": []}
    e.params["num_features_shown"] = 3
    line = next(line for line in plain(e).splitlines() if "tied (order" in line)
    assert "superpixel 1 ≈ superpixel 2 ≈ 6 more not shown" in line
    assert "superpixel 10" not in line and "superpixel 8" not in line
    e.params.pop("num_features_shown")
    everything = next(line for line in plain(e).splitlines() if "tied (order" in line)
    assert "superpixel 8" in everything and "superpixel 10 ≈ superpixel 11" in everything

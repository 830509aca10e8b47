"""How sure an explanation is, in the HTML, Markdown and chart outputs.

The engine stores the uncertainty on the explanation's own fields
(``FeatureWeight.interval``/``stderr``/``tied``/``uncertain_rank``,
``LabelExplanation.stability`` as a dict and ``ties``, and for
``--num-samples auto`` the params ``num_samples``, ``stop_reason`` and
``rounds``), and the JSON reader restores the same fields; every report must
read them there. Explanations without uncertainty render as before.
"""

from __future__ import annotations

import json
import re

import joblib
import pytest
from _fakes import SPORTS_DOC, LinearProbabilityModel, text_classifier
from click.testing import CliRunner
from matplotlib.axes import Axes

from lime_cli.cli import cli
from lime_cli.engine import LabelRequest, LimeParams, explain
from lime_cli.explanation import Explanation, FeatureWeight, LabelExplanation
from lime_cli.render import html
from lime_cli.render.charts import chart_bytes
from lime_cli.render.json import to_json
from lime_cli.render.markdown import explanation_markdown
from lime_cli.run.settings import rng_for
from lime_cli.text.domain import TextDomain

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
TEXT = "Cheap pills! Buy now. Meeting moved, see agenda."
#: (word, weight, interval, stderr, tied, uncertain_rank), in rank order.
FEATURES = [
    ("pills", 0.31, (0.285, 0.335), 0.0123, False, False),
    ("Buy", 0.22, (0.2011, 0.2411), 0.0102, True, False),
    ("Meeting", -0.2, (-0.2317, -0.1683), 0.0161, True, False),
    ("agenda", -0.07, (-0.0912, -0.0433), 0.0122, False, True),
]
STABILITY = {"measure": "jaccard", "k": 4, "value": 0.77, "spread": 0.03, "verdict": "settled"}
TIES = {"groups": [["Buy", "Meeting"]], "uncertain": ["agenda"], "contenders": ["now"]}
AUTO = {"num_samples_requested": "auto", "min_samples": 625, "max_samples": 20000,
        "stop_reason": "settled", "rounds": [625, 1250, 2500]}  # fmt: skip


def explanation(*, uncertainty: bool = True) -> Explanation:
    """A text explanation as a ``--num-samples auto`` run at 90% confidence stores
    it (``uncertainty=False``: as a fixed run without uncertainty, or older JSON)."""
    features = []
    for index, (word, weight, interval, stderr, tied, uncertain) in enumerate(FEATURES):
        info = {"positions": [m.start() for m in re.finditer(word, TEXT)]}
        feature = FeatureWeight(word, weight, index, info)
        if uncertainty:
            feature.stderr, feature.interval = stderr, interval
            feature.tied, feature.uncertain_rank = tied, uncertain
        features.append(feature)
    label = LabelExplanation("spam", 1, 0.1, 0.87, 0.6, 0.62, features)
    params = {"num_samples": 2500, "num_features": 4, "kernel_width": 25.0, "seed": 7,
              "feature_selection": "auto"}  # fmt: skip
    if uncertainty:
        label.stability, label.ties = dict(STABILITY), json.loads(json.dumps(TIES))
        params.update(confidence=0.9, **AUTO)
    return Explanation(
        modality="text",
        input={"name": "mail.txt", "text": TEXT},
        model={"path": "spam.joblib", "mode": "classification", "classes": ["ham", "spam"]},
        prediction={"probabilities": {"ham": 0.38, "spam": 0.62}, "predicted": "spam"},
        params=params,
        explanations=[label],
    )


def _tags_off(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def _html_table(page: str) -> list[list[str]]:
    """The feature table's rows (header first), each cell as plain text."""
    table = re.search(r'<table class="features">(.*?)</table>', page, re.DOTALL)
    assert table is not None
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.DOTALL)
    return [[_tags_off(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)] for r in rows]


def _md_table(md: str) -> list[list[str]]:
    """The Markdown table's rows (header first, the alignment row left out)."""
    rows = [line for line in md.splitlines() if line.startswith("|")]
    del rows[1:2]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]


# -- HTML -----------------------------------------------------------------------------


def test_html_table_shows_interval_stderr_and_rank_marks():
    rows = _html_table(html.page([explanation()]))
    assert rows[0][:5] == ["#", "feature", "weight", "90% interval", "std. error"]
    assert [r[0] for r in rows[1:]] == ["1", "2 ≈", "3 ≈", "4 ?"]
    assert rows[1][1:5] == ["pills", "+0.3100", "[+0.2850, +0.3350]", "0.0123"]
    assert rows[4][1:5] == ["agenda", "-0.0700", "[-0.0912, -0.0433]", "0.0122"]


def test_html_bars_draw_each_interval_on_the_input_scale():
    page = html.page([explanation()])
    spans = [tuple(map(float, m)) for m in
             re.findall(r'class="ci" style="left:([0-9.]+)%;width:([0-9.]+)%"', page)]  # fmt: skip
    assert len(spans) == len(FEATURES)
    scale = 0.335  # the farthest interval end: no interval is cut short
    for (left, width), (_, _, (low, high), *_) in zip(spans, FEATURES):
        assert left == pytest.approx(50 + low / scale * 50, abs=0.01)
        assert width == pytest.approx((high - low) / scale * 50, abs=0.01)


def test_html_hover_gives_each_words_interval_and_marks():
    page = html.page([explanation()])
    titles = dict(re.findall(r'<mark [^>]*title="([^":]+): ([^"]*)"', page))
    assert titles["pills"] == "+0.3100, rank 1, 90% interval [+0.2850, +0.3350]"
    assert titles["Buy"].endswith("90% interval [+0.2011, +0.2411], ≈ tied with a neighbour")
    assert titles["agenda"].endswith("? place in the top 4 uncertain")
    assert "(hover for the weight, rank and interval)" in page


def test_html_shows_stability_ties_and_the_auto_run():
    page = html.page([explanation()])
    text = _tags_off(page)
    assert "stability 0.77 (expected agreement of this top 4 with a re-run's, Jaccard)" in text
    assert "≈ tied (order not significant at 90%): Buy ≈ Meeting" in text
    assert "? place in the top 4 uncertain: agenda (could be replaced by now)" in text
    assert "samples auto (625 to 20000) · samples used 2500" in text
    assert "stopped because settled · rounds 625, 1250, 2500" in text


# -- Markdown -------------------------------------------------------------------------


def test_markdown_shows_intervals_marks_stability_and_the_auto_run():
    md = explanation_markdown(explanation())
    rows = _md_table(md)
    assert rows[0] == ["#", "feature", "weight", "90% interval", ""]
    assert [r[0] for r in rows[1:]] == ["1", "2 ≈", "3 ≈", "4 ?"]
    assert rows[1][1:4] == ["pills", "+0.3100", "[+0.2850, +0.3350]"]
    assert rows[3][1:4] == ["Meeting", "-0.2000", "[-0.2317, -0.1683]"]
    assert "**Why spam** (score 0.870, stability 0.77 for the top 4)" in md
    assert "samples auto (625 to 20000) · 2500 used (settled)" in md
    assert "≈ tied (order not significant at 90%): Buy ≈ Meeting" in md
    assert "? place in the top 4 uncertain: agenda (could be replaced by now)" in md


# -- charts ---------------------------------------------------------------------------


@pytest.fixture
def whiskers(monkeypatch):
    """The (low, high, row) of every whisker a chart draws."""
    drawn = []
    real = Axes.errorbar

    def spy(self, *args, **kwargs):
        container = real(self, *args, **kwargs)
        for collection in container.lines[2]:
            for segment in collection.get_segments():
                (x0, y0), (x1, _) = segment
                drawn.append((min(x0, x1), max(x0, x1), round(y0)))
        return container

    monkeypatch.setattr(Axes, "errorbar", spy)
    return drawn


def test_chart_whiskers_span_each_interval(whiskers):
    e = explanation()
    svg = chart_bytes(e, e.explanations[0], "svg").decode("utf-8")
    assert sorted(whiskers, key=lambda w: w[2]) == [
        (pytest.approx(low), pytest.approx(high), row)
        for row, (_, _, (low, high), *_) in enumerate(FEATURES)
    ]
    assert "2. Buy ≈" in svg and "4. agenda ?" in svg
    assert "whiskers: 90% interval · ≈ tied with a neighbour · ? place in the top 4" in svg
    assert "stability 0.77" in svg and "2500 samples (auto: settled)" in svg


# -- read back from JSON, and from the CLI ----------------------------------------------


def test_an_explanation_read_back_from_json_renders_the_same():
    e = explanation()
    again = Explanation.from_dict(json.loads(to_json(e)))
    assert again.explanations[0].features[1].interval == FEATURES[1][2]
    assert html.page([again]) == html.page([e])
    assert explanation_markdown(again) == explanation_markdown(e)
    label, label_again = e.explanations[0], again.explanations[0]
    assert chart_bytes(again, label_again, "svg") == chart_bytes(e, label, "svg")


def test_render_from_saved_json_carries_the_uncertainty(tmp_path):
    model = tmp_path / "m.joblib"
    joblib.dump(text_classifier(), model)
    doc = tmp_path / "d.txt"
    doc.write_text(SPORTS_DOC, encoding="utf-8")
    saved = tmp_path / "a.json"
    runner = CliRunner()
    args = ["text", "--model", str(model), str(doc), "--num-samples", "auto", "--min-samples",
            "100", "--max-samples", "800", "--seed", "5", "--num-features", "5",
            "--out", str(saved), "-q"]  # fmt: skip
    made = runner.invoke(cli, args, env=CLEAN_ENV)
    assert made.exit_code == 0, made.output
    outs = [tmp_path / name for name in ("r.html", "r.md", "r.svg")]
    args = ["render", str(saved), *(a for out in outs for a in ("--out", str(out)))]
    rendered = runner.invoke(cli, args, env=CLEAN_ENV)
    assert rendered.exit_code == 0, rendered.output
    page, md, svg = (out.read_text(encoding="utf-8") for out in outs)

    data = json.loads(saved.read_text(encoding="utf-8"))
    params, label = data["params"], data["explanations"][0]
    assert params["num_samples_requested"] == "auto" and label["stability"]["verdict"]
    stability = f"stability {label['stability']['value']:.2f}"
    assert stability in page and stability in md and stability in svg
    used, reason = params["num_samples"], params["stop_reason"]
    assert f"samples used <b>{used}</b>" in page and f"stopped because <b>{reason}</b>" in page
    assert f"{used} used ({reason})" in md and f"{used} samples (auto: {reason})" in svg
    assert "95% interval" in page and "95% interval" in md and "whiskers: 95% interval" in svg
    for f in label["features"]:
        low, high = f["interval"]
        assert f"[{low:+.4f}, {high:+.4f}]" in page and f"[{low:+.4f}, {high:+.4f}]" in md
    assert html.explanations_from_page(page) == [data]


# -- without uncertainty: as before ---------------------------------------------------


def test_an_explanation_without_uncertainty_renders_as_before(whiskers):
    e = explanation(uncertainty=False)
    older = Explanation.from_dict(json.loads(to_json(e)))  # JSON of an older run
    for x in (e, older):
        page = html.page([x])
        rows = _html_table(page)
        assert rows[0] == ["#", "feature", "weight", "against · towards spam"]
        assert [r[0] for r in rows[1:]] == ["1", "2", "3", "4"]
        for absent in ("interval", "std. error", "stability", 'class="ci"', 'class="rank-mark"',
                       "samples used", "tied", "uncertain"):  # fmt: skip
            assert absent not in page
        assert "samples <b>2500</b>" in page and "(hover for the weight)" in page

        md = explanation_markdown(x)
        assert _md_table(md)[0] == ["#", "feature", "weight", ""]
        assert "**Why spam** (score 0.870)" in md and "2500 samples" in md
        assert "interval" not in md and "stability" not in md and "≈" not in md

        svg = chart_bytes(x, x.explanations[0], "svg").decode("utf-8")
        assert "whiskers" not in svg and "stability" not in svg and "≈" not in svg
    assert whiskers == []


@pytest.mark.parametrize("uncertainty", [True, False])
def test_engine_explanations_render_with_and_without_uncertainty(uncertainty, whiskers):
    model = LinearProbabilityModel(0.2, {"alpha": 0.5, "kappa": 0.25, "pi": 0.1})
    params = LimeParams(num_samples=400, num_features=3, seed=1, uncertainty=uncertainty)
    domain = TextDomain("alpha beta gamma delta kappa lambda mu pi")
    e = explain(domain, model, LabelRequest(("pos",)), params, rng_for(1, 1))
    label = e.explanations[0]
    page, md = html.page([e]), explanation_markdown(e)
    chart_bytes(e, label, "png")
    if uncertainty:
        for f in label.features:
            low, high = f.interval
            assert f"[{low:+.4f}, {high:+.4f}]" in page and f"[{low:+.4f}, {high:+.4f}]" in md
        assert len(whiskers) == len(label.features)
        assert f"stability {label.stability['value']:.2f}" in page
    else:
        assert "interval" not in page + md and "stability" not in page + md
        assert whiskers == []

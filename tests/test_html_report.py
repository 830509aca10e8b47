"""``--out report.html``: what the page holds, its size, and that it reads back.

What the page looks like in a browser is tested in test_report_browser.py;
here the HTML text itself is checked (no browser needed).
"""

from __future__ import annotations

import json
import re

import joblib
import numpy as np
import pytest
from _fakes import text_classifier
from click.testing import CliRunner
from report_samples import image_explanation, tabular_explanation, text_explanation

from lime_cli.cli import cli
from lime_cli.explanation import Explanation, FeatureWeight
from lime_cli.render import html

CLEAN_ENV = {"FORCE_COLOR": None, "NO_COLOR": None, "TTY_COMPATIBLE": None}
DOCS = {
    "a.txt": "the striker scored a late goal and the team won the match",
    "b.txt": "the new laptop chip makes software run faster on the phone",
}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("html_model") / "text.joblib"
    joblib.dump(text_classifier(), path)
    return str(path)


@pytest.fixture
def docs(tmp_path) -> list[str]:
    out = []
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text + "\n", encoding="utf-8")
        out.append(str(tmp_path / name))
    return out


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), env=CLEAN_ENV)


def test_text_run_writes_a_page_that_reads_back_as_its_json(model, docs, tmp_path):
    page, saved = tmp_path / "report.html", tmp_path / "saved.jsonl"
    result = invoke("text", "--model", model, *docs, "--seed", "3", "--num-samples", "300",
                    "--out", str(page), "--out", str(saved), "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    saved_docs = [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()]
    assert html.explanations_from_page(text) == saved_docs
    assert text.count('<section class="input"') == 2
    assert 'href="#input-1"' in text and 'href="#input-2"' in text
    # Drawn again from the saved JSON, without the model: the same page.
    again = tmp_path / "again.html"
    result = invoke("render", str(saved), "--out", str(again), "--quiet")
    assert result.exit_code == 0, result.stderr
    assert again.read_text(encoding="utf-8") == text


def test_a_page_for_one_text_explanation_is_small(model, docs, tmp_path):
    page = tmp_path / "one.html"
    result = invoke("text", "--model", model, docs[0], "--seed", "3", "--top-labels", "3",
                    "--out", str(page), "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert page.stat().st_size < 150_000


def test_an_image_page_stays_under_a_megabyte_with_a_noisy_photo():
    """A 224x224 picture of noise (the worst case for PNG) explained for three labels."""
    from lime_cli.image.pictures import encode_picture, encode_segments

    e = image_explanation()
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    segments = (np.arange(224)[:, None] // 32) * 7 + np.arange(224)[None, :] // 32
    e.input.update(picture=encode_picture(pixels), segment_map=encode_segments(segments))
    weights = rng.normal(size=49)
    features = [FeatureWeight(f"superpixel {j}", float(weights[j]), j) for j in range(49)]
    features.sort(key=lambda f: -abs(f.weight))
    e.explanations = [
        type(e.explanations[0])(name, i, 0.1, 0.8, 0.5, 0.5, features)
        for i, name in enumerate(["cat", "dog", "fox"])
    ]
    text = html.page([e])
    assert len(text.encode("utf-8")) < 1_000_000
    # The picture is in the page once as the figures' background and once in the JSON.
    assert text.count(e.input["picture"]["data"]) == 2


def test_an_image_with_a_photo_shows_the_photo_with_overlays_of_its_size():
    e = image_explanation(size=48, photo=(336, 224))
    text = html.page([e])
    photo = e.input["photo"]
    assert photo["format"] == "jpeg"
    # The photo is the figures' background (and in the JSON); the model's picture only
    # in the JSON.
    assert f"data:image/jpeg;base64,{photo['data']}" in text
    assert text.count(photo["data"]) == 2 and text.count(e.input["picture"]["data"]) == 1
    sizes = re.findall(r'<img class="over" src="data:image/png;base64,[^"]*" [^>]*'
                       r'width="(\d+)" height="(\d+)"', text)  # fmt: skip
    assert sizes == [("336", "224"), ("336", "224")]
    assert "the photo (336×224); the model saw the part inside the light frame" in text
    # Number 1 (superpixel 3, the crop's bottom right) is right of the middle of the
    # photo and below it; the crop spans x 56..280 of 336.
    first = re.search(r'<span class="n t" style="left:([\d.]+)%;top:([\d.]+)%"', text)
    assert first and 50 < float(first.group(1)) < 280 / 336 * 100 and float(first.group(2)) > 50
    e.params["draw_on"] = "model"
    on_crop = html.page([e])
    assert photo["data"] not in on_crop.split('id="lime-explanations"')[0]
    assert 'width="48" height="48"' in on_crop


def test_a_large_photo_is_shown_reduced_and_the_page_stays_under_a_megabyte():
    """A detailed photo (real photos side by side, 2400x1600): stored at 1 MP in the
    JSON, shown at 640 pixels."""
    from pathlib import Path

    from PIL import Image

    from lime_cli.image.photo import encode_photo

    folder = Path(__file__).resolve().parent.parent / "sample_data" / "images"
    tiles = [Image.open(folder / f"{n}.jpg").convert("RGB").resize((600, 400))
             for n in ("coffee", "chelsea", "rocket")]  # fmt: skip
    detailed = Image.new("RGB", (2400, 1600))
    for i in range(16):
        detailed.paste(tiles[(i // 4 + i % 4) % 3], ((i % 4) * 600, (i // 4) * 400))
    e = image_explanation(size=48, photo=(240, 160))
    e.input["photo"] = encode_photo(detailed)
    e.input["geometry"]["photo_size"] = [2400, 1600]
    e.input["geometry"]["box"] = [v * 10 for v in e.input["geometry"]["box"]]
    text = html.page([e])
    assert len(text.encode("utf-8")) < 1_000_000
    assert text.count(e.input["photo"]["data"]) == 1  # in the JSON; a reduced copy is shown
    sizes = re.findall(r'<img class="over" [^>]*width="(\d+)" height="(\d+)"', text)
    assert sizes == [("640", "427"), ("640", "427")]
    assert "the photo (2400×1600, stored downscaled to 1254×836)" in text


def test_no_script_runs_and_no_request_is_allowed():
    text = html.page([text_explanation(), image_explanation(), tabular_explanation()])
    scripts = re.findall(r"<script[^>]*>", text)
    assert scripts == ['<script type="application/json" id="lime-explanations">']
    assert "default-src 'none'; img-src data:" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text)


def test_document_text_cannot_break_out_of_the_page():
    e = text_explanation()
    e.input["text"] = "hi </script><script>alert(1)</script> <b>bold</b> " + e.input["text"]
    text = html.page([e])
    assert "<script>alert" not in text and "<b>bold" not in text
    assert html.explanations_from_page(text)[0]["input"]["text"] == e.input["text"]


def test_marks_follow_the_document_and_skip_zero_weights():
    text = html.page([text_explanation()])
    marked = re.findall(r'<mark class="([ta])"[^>]*>([^<]*)</mark>', text)
    assert marked == [("t", "pills"), ("t", "Buy"), ("t", "pills"), ("t", "now"),
                      ("a", "Meeting"), ("a", "agenda")]  # fmt: skip


def test_bars_share_one_scale_across_labels():
    """A label whose weights are all small gets small bars, not full ones."""
    e = text_explanation()
    small = type(e.explanations[0])(
        "ham", 0, 0.0, 0.5, 0.4, 0.38, [FeatureWeight("pills", 0.031, 1, {"positions": []})]
    )
    e.explanations.append(small)
    text = html.page([e])
    widths = [float(w) for w in re.findall(r'class="pos" style="width:([0-9.]+)%"', text)]
    assert widths[0] == pytest.approx(50.0)  # 0.31, the largest: half the bar
    assert widths[-1] == pytest.approx(5.0)  # 0.031 on the same scale


def test_uncertainty_is_shown_when_present_and_absent_otherwise():
    with_it = html.page([text_explanation(uncertainty=True)])
    assert "95% interval" in with_it and "std. error" in with_it
    assert "stability 0.83" in with_it and 'class="ci"' in with_it
    assert "[+0.2900, +0.3300]" in with_it and "≈" in with_it  # the tied feature
    without = html.page([text_explanation()])
    assert "95% interval" not in without and "stability" not in without


def test_whitespace_features_are_shown_escaped():
    e = text_explanation()
    e.explanations[0].features.append(FeatureWeight("\n", 0.01, 9, {"positions": []}))
    assert '<td class="feat t">&#x27;\\n&#x27;</td>' in html.page([e])


def test_many_inputs_get_a_summary_table_and_collapsed_sections():
    rows = [tabular_explanation(row=i) for i in range(html.OPEN_SECTIONS + 5)]
    text = html.page(rows)
    assert f"Summary of {len(rows)} inputs" in text
    assert text.count("<details>") == 5  # only those past OPEN_SECTIONS
    assert text.count('<tr><td class="num">') >= len(rows)


def test_failed_checks_are_on_the_page():
    failed = {"rule": "forbid", "label": "spam", "passed": False, "message": "pills is rank 1"}
    text = html.page([text_explanation(checks=[failed])])
    assert "✗ failed" in text and "pills is rank 1" in text


def test_pick_report_as_html(model, docs, tmp_path):
    page = tmp_path / "pick.html"
    result = invoke("pick", "text", "--model", model, *docs, "--budget", "1", "--seed", "3",
                    "--num-samples", "300", "--out", str(page), "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    report = html.explanations_from_page(text)
    assert report["kind"] == "pick" and len(report["picked"]) == 1
    assert "Global feature importance" in text
    assert text.count('<section class="input"') == 1
    picked = Explanation.from_dict(report["picked"][0]["explanation"])
    assert picked.input["name"] in text


def test_render_puts_several_modalities_in_one_report(tmp_path):
    from report_samples import image_explanation

    sources = []
    for name, e in (("t", text_explanation()), ("i", image_explanation()),
                    ("r", tabular_explanation())):  # fmt: skip
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(e.to_dict()), encoding="utf-8")
        sources.append(str(path))
    page = tmp_path / "all.html"
    result = invoke("render", *sources, "--out", str(page), "--out", str(tmp_path / "all.md"),
                    "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    assert re.findall(r'data-modality="(\w+)"', text) == ["text", "image", "tabular"]
    # A modality's own files need explanations of that modality only.
    refused = invoke("render", *sources, "--out", str(tmp_path / "x.npy"))
    assert refused.exit_code == 2 and not (tmp_path / "x.npy").exists()

"""The HTML report as a person sees it, in a real headless Chromium.

Skipped (with the reason) when Chromium, chromium-driver or selenium is
missing; screenshots are kept in tests/output/.
"""

from __future__ import annotations

import re

import pytest
from browser import chromium_page, console_errors, requests, screenshot
from report_samples import image_explanation, tabular_explanation, text_explanation

from lime_cli.render.html import page, report_page

pytestmark = pytest.mark.browser


def _write(tmp_path, explanations, name="report.html"):
    target = tmp_path / name
    target.write_text(page(explanations), encoding="utf-8")
    return target


def _clean(driver, path):
    assert console_errors(driver) == []
    assert requests(driver, path) == []


def test_text_report_highlights_the_explaining_words_in_document_order(tmp_path):
    from selenium.webdriver.common.by import By

    path = _write(tmp_path, [text_explanation(uncertainty=True)])
    with chromium_page(path) as driver:
        marks = driver.find_elements(By.CSS_SELECTOR, "section.label .doc mark")
        # "cheap" has weight 0: not marked; "pills" twice; order as in the document.
        assert [m.text for m in marks] == ["pills", "Buy", "pills", "now", "Meeting", "agenda"]
        signs = {m.text: m.get_attribute("class") for m in marks}
        assert signs == {"pills": "t", "Buy": "t", "now": "t", "Meeting": "a", "agenda": "a"}
        colour = {m.text: m.value_of_css_property("background-color") for m in marks}
        assert colour["pills"] != colour["Meeting"]  # towards and against differ
        assert colour["pills"] != colour["now"]  # stronger weight, stronger colour
        underline = {m.text: m.value_of_css_property("border-bottom-style") for m in marks}
        assert (underline["pills"], underline["Meeting"]) == ("solid", "dotted")
        title = marks[0].get_attribute("title")
        assert "+0.3100" in title and "rank 1" in title and "95%" in title
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "stability 0.83" in body and "seed 7" in body and "samples used 400" in body
        assert "95% interval" in body  # the interval column
        _clean(driver, path)
        shot = screenshot(driver, "report-text")
    assert shot.stat().st_size > 10_000


def test_image_report_shows_the_picture_numbers_and_colour_scale(tmp_path):
    from selenium.webdriver.common.by import By

    path = _write(tmp_path, [image_explanation()])
    with chromium_page(path) as driver:
        images = driver.find_elements(By.CSS_SELECTOR, "section.label img")
        assert len(images) == 2  # outlines and tint, over the picture
        for img in images:
            loaded = driver.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth", img
            )
            assert loaded == 48
        for stack in driver.find_elements(By.CSS_SELECTOR, "section.label .stack"):
            assert stack.value_of_css_property("background-image").startswith(
                'url("data:image/png;base64,'
            )
        numbers = driver.find_elements(By.CSS_SELECTOR, ".outlined .n")
        assert [(n.text, n.get_attribute("class")) for n in numbers] == [
            ("1", "n t"), ("2", "n a"), ("3", "n t")
        ]  # fmt: skip
        # Number 1 sits on superpixel 3 (bottom right), number 2 on superpixel 1 (top right).
        stack = driver.find_element(By.CSS_SELECTOR, ".outlined .stack").rect
        first, second = numbers[0].rect, numbers[1].rect
        assert first["x"] > stack["x"] + stack["width"] / 2
        assert first["y"] > stack["y"] + stack["height"] / 2
        assert second["y"] < stack["y"] + stack["height"] / 2
        scale = driver.find_element(By.CSS_SELECTOR, ".heatmap .scale")
        assert scale.is_displayed() and scale.size["width"] > 100
        labels = driver.find_element(By.CSS_SELECTOR, ".heatmap .scale-labels").text
        assert "-0.400 against" in labels and "towards +0.400" in labels
        rows = driver.find_elements(By.CSS_SELECTOR, "table.features tbody tr")
        assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == [
            "superpixel 3", "superpixel 1", "superpixel 0"
        ]  # fmt: skip
        _clean(driver, path)
        screenshot(driver, "report-image")


def test_image_report_shows_the_photo_at_its_size_with_the_unseen_parts_darkened(tmp_path):
    """The model saw the 224x224 middle of a 336x224 photo (x 56..280): the figures
    show the whole photo, its sides darkened, the numbers where the superpixels are."""
    import io

    import numpy as np
    from PIL import Image
    from selenium.webdriver.common.by import By

    path = _write(tmp_path, [image_explanation(size=48, photo=(336, 224))])
    with chromium_page(path) as driver:
        for img in driver.find_elements(By.CSS_SELECTOR, "section.label img"):
            natural = driver.execute_script(
                "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img
            )
            assert natural == [336, 224]  # the photo's size, not the model's 48x48
        stack = driver.find_element(By.CSS_SELECTOR, ".outlined .stack")
        assert stack.value_of_css_property("background-image").startswith(
            'url("data:image/jpeg;base64,'
        )
        box = stack.rect
        assert box["width"] / box["height"] == pytest.approx(1.5, abs=0.02)
        first = driver.find_elements(By.CSS_SELECTOR, ".outlined .n")[0].rect
        centre_x = first["x"] + first["width"] / 2
        assert box["x"] + box["width"] / 2 < centre_x < box["x"] + box["width"] * 280 / 336
        assert "the photo (336×224)" in driver.find_element(By.CSS_SELECTOR, ".picture-note").text
        _clean(driver, path)
        # What a person sees: the photo's sides (never seen by the model) are darker
        # than its middle.
        ratio = driver.execute_script("return window.devicePixelRatio") or 1
        shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("L")
        left, top = int(box["x"] * ratio), int(box["y"] * ratio)
        right, bottom = (
            int((box["x"] + box["width"]) * ratio),
            int((box["y"] + box["height"]) * ratio),
        )
        figure = np.asarray(shot.crop((left, top, right, bottom)), dtype=float)
        width = figure.shape[1]
        side = figure[:, 2 : width * 40 // 336].mean()
        middle = figure[:, width * 70 // 336 : width * 260 // 336].mean()
        assert side < middle - 25
        screenshot(driver, "report-photo")


def test_tabular_report_puts_the_row_value_beside_each_condition(tmp_path):
    from selenium.webdriver.common.by import By

    path = _write(tmp_path, [tabular_explanation()])
    with chromium_page(path) as driver:
        rows = driver.find_elements(By.CSS_SELECTOR, "table.features tbody tr")
        cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")[1:4]] for r in rows]
        assert cells == [
            ["bill_length_mm > 48.50", "bill_length_mm = 52", "+0.5100"],
            ["sex = male", "sex = male", "-0.1000"],
            ["island = Dream", "island = Dream", "+0.2300"],
        ]
        bars = [r.find_element(By.CSS_SELECTOR, ".bar > div:nth-child(2)") for r in rows]
        widths = [b.size["width"] for b in bars]
        assert widths[0] > widths[2] > widths[1] > 0
        assert bars[1].get_attribute("class") == "neg" and bars[0].get_attribute("class") == "pos"
        _clean(driver, path)
        screenshot(driver, "report-tabular")


def test_one_page_for_many_inputs_with_contents_and_failed_checks(tmp_path):
    from selenium.webdriver.common.by import By

    failed = [{"rule": "forbid", "label": "spam", "passed": False, "feature": "pills",
               "message": "'pills' is rank 1 (weight +0.3100), within the top 10"}]  # fmt: skip
    explanations = [
        text_explanation(checks=failed),
        image_explanation(),
        tabular_explanation(),
    ]
    path = _write(tmp_path, explanations)
    with chromium_page(path) as driver:
        links = driver.find_elements(By.CSS_SELECTOR, "nav li > a:first-child")
        assert [a.text for a in links] == ["mail.txt", "quadrants.png", "penguins.csv row 0"]
        sections = driver.find_elements(By.CSS_SELECTOR, "section.input")
        assert [s.get_attribute("data-modality") for s in sections] == ["text", "image", "tabular"]
        nav = driver.find_element(By.TAG_NAME, "nav").text
        assert "1 check failed" in nav
        assert "✗ failed" in sections[0].text and "forbid" in sections[0].text
        links[2].click()
        assert driver.execute_script("return location.hash") == "#input-3"
        data = driver.execute_script(
            "return JSON.parse(document.getElementById('lime-explanations').textContent)"
        )
        assert [d["modality"] for d in data] == ["text", "image", "tabular"]
        _clean(driver, path)
        screenshot(driver, "report-many")


def test_compare_report_opens_cleanly(tmp_path):
    from selenium.webdriver.common.by import By

    a, b = text_explanation(), text_explanation()
    b.model = {**b.model, "path": "other.joblib"}
    report = {"kind": "compare", "models": [a.model, b.model],
              "inputs": [{"input": "mail.txt", "explanations": [a.to_dict(), b.to_dict()]}],
              "only_a": [{"feature": "Buy", "importance": 0.2, "other_importance": 0.0}],
              "only_b": []}  # fmt: skip
    path = tmp_path / "compare.html"
    path.write_text(report_page(report), encoding="utf-8")
    with chromium_page(path) as driver:
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "A = spam.joblib" in text and "B = other.joblib" in text
        assert "Relied on by A only (absent from B's explanations): Buy (0.200)" in text
        assert len(driver.find_elements(By.CSS_SELECTOR, "section.input")) == 2
        _clean(driver, path)


def test_the_request_and_console_checks_can_fail(tmp_path):
    """A control: a page that fetches and logs an error is caught by the same checks
    (so an empty list above means no request, not a blind check)."""
    path = tmp_path / "leaky.html"
    path.write_text('<!DOCTYPE html><img src="http://127.0.0.1:9/x.png">'
                    "<script>console.error('boom')</script>", encoding="utf-8")  # fmt: skip
    with chromium_page(path) as driver:
        assert any("boom" in m for m in console_errors(driver))
        assert "http://127.0.0.1:9/x.png" in requests(driver, path)


def test_the_report_prints(tmp_path):
    """Printing (what a person does with a report) gives a PDF, a page per input."""
    import base64

    path = _write(tmp_path, [text_explanation(), image_explanation(), tabular_explanation()])
    with chromium_page(path) as driver:
        pdf = base64.b64decode(driver.print_page())
    assert pdf.startswith(b"%PDF")
    pages = re.findall(rb"/Type\s*/Page(?![a-z])", pdf)
    assert len(pages) >= 3  # each input starts a page
    (tmp_path / "report.pdf").write_bytes(pdf)

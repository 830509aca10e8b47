"""The uncertainty in the HTML report as a person sees it, in headless Chromium.

Skipped (with the reason) like tests/test_report_browser.py when Chromium is
missing; the screenshot is kept in tests/output/.
"""

from __future__ import annotations

import pytest
from browser import chromium_page, console_errors, requests, screenshot
from test_report_uncertainty import explanation

from lime_cli.render.html import page

pytestmark = pytest.mark.browser


def test_report_shows_intervals_marks_stability_and_the_auto_run(tmp_path):
    from selenium.webdriver.common.by import By

    path = tmp_path / "report.html"
    path.write_text(page([explanation()]), encoding="utf-8")
    with chromium_page(path) as driver:
        head = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "table.features th")]
        assert head[3:5] == ["90% interval", "std. error"]
        ranks = driver.find_elements(By.CSS_SELECTOR, "table.features tbody tr td:first-child")
        assert [r.text for r in ranks] == ["1", "2 ≈", "3 ≈", "4 ?"]
        marks = driver.find_elements(By.CSS_SELECTOR, "table.features .rank-mark")
        assert "not significant at 90%" in marks[0].get_attribute("title")
        assert "top 4 is uncertain" in marks[2].get_attribute("title")
        word = driver.find_element(By.CSS_SELECTOR, ".doc mark[data-rank='1']")
        assert word.get_attribute("title").endswith("90% interval [+0.2850, +0.3350]")
        whiskers = driver.find_elements(By.CSS_SELECTOR, "table.features .bar .ci")
        assert len(whiskers) == 4 and all(w.size["width"] > 0 for w in whiskers)
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "stability 0.77" in body and "samples used 2500" in body
        assert "stopped because settled" in body and "Buy ≈ Meeting" in body
        assert console_errors(driver) == [] and requests(driver, path) == []
        shot = screenshot(driver, "report-uncertainty")
    assert shot.stat().st_size > 10_000

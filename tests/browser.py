"""Open pages in the system's headless Chromium through Selenium and chromium-driver.

Debian's ``chromium`` and ``chromium-driver`` packages (``make install-browser``
installs them); Playwright's own browser download is not reachable from the
build machines, so the system browser is driven instead. When either is
missing the tests that need them are skipped with the reason, never passed.

Screenshots go to ``tests/output/`` (ignored by git) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

OUTPUT = Path(__file__).parent / "output"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver", "chromium-driver")


def _find(names):
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_or_skip():
    """(chromium path, chromedriver path); a missing browser FAILS the test.

    ``make test`` installs the browser first, so a missing one is a broken set-up,
    not a reason to pass quietly. Only an explicit LIME_EXPLAIN_NO_BROWSER=1 (a
    machine that cannot install it) turns this into a skip that says so.
    """
    missing = None
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = "selenium is not installed (pip install -e '.[dev]')"
    chromium, driver = _find(CHROMIUM_NAMES), _find(DRIVER_NAMES)
    if missing is None and (chromium is None or driver is None):
        missing = "Chromium or chromium-driver is not installed (make install-browser)"
    if missing is not None:
        if os.environ.get("LIME_EXPLAIN_NO_BROWSER") == "1":
            pytest.skip(missing + "; skipped because LIME_EXPLAIN_NO_BROWSER=1")
        pytest.fail(missing + "; set LIME_EXPLAIN_NO_BROWSER=1 to skip the browser tests")
    return chromium, driver


@contextmanager
def chromium_page(path, *, width=1100, height=1400):
    """A headless Chromium showing the file at ``path``; yields the Selenium driver.

    Console messages and network events are recorded (``console_errors``,
    ``requests`` below). A fresh profile folder per page, removed afterwards.
    """
    chromium, driver_path = browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)  # fmt: skip
    profile = tempfile.mkdtemp(prefix="lime-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(Path(path).resolve().as_uri())
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver):
    """The page's console messages at level SEVERE (errors), as text."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def requests(driver, page_path):
    """URLs the page asked for, other than the page itself and data: URIs."""
    page = Path(page_path).resolve().as_uri()
    urls, seen_page = [], False
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") != "Network.requestWillBeSent":
            continue
        url = message["params"]["request"]["url"]
        if url == page:
            seen_page = True  # what came before is the browser's own start page
        elif seen_page and not url.startswith(_OWN):
            urls.append(url)
    assert seen_page, "the page's own request was not in the log"
    return urls


#: The browser's own pages and the page's embedded data, not requests the page makes.
_OWN = ("data:", "chrome:", "chrome-untrusted:", "devtools:")


def screenshot(driver, name):
    """Save the whole page as tests/output/NAME.png; returns the path."""
    OUTPUT.mkdir(exist_ok=True)
    target = OUTPUT / f"{name}.png"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1100, min(max(int(height), 600), 8000))
    driver.save_screenshot(os.fspath(target))
    return target

"""Headless Chromium for the HTML report's tests and benchmark (Selenium, Debian's
``chromium`` and ``chromium-driver``): :func:`browser_or_skip_reason` and :func:`open_page`."""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path
from typing import Any

CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser_or_skip_reason() -> str | None:
    """None when a headless browser can run here, else why not (a skip reason)."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install selenium)"
    if not any(shutil.which(b) for b in CHROMIUM):
        return "no Chromium here (Debian: apt-get install chromium chromium-driver)"
    if shutil.which("chromedriver") is None:
        return "no chromedriver here (Debian: apt-get install chromium-driver)"
    return None


def start(width: int = 1400, height: int = 1000):
    """A headless Chromium recording its console and its network events."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    ):
        opts.add_argument(arg)
    opts.binary_location = next(shutil.which(b) for b in CHROMIUM if shutil.which(b))
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def open_page(driver, path: Path, timeout: float = 60.0) -> float:
    """Load ``path`` and wait until its charts are drawn; the seconds it took."""
    t0 = time.perf_counter()
    driver.get(path.resolve().as_uri())
    while driver.execute_script("return document.body && document.body.dataset.ready") != "1":
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{path} not drawn after {timeout} s; console: {console(driver)}")
        time.sleep(0.05)
    return time.perf_counter() - t0


def console(driver) -> list[dict[str, Any]]:
    """The console messages logged so far."""
    return driver.get_log("browser")


def requests(driver) -> list[str]:
    """Every URL the page asked for (the DevTools protocol's Network.requestWillBeSent)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls

"""Headless Chromium for the report and MLflow UI tests (Debian's browser, no download).

``chromium_page()`` yields a Playwright page whose ``requests``/``errors`` lists collect
every request, console error and page error; ``offline=True`` aborts every http(s) request.
"""

from __future__ import annotations

import contextlib
import shutil

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@contextlib.contextmanager
def chromium_page(offline: bool = False, width: int = 1400, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.errors = []
            page.requests = []
            page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.on("request", lambda r: page.requests.append(r.url))
            if offline:
                page.route("http*://**", lambda route: route.abort())
            yield page
        finally:
            browser.close()

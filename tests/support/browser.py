"""Playwright helpers: Debian's Chromium only (never a downloaded browser), and every page
is watched for JavaScript errors."""

from __future__ import annotations

from contextlib import contextmanager

from tests.support.services import CHROMIUM_ARGS, chromium_path


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageErrors(list):
    def attach(self, page):
        page.on("pageerror", lambda e: self.append(f"pageerror: {e}"))
        page.on("console", lambda m: self.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        return page

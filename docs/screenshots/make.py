"""Screenshots of every main page at 1440×900 and 390×844, into this folder (issue 12's "done
when"): `.venv/bin/python docs/screenshots/make.py` (or `make screenshots`).

The world is tests/support/review.py's (a blind board with comparisons of 2, 4 and 6 ready
takes, a few votes, an invite), served by `python -m app serve` on a throwaway SQLite database
and shot in Debian's Chromium, one window-sized picture per page: what one screen shows.
tests/test_screenshots.py checks that every page has both pictures at these sizes."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.support import db  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.factories import seed  # noqa: E402
from tests.support.live import live_server  # noqa: E402
from tests.support.review import SIZES, add_models, build_world, main_pages, signed_out_pages  # noqa: E402
from tests.support.settings import make_settings  # noqa: E402


def shoot(page, url: str, out: Path) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    if page.locator("[data-sync-grid]").count():
        page.wait_for_selector("[data-sync-grid][data-phase=paused]", timeout=30_000)
        page.evaluate("() => document.querySelector('[data-sync-grid]').takesPlayer.seek(1.5)")
        page.wait_for_timeout(400)
    page.screenshot(path=str(out))
    print(out.relative_to(HERE.parent.parent))


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="takes-shots-"))
    settings = make_settings(db.sqlite_copy(db.sqlite_template(tmp / "template"), tmp), tmp)
    add_models(settings)
    with live_server(settings, tmp) as base, chromium() as browser:
        world = seed(settings, build_world)
        for width, height in SIZES:
            ctx = browser.new_context(viewport={"width": width, "height": height})
            ctx.add_cookies([{"name": "takes_session", "value": world["session"], "url": base}])
            page = ctx.new_page()
            for name, path in main_pages(world).items():
                shoot(page, base + path, HERE / f"{name}-{width}.png")
            ctx.clear_cookies()
            for name, path in signed_out_pages(world).items():
                shoot(page, base + path, HERE / f"{name}-{width}.png")
            ctx.close()


if __name__ == "__main__":
    main()

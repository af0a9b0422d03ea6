"""Live updates in Debian's Chromium: the takes panel, the time left, the title badge and the
"done" notification follow server-sent events — with the in-process runner (SQLite) and with
an arq worker (PostgreSQL + Redis: the worker publishes, the web process relays) — and the
board page shows a new comparison without a reload. The takes panel is folded (the review's
one-screen layout): once opened it stays open through every redraw, by the stream or by polling.

Heartbeats are 60 s in these servers, so every update the page gets within a test came
through the event bus, not a resync; and the panel's polling must stay off while the stream
is open (the stream's states redraw it)."""

from __future__ import annotations

from contextlib import contextmanager

import httpx
import pytest

from tests.fakes import free_port
from tests.support import sqlite_only
from tests.support.browser import PageErrors
from tests.support.clients import wait_for_takes_over_http
from tests.support.live import Proc, wait_http
from tests.support.settings import make_settings, settings_env

db_url = sqlite_only.sqlite_db_url  # the db_url fixture, SQLite only (the arq test runs on PostgreSQL)
SLOW = {"SSE_HEARTBEAT_S": "60"}
pytestmark = pytest.mark.browser


@contextmanager
def server(settings, log_dir, worker: bool = False):
    env = {**settings_env(settings), **SLOW}
    port = free_port()
    web = Proc(["serve", "--port", str(port)], env, log_dir / "serve.log").start()
    procs = [web] + ([Proc(["worker"], env, log_dir / "worker.log").start()] if worker else [])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, web)
        yield url
    finally:
        for p in procs:
            p.kill()


def start(url, models, prompt="a lighthouse at dusk") -> str:
    r = httpx.post(url + "/api/comparisons", json={"prompt": prompt, "models": models, "duration_s": 4,
                                                    "resolution": "360p"}, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["id"]


PANEL_SPY = """
window.panelRequests = [];
document.addEventListener("htmx:beforeRequest", e => {
  if (e.detail.elt && e.detail.elt.id === "takes") {
    const ev = e.detail.requestConfig && e.detail.requestConfig.triggeringEvent;
    window.panelRequests.push({live: window.takesLive === true, trigger: ev ? ev.type : null});
  }
});
"""


def watch(browser, url, path, **context):
    ctx = browser.new_context(**context)
    ctx.add_init_script(PANEL_SPY)
    page = ctx.new_page()
    errors = PageErrors()
    errors.attach(page)
    page.goto(url + path)
    return ctx, page, errors


def follow_to_done(page, total: int) -> None:
    page.wait_for_function("window.takesLive === true", timeout=15000)
    page.wait_for_function("document.title.startsWith('(✓)')", timeout=60000)
    page.wait_for_function(f"document.querySelector('#takes summary').textContent.includes('{total} of {total} ready')",
                           timeout=15000)
    # While the stream is open the panel does not poll (htmx makes no request for it; before
    # the stream opens, on a slow machine, it may poll once: the fallback); the stream's
    # states redraw it instead.
    requests = page.evaluate("window.panelRequests")
    assert not [r for r in requests if r["live"]], requests
    assert int(page.get_attribute("#live-actions", "data-refreshes") or 0) >= 1


@pytest.fixture
def arq_settings(pg_database, fresh_redis, tmp_path):
    from tests.support.db import pg_empty

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:   # asyncio.run in a thread: the browser's loop holds this one
        pool.submit(pg_empty, pg_database).result()
    return make_settings(pg_database, tmp_path, redis_url=fresh_redis, demo_latency_s=2.0)


def test_events_from_an_arq_worker_reach_the_page(arq_settings, sqlite_template, browser, tmp_path):
    # First in the module, asking for the SQLite template too: both databases are set up with
    # asyncio.run, which fails once Playwright's browser (module-scoped) is open.
    with server(arq_settings, tmp_path, worker=True) as url:
        cid = start(url, ["demo/aurora", "demo/ember", "demo/blocks"])
        ctx, page, errors = watch(browser, url, f"/c/{cid}")
        follow_to_done(page, 3)
        assert not errors, errors
        ctx.close()


@pytest.fixture
def slow_settings(settings):
    settings.demo_latency_s = 3.0
    return settings


def test_takes_panel_time_left_and_badge_follow_events_in_process(browser, slow_settings, tmp_path):
    with server(slow_settings, tmp_path) as url:
        wait_for_takes_over_http(url, start(url, ["demo/aurora", "demo/blocks"], "first, for the medians"))
        cid = start(url, ["demo/aurora", "demo/blocks"])
        ctx, page, errors = watch(browser, url, f"/c/{cid}")
        page.wait_for_function("[...document.querySelectorAll('[data-eta]')].some(e => "
                               "/^\\d+ s elapsed · (about \\d+ s left|any moment now)/.test(e.textContent))",
                               timeout=15000)
        assert page.title().startswith("(0/2)") or page.title().startswith("(1/2)")
        follow_to_done(page, 2)
        assert page.locator("#takes [data-eta]").count() == 0      # finished: the panel's own timings
        assert not errors, errors
        ctx.close()


FOLD_SPY = """
window.foldPaintedClosed = 0;
new MutationObserver(changes => {
  for (const change of changes) for (const node of change.addedNodes) {
    const fold = node.querySelector && node.querySelector("[data-takes-fold]");
    // frame callbacks run before the paint: a fold still closed there is seen closed
    if (fold) requestAnimationFrame(() => {
      if (window.foldOpened && fold.isConnected && !fold.open) window.foldPaintedClosed++;
    });
  }
}).observe(document, {childList: true, subtree: true});
"""


def test_the_folded_panel_stays_open_across_the_streams_redraws(browser, slow_settings, tmp_path):
    # The review layout folds the takes panel; the stream redraws it on every change of status.
    # Once opened it stays open through those redraws, without flashing closed in between.
    slow_settings.demo_latency_s = 6.0   # takes still generating once the page is up, even under load
    with server(slow_settings, tmp_path) as url:
        cid = start(url, ["demo/aurora", "demo/blocks"])
        ctx = browser.new_context()
        ctx.add_init_script(PANEL_SPY + FOLD_SPY)
        page = ctx.new_page()
        errors = PageErrors()
        errors.attach(page)
        page.goto(f"{url}/c/{cid}")
        page.wait_for_function("window.takesLive === true", timeout=15000)
        assert page.evaluate("document.querySelector('#takes [data-takes-fold]').open") is False
        assert page.locator("#takes .take-list .take").first.is_hidden()     # folded by default
        page.click("#takes summary")
        page.evaluate("window.foldOpened = true")
        before = int(page.get_attribute("#live-actions", "data-refreshes") or 0)
        follow_to_done(page, 2)
        assert int(page.get_attribute("#live-actions", "data-refreshes")) > before   # redrawn while open
        assert page.evaluate("document.querySelector('#takes [data-takes-fold]').open") is True
        page.wait_for_selector("#takes .take-list .take >> nth=1", state="visible", timeout=5000)
        assert page.evaluate("window.foldPaintedClosed") == 0
        assert not errors, errors
        ctx.close()


@pytest.mark.long(23)
def test_board_page_shows_a_new_comparison_without_reload(browser, settings, tmp_path):
    with server(settings, tmp_path) as url:
        wait_for_takes_over_http(url, start(url, ["demo/aurora"], "already there"))
        ctx, page, errors = watch(browser, url, "/b/default")
        page.wait_for_function("window.takesLive === true", timeout=15000)
        assert page.locator(".poster-card").count() == 1
        cid = start(url, ["demo/aurora"], "arrives live")
        page.wait_for_selector(f'.poster-card[data-comparison-id="{cid}"][data-status="ready"]', timeout=30000)
        assert "arrives live" in page.text_content(".poster-grid")
        assert not errors, errors
        ctx.close()


def test_notification_is_asked_once_and_shown_when_done(browser, slow_settings, tmp_path):
    with server(slow_settings, tmp_path) as url:
        cid = start(url, ["demo/aurora", "demo/blocks"])
        ctx, page, errors = watch(browser, url, f"/c/{cid}")
        page.evaluate("""() => {
            window.shown = [];
            const Real = window.Notification;
            window.Notification = class extends Real {
                constructor(title, options) { super(title, options); window.shown.push(title); }
            };
        }""")
        assert page.evaluate("Notification.permission") == "default"
        button = page.locator("#notify-me")
        button.wait_for(state="visible")
        ctx.grant_permissions(["notifications"], origin=url)
        button.click()
        page.wait_for_function("document.querySelector('#live-actions').dataset.notify === 'granted'")
        assert button.is_hidden()
        follow_to_done(page, 2)
        page.wait_for_function("document.querySelector('#live-actions').dataset.notified === 'true'")
        assert page.evaluate("window.shown") == ["Your takes are ready"]
        cid2 = start(url, ["demo/aurora"])
        page.goto(f"{url}/c/{cid2}")
        page.wait_for_function("window.takesLive === true", timeout=15000)
        assert page.locator("#notify-me").is_hidden()       # asked once: not offered again
        assert not errors, errors
        ctx.close()


def test_without_event_source_the_panel_still_polls(browser, settings, tmp_path):
    with server(settings, tmp_path) as url:
        cid = start(url, ["demo/aurora", "demo/blocks"])
        ctx = browser.new_context()
        ctx.add_init_script("delete window.EventSource")
        ctx.add_init_script(FOLD_SPY)
        page = ctx.new_page()
        errors = PageErrors()
        errors.attach(page)
        polls = []
        page.on("request", lambda r: polls.append(r.url) if "/status" in r.url else None)
        page.goto(f"{url}/c/{cid}")
        page.click("#takes summary")      # opened: it stays open through the polls' redraws
        page.evaluate("window.foldOpened = true")
        opened_at = len(polls)
        page.wait_for_function("document.querySelector('#takes summary').textContent.includes('2 of 2 ready')",
                               timeout=30000)
        assert polls and page.evaluate("window.takesLive") is None
        assert len(polls) > opened_at
        assert page.evaluate("document.querySelector('#takes [data-takes-fold]').open") is True
        assert page.evaluate("window.foldPaintedClosed") == 0
        assert not errors, errors
        ctx.close()

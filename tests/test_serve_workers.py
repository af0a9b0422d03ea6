"""`takes serve --workers 2`: two web processes on one port must act as one server — cookies
signed by one are good at the other (one signing key, made once, even with no SECRET_KEY set),
and a rate limit holds across both (each process keeps 1/N of it, app.ratelimit)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import httpx

from tests.fakes import free_port
from tests.support import ROOT
from tests.support.factories import ready_comparison
from tests.support.settings import settings_env


def _start(settings, tmp_path, port: int, **env) -> subprocess.Popen:
    """`python -m app serve --workers 2` run from tmp_path (so var/secret_key is made there),
    with no SECRET_KEY: the workers must agree on the key the first of them makes."""
    values = {k: v for k, v in settings_env(settings).items() if k != "SECRET_KEY"}
    values.update(env)
    log = (tmp_path / "serve.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "app", "serve", "--workers", "2", "--port", str(port)],
                            cwd=tmp_path, env=values, stdout=log, stderr=subprocess.STDOUT)


def _wait(url: str, proc: subprocess.Popen, tmp_path, workers: int = 2) -> None:
    """Until every worker has started: one answering is not enough, since requests sent while
    the other is still starting all go to the first (seen here: three votes, then only 429s)."""
    end = time.monotonic() + 60
    log = tmp_path / "serve.log"
    while time.monotonic() < end and proc.poll() is None:
        try:
            if httpx.get(url + "/api/models", timeout=2).status_code == 200 \
                    and log.read_text(errors="replace").count("Application startup complete.") >= workers:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not start:\n" + log.read_text(errors="replace"))


def _worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


async def test_two_workers_share_the_signing_key_and_the_vote_limit(app, settings, tmp_path):
    c = await ready_comparison(app, models=("demo/aurora", "demo/ember"))
    a, b = (t.id for t in c.takes)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(settings, tmp_path, port, VOTES_PER_MINUTE="6")   # 3 per worker
    # An async client, so this process's own app (its job runner) is not frozen while the
    # server answers; no kept-alive connections, so each request is a new connection that the
    # kernel hands to either worker. The timeout is generous: a slow answer on a loaded machine
    # is not what this test is about, and the server's log goes with any failure.
    http = httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
    try:
        await asyncio.to_thread(_wait, url, proc, tmp_path)
        assert len(_worker_pids(proc.pid)) >= 2
        keys = list((tmp_path / "var").glob("*secret_key*"))
        assert [k.name for k in keys] == ["secret_key"], keys    # one key file, no leftovers
        page = await http.get(f"/c/{c.id}")
        assert page.status_code == 200
        cookies, token = dict(page.cookies), page.headers["x-csrf-token"]
        assert "takes_voter" in cookies and "takes_csrf" in cookies
        # Exactly the page's cookies on every vote (an explicit Cookie header, which the
        # client's jar does not override): a worker that replaced them must not go unseen.
        sent = {"X-CSRF-Token": token, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        statuses = []
        try:
            for i in range(40):
                r = await http.post(f"/api/comparisons/{c.id}/votes", headers=sent,
                                    json={"kind": "pair", "take_a": a, "take_b": b, "outcome": "ab"[i % 2]})
                statuses.append(r.status_code)
                if statuses.count(201) > 3 and statuses.count(429) >= 4:
                    break
        except httpx.HTTPError as exc:
            log = (tmp_path / "serve.log").read_text(errors="replace")
            raise AssertionError(f"vote {len(statuses) + 1} failed ({exc!r}) after {statuses}:\n{log}") from exc
        # Never a 403: the worker that did not draw the page took its cookie and CSRF token.
        assert set(statuses) <= {201, 429}, statuses
        # More than one worker's share went through (so both accepted the cookie), and never
        # more than the limit: 6 a minute across the two workers.
        assert 3 < statuses.count(201) <= 6, statuses
    finally:
        await http.aclose()
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_refuses_zero_workers(tmp_path):
    r = subprocess.run([sys.executable, "-m", "app", "serve", "--workers", "0"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                                   "DATABASE_URL": f"sqlite:///{tmp_path}/t.db"})
    assert r.returncode == 2 and "--workers must be at least 1" in r.stderr

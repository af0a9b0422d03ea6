"""Clients that talk to the app as a page does, and waiting for a comparison's takes."""

from __future__ import annotations

import asyncio
import time

import httpx

DONE = ("ready", "failed", "cancelled")


def browser_like(c: httpx.AsyncClient | httpx.Client):
    """Make a cookie-keeping client (async or sync) send the CSRF token on state-changing
    requests, as a page does (htmx's hx-headers, the forms' hidden field): it remembers the
    X-CSRF-Token each response carries. CSRF itself is tested with clients that do not do this."""
    def remember(response: httpx.Response) -> None:
        if response.headers.get("x-csrf-token"):
            c.csrf_token = response.headers["x-csrf-token"]

    def send(request: httpx.Request) -> None:
        token = getattr(c, "csrf_token", None)
        if token and request.method in ("POST", "PUT", "PATCH", "DELETE") and "x-csrf-token" not in request.headers:
            request.headers["x-csrf-token"] = token

    if isinstance(c, httpx.AsyncClient):
        async def remember_async(response: httpx.Response) -> None:
            remember(response)

        async def send_async(request: httpx.Request) -> None:
            send(request)

        c.event_hooks["response"].append(remember_async)
        c.event_hooks["request"].append(send_async)
    else:
        c.event_hooks["response"].append(remember)
        c.event_hooks["request"].append(send)
    return c


def in_process_client(app, **kwargs) -> httpx.AsyncClient:
    """httpx over ASGI to `app` (its lifespan must already be running)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=kwargs.pop("base_url", "http://testserver"),
                             timeout=kwargs.pop("timeout", 30), **kwargs)


def wait_for_takes_over_http(url: str, comparison_id: str, timeout: float = 90) -> dict:
    """Poll a live server (a subprocess) until every take is ready, failed or cancelled."""
    end = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{url}/api/comparisons/{comparison_id}", timeout=10).json()
        if all(t["status"] in DONE for t in body["takes"]):
            return body
        if time.monotonic() > end:
            raise TimeoutError(body)
        time.sleep(0.2)


async def wait_for_takes(client: httpx.AsyncClient, comparison_id: str, timeout: float = 60) -> dict:
    """Poll the API until every take is ready, failed or cancelled."""
    end = time.monotonic() + timeout
    while True:
        r = await client.get(f"/api/comparisons/{comparison_id}")
        r.raise_for_status()
        body = r.json()
        if all(t["status"] in DONE for t in body["takes"]):
            return body
        if time.monotonic() > end:
            raise TimeoutError(f"takes not done: {[(t['model'], t['status']) for t in body['takes']]}")
        await asyncio.sleep(0.1)

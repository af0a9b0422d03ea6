"""A local fake of replicate.com's public model pages, for `takes prices replicate`.

Replicate publishes prices only on these pages, as JSON inside the page data. The pages below
carry that data in the shapes seen on the real site (as quoted by public projects that read it;
we could not load the site from here): `variants` with `conditions` of `{field, value}` or bare
values such as `with_audio`, a `billingConfig` with `current_tiers` whose `criteria` have
`title`s, data inside an escaped JavaScript string, a model billed per run, and a 404.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route


def per_second(price: str) -> dict:
    return {"price": price, "title": "per second of output video", "metric": "video_output_duration_seconds",
            "type": "per-unit", "description": "or N seconds for $10"}


def page(data: dict, *, escaped: bool = False) -> str:
    blob = json.dumps(data)
    if escaped:  # Next.js-style flight data: the JSON is a string inside a script call
        script = f"self.__next_f.push([1,{json.dumps(blob)}])"
    else:
        script = f"window.__DATA__ = {blob};"
    return ("<!doctype html><html><head><title>model</title><style>.a{color:red}</style></head>"
            f"<body><div id=app>{{not json}}</div><script>{script}</script>"
            f"<script>window.__DATA__2 = {blob};</script></body></html>")


PAGES: dict[str, str] = {
    # Audio on/off as bare condition values.
    "google/veo-3.1": page({"model": {"billing": {"variants": [
        {"conditions": [{"value": "with_audio"}], "prices": [per_second("$0.40")]},
        {"conditions": [{"value": "without_audio"}], "prices": [per_second("$0.20")]},
    ]}}}),
    # One flat rate.
    "kwaivgi/kling-v2.5-turbo-pro": page({"billingConfig": {"current_tiers": [
        {"criteria": [], "prices": [per_second("$0.07")]}]}}),
    # Resolution × input type; video inputs cost more and do not apply to us.
    "bytedance/seedance-2.0": page({"variants": [
        {"conditions": [{"field": "resolution", "value": r}, {"field": "input_type", "value": kind}],
         "prices": [per_second(p)]}
        for r, kind, p in [("480p", "non_video_in", "$0.05"), ("480p", "video_in", "$0.09"),
                           ("720p", "non_video_in", "$0.10"), ("720p", "video_in", "$0.18"),
                           ("1080p", "non_video_in", "$0.25"), ("1080p", "video_in", "$0.45")]]}),
    # Resolution × audio, labelled criteria, inside an escaped JS string.
    "kwaivgi/kling-v2.6": page({"billingConfig": {"current_tiers": [
        {"criteria": [{"title": "target resolution", "value": "1080p"}, {"title": "with audio", "value": False}],
         "prices": [per_second("$0.07")]},
        {"criteria": [{"title": "target resolution", "value": "1080p"}, {"title": "with audio", "value": True}],
         "prices": [per_second("$0.14")]}]}}, escaped=True),
    # Billed per run: not a per-second price.
    "minimax/hailuo-02": page({"variants": [{"prices": [{"price": "$0.48", "title": "per video"}]}]}),
    # A condition we do not know how to apply.
    "minimax/hailuo-2.3": page({"variants": [
        {"conditions": [{"field": "camera_type", "value": "front"}], "prices": [per_second("$0.05")]}]}),
    # No billing data at all.
    "lightricks/ltx-2.3-fast": "<html><body>LTX 2.3 Fast</body></html>",
}


def create_app(pages: dict[str, str] | None = None) -> Starlette:
    pages = PAGES if pages is None else pages

    async def model_page(request: Request) -> Response:
        slug = f"{request.path_params['owner']}/{request.path_params['name']}"
        if slug not in pages:
            return HTMLResponse("<h1>Not found</h1>", status_code=404)
        return HTMLResponse(pages[slug])

    return Starlette(routes=[Route("/{owner}/{name}", model_page)])

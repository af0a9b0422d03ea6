"""A local fake of fal's Platform API pricing endpoint, for `takes prices fal`.

`GET /v1/models/pricing?endpoint_id=…` as documented at
https://docs.fal.ai/platform-apis/v1/models/pricing: `Authorization: Key <key>` required, 1–50
endpoint ids (repeated parameters or comma-separated), answer
`{"prices": [{endpoint_id, unit_price, unit, currency}], "next_cursor", "has_more"}`. Endpoints
it has no price for are left out of the answer. `page_size` splits answers into pages with a
`next_cursor` (fed back as `cursor`) so the client's paging is exercised.

The PRICES below are made up for the tests, in the units fal and clients of this API name
("second", "video", "megapixels", "1000 tokens", "gpu_second"); they are not fal's rates.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

KEY = "fal-test-id:fal-test-secret"


def row(endpoint_id: str, unit_price, unit: str = "second", currency: str = "USD") -> dict:
    return {"endpoint_id": endpoint_id, "unit_price": unit_price, "unit": unit, "currency": currency}


PRICES: dict[str, dict] = {r["endpoint_id"]: r for r in [
    row("fal-ai/kling-video/v2.1/master/text-to-video", 0.28),
    row("fal-ai/kling-video/v2.1/master/image-to-video", 0.28),
    row("fal-ai/kling-video/v2.5-turbo/pro/text-to-video", 0.07, "video_second"),
    row("fal-ai/kling-video/v3/pro/text-to-video", "0.224"),                       # a numeric string
    row("fal-ai/minimax/hailuo-02/pro/text-to-video", 0.48, "6s video"),           # per video, length stated
    row("fal-ai/minimax/hailuo-02/standard/text-to-video", 0.27, "video"),         # per video, length not stated
    row("bytedance/seedance-2.0/text-to-video", 0.014, "1000 tokens"),
    row("fal-ai/ltx-2.3/text-to-video", 0.0016, "megapixels"),
    row("fal-ai/luma-dream-machine/ray-2", 0.0011, "gpu_second"),
    row("fal-ai/veo3.1", 0.40),
    row("fal-ai/veo3.1/fast", 0.15, currency="EUR"),
    row("fal-ai/wan/v2.7/text-to-video", 0.10),
    row("fal-ai/wan/v2.7/image-to-video", 0.12),
]}


@dataclass
class PricingState:
    prices: dict[str, dict] = field(default_factory=lambda: dict(PRICES))
    key: str = KEY
    page_size: int = 4
    calls: list[list[str]] = field(default_factory=list)   # endpoint ids asked for, per call


def create_app(state: PricingState | None = None) -> Starlette:
    state = state or PricingState()

    async def pricing(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Key {state.key}":
            return JSONResponse({"detail": "Invalid API key"}, status_code=401)
        ids = [part.strip() for value in request.query_params.getlist("endpoint_id")
               for part in value.split(",") if part.strip()]
        if not 1 <= len(ids) <= 50:
            return JSONResponse({"detail": "endpoint_id: provide 1-50 endpoint ids"}, status_code=422)
        state.calls.append(ids)
        found = [state.prices[i] for i in ids if i in state.prices]
        cursor = request.query_params.get("cursor")
        page = int(base64.b64decode(cursor).decode()) if cursor else 0
        chunk = found[page * state.page_size:(page + 1) * state.page_size]
        more = (page + 1) * state.page_size < len(found)
        return JSONResponse({"prices": chunk, "has_more": more,
                             "next_cursor": base64.b64encode(str(page + 1).encode()).decode() if more else None})

    return Starlette(routes=[Route("/v1/models/pricing", pricing)])

"""fal's prices, read from its Platform API into a catalog price file.

fal documents a pricing endpoint (https://docs.fal.ai/platform-apis/v1/models/pricing):

    GET https://api.fal.ai/v1/models/pricing?endpoint_id=a&endpoint_id=b   (1–50 ids per call)
    Authorization: Key $FAL_KEY
    → {"prices": [{"endpoint_id": "fal-ai/flux/dev", "unit_price": 0.025, "unit": "image",
                   "currency": "USD"}], "next_cursor": null, "has_more": false}

One row per endpoint: a price per the model's billing unit, with no breakdown by resolution or
audio (fal says the price is "per image/video with proportional adjustments for
resolution/length"; custom pricing or discounts on the account may apply). The docs give "image"
as their only example unit; fal's billing page names image, megapixel, video second and per
video; clients of the API have seen "second", "megapixel", "1000 tokens", "units" and compute
units such as "gpu_second". So `takes prices fal` keeps only what is unambiguously a price per
second of output video, or per video when the unit itself states how many seconds that video is,
and reports every other row (per video of unstated length, per megapixel or token, GPU time, a
currency other than USD) instead of guessing. Each `[[price]]` table names the API URL it came
from and the day it was read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.catalog import Catalog, ModelSpec, price_table

API_URL = "https://api.fal.ai/v1"
PRICING_PATH = "/models/pricing"
MAX_IDS = 50          # the API takes 1–50 endpoint ids per call
MAX_PAGES = 20        # next_cursor pages followed per call, a bound on a misbehaving server

_PER_SECOND = re.compile(
    r"^(?:per )?(?:(?:output|generated) )?(?:video )?(?:second|seconds|sec|secs|s)"
    r"(?: of (?:(?:output|generated) )?video)?$")
_VIDEO_WORD = re.compile(r"^(?:per )?(?:(?:output|generated) )?videos?$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?) ?(?:s|sec|secs|second|seconds)\b")
_COMPUTE = re.compile(r"\b(?:gpu|compute|machine|cpu)\b")


@dataclass(frozen=True)
class ApiPrice:
    """One row of the pricing API's answer."""

    endpoint_id: str
    unit_price: float
    unit: str
    currency: str


@dataclass
class PriceResult:
    model_id: str
    url: str                                             # the API call that priced (or failed to price) it
    fields: dict[str, Any] = field(default_factory=dict)  # price_per_second … for a [[price]] table
    problem: str = ""                                    # why there is no price, for the report
    note: str = ""                                       # what the operator should know about a price
    basis: str = ""                                      # the API's own figure, e.g. "$0.48 per '6s video'"


def pricing_url(api_url: str, endpoint_id: str) -> str:
    return f"{api_url.rstrip('/')}{PRICING_PATH}?endpoint_id={endpoint_id}"


def api_prices(payload: Any) -> list[ApiPrice]:
    """The rows of one pricing response; rows without an endpoint, a number or a unit are dropped
    (they cannot price anything)."""
    rows = payload.get("prices") if isinstance(payload, dict) else None
    out: list[ApiPrice] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        endpoint, unit, currency = row.get("endpoint_id"), row.get("unit"), row.get("currency")
        price = _number(row.get("unit_price"))
        if isinstance(endpoint, str) and isinstance(unit, str) and price is not None:
            out.append(ApiPrice(endpoint.strip(), price, unit.strip(),
                                currency.strip().upper() if isinstance(currency, str) else ""))
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+(?:\.[0-9]+)?\s*", value):
        return float(value)
    return None


def seconds_per_unit(unit: str) -> tuple[float | None, str]:
    """How many seconds of output video one billing unit is, or (None, why it cannot be said).

    "second" / "video_second" / "per second of video" → 1; a per-video unit that states its
    length ("6s video", "video (10 seconds)") → that length; anything else → None."""
    text = re.sub(r"[_\-]+", " ", unit.strip().lower())
    text = re.sub(r"\s+", " ", text).strip()
    if _PER_SECOND.match(text):
        return 1.0, ""
    if _COMPUTE.search(text):
        return None, f"billed by compute time ({unit!r}), not per second of video"
    if _VIDEO_WORD.match(text):
        return None, f"priced per video ({unit!r}) without the video's length"
    if "video" in text:
        lengths = {float(m.group(1)) for m in _DURATION.finditer(text)}
        if len(lengths) == 1 and (n := lengths.pop()) > 0:
            return n, ""
        return None, f"priced per {unit!r}: no single video length stated"
    return None, f"priced per {unit!r}, not per second of video"


def catalog_fields(spec: ModelSpec, row: ApiPrice | None) -> tuple[dict[str, Any], str, str]:
    """(price fields, problem, basis) for this model from its text-to-video endpoint's row.

    The API gives one rate per endpoint, so it becomes `price_per_second` alone: no audio rate,
    no table by resolution."""
    if row is None:
        return {}, "the pricing API returned no price for its endpoint", ""
    basis = f"${row.unit_price:g} {row.currency or '(no currency)'} per {row.unit!r}"
    if row.currency != "USD":
        return {}, f"priced in {row.currency or 'an unnamed currency'}, not USD", basis
    if row.unit_price <= 0:
        return {}, f"unit price {row.unit_price:g} is not a price", basis
    seconds, why = seconds_per_unit(row.unit)
    if seconds is None:
        return {}, why, basis
    rate = round(row.unit_price / seconds, 6)
    return {"price_per_second": rate}, "", basis


def _single_rate_note(spec: ModelSpec) -> str:
    parts = []
    if spec.audio == "optional":
        parts.append("audio on or off")
    if len(spec.resolutions) > 1:
        parts.append(f"{len(spec.resolutions)} resolutions")
    if not parts:
        return ""
    return f"one rate for {' and '.join(parts)} (the API gives no breakdown)"


async def fetch_prices(catalog: Catalog, *, api_url: str = API_URL, key: str,
                       client: httpx.AsyncClient | None = None, today: dt.date | None = None) -> list[PriceResult]:
    """Ask the pricing API about every selectable fal model's endpoints, 50 ids a call."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    specs = [s for s in catalog if s.provider == "fal" and s.selectable]
    wanted: list[str] = []
    for s in specs:
        for endpoint in (s.endpoint, s.endpoint_i2v):
            if endpoint and endpoint not in wanted:
                wanted.append(endpoint)
    own = client is None
    client = client or httpx.AsyncClient(timeout=30.0, headers={"User-Agent": "takes-prices/1 (+catalog price refresh)"})
    rows: dict[str, ApiPrice] = {}
    failures: dict[str, str] = {}
    try:
        for i in range(0, len(wanted), MAX_IDS):
            batch = wanted[i:i + MAX_IDS]
            try:
                for row in await _get_prices(client, api_url, key, batch):
                    rows.setdefault(row.endpoint_id, row)
            except (httpx.HTTPError, ValueError) as exc:
                failures.update({e: f"could not read the pricing API: {exc}" for e in batch})
    finally:
        if own:
            await client.aclose()

    results: list[PriceResult] = []
    for s in specs:
        result = PriceResult(s.id, pricing_url(api_url, s.endpoint))
        results.append(result)
        if s.endpoint in failures:
            result.problem = failures[s.endpoint]
            continue
        fields, problem, basis = catalog_fields(s, rows.get(s.endpoint))
        result.basis = basis
        if problem:
            result.problem = problem
            continue
        notes = [n for n in [_single_rate_note(s)] if n]
        other = rows.get(s.endpoint_i2v) if s.endpoint_i2v else None
        if other is not None:
            other_fields, _, other_basis = catalog_fields(s, other)
            if other_fields.get("price_per_second") != fields["price_per_second"]:
                notes.append(f"image-to-video is {other_basis}; the text-to-video rate is used")
        result.note = "; ".join(notes)
        result.fields = {**fields, "price_source": result.url, "price_date": today.isoformat()}
    return results


async def _get_prices(client: httpx.AsyncClient, api_url: str, key: str, endpoints: list[str]) -> list[ApiPrice]:
    url = f"{api_url.rstrip('/')}{PRICING_PATH}"
    headers = {"Authorization": f"Key {key}", "Accept": "application/json"}
    out: list[ApiPrice] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params: list[tuple[str, str]] = [("endpoint_id", e) for e in endpoints]
        if cursor:
            params.append(("cursor", cursor))
        response = await client.get(url, params=params, headers=headers)
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}{_error_detail(response)}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise ValueError("the answer is not JSON") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("prices"), list):
            raise ValueError("the answer has no prices list")
        out += api_prices(payload)
        cursor = payload.get("next_cursor") if isinstance(payload.get("next_cursor"), str) else None
        if not cursor:
            return out
    raise ValueError(f"more than {MAX_PAGES} pages of prices")


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") or body.get("error") or body.get("message") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("type")
    return f" ({str(detail)[:200]})" if detail else ""


def price_file(results: list[PriceResult], *, api_url: str = API_URL) -> str:
    """The `[[price]]` TOML for the models that got a price (the others are listed as comments)."""
    lines = [
        "# fal prices read from its Platform API by `takes prices fal`.",
        f"# Source: {api_url.rstrip('/')}{PRICING_PATH}?endpoint_id=<text-to-video endpoint>; each entry",
        "# names its call and the day it was read. The API gives one rate per endpoint (the rate for",
        "# your account), with no audio or resolution breakdown. Edit freely; run the command again",
        "# to refresh. Models without a price:",
    ]
    lines += [f"#   {r.model_id}: {r.problem}" + (f" [{r.basis}]" if r.basis else "")
              for r in results if r.problem] or ["#   (none)"]
    for r in results:
        if not r.fields:
            continue
        lines += ["", f"# {r.basis}" + (f"; {r.note}" if r.note else ""), *price_table(r.model_id, r.fields)]
    return "\n".join(lines) + "\n"


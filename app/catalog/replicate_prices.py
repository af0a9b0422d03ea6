"""Replicate's prices, read from its model pages into a catalog price file.

Replicate's HTTP API says nothing about price. Each public model page
(`https://replicate.com/{owner}/{name}`) embeds its billing table as JSON in the page data:
objects with a `prices` list (`{"price": "$0.40", "title": "per second of output video",
"metric": "video_output_duration_seconds", …}`) next to the conditions that select the row,
given as `conditions` / `criteria` lists of `{"field"|"title": …, "value": …}` or bare values
(`"with_audio"`, `"720p"`, `"non_video_in"`). That page is the only first-hand source, so
`takes prices replicate` reads it and writes `[[price]]` tables (see `app/catalog/__init__.py`)
with the page's URL and the day it was read; an operator can diff or edit the file.

A page is not an API: its shape can change without notice. Anything this module cannot place
(a per-run price, a condition it does not know) is reported and left out rather than guessed,
and a model it cannot price keeps "price unknown" in the form.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import httpx

from app.catalog import Catalog, ModelSpec, price_table

SITE_URL = "https://replicate.com"
MAX_PAGE_BYTES = 8 * 1024 * 1024
PER_SECOND = re.compile(r"per second of (output )?video", re.I)
_RESOLUTION = re.compile(r"^(\d{3,4}p|4k)$", re.I)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*$", re.I)


@dataclass(frozen=True)
class PageRate:
    """One row of a model page's billing table."""

    usd: float
    unit: str                                       # "per second of output video", "per video" …
    conditions: tuple[tuple[str, str], ...] = ()    # ((name, value), …); name "" when unlabelled


@dataclass
class PriceResult:
    model_id: str
    url: str
    fields: dict[str, Any] = field(default_factory=dict)  # price_per_second … for a [[price]] table
    problem: str = ""                                    # why there is no price, for the report


def page_rates(html: str) -> list[PageRate]:
    """Every billing row embedded in a model page, de-duplicated (pages repeat their data).
    Server-rendered pages may carry the data inside a JavaScript string, quotes escaped."""
    found = _page_rates(html)
    if not found and '\\"prices\\"' in html:
        found = _page_rates(html.replace('\\"', '"'))
    return found


def _page_rates(html: str) -> list[PageRate]:
    rates: dict[PageRate, None] = {}
    decoder = json.JSONDecoder()
    for m in re.finditer(r'"prices"\s*:', html):
        # Walk back to each enclosing "{" and try to decode an object from it; the nearest one
        # that decodes and holds this "prices" key is the row group with its conditions.
        start = m.start()
        for _ in range(64):
            start = html.rfind("{", 0, start)
            if start < 0:
                break
            try:
                obj, _end = decoder.raw_decode(html, start)
            except ValueError:
                continue
            if isinstance(obj, dict) and "prices" in obj:
                for rate in _rates_from(obj, ()):
                    rates[rate] = None
                break
    return list(rates)


def _rates_from(obj: Any, inherited: tuple[tuple[str, str], ...]) -> Iterable[PageRate]:
    if isinstance(obj, list):
        for item in obj:
            yield from _rates_from(item, inherited)
        return
    if not isinstance(obj, dict):
        return
    conds = inherited + _conditions(obj)
    price, unit = obj.get("price"), obj.get("title")
    if isinstance(price, str) and isinstance(unit, str):
        usd = _dollars(price)
        if usd is not None:
            yield PageRate(usd, unit.strip(), tuple(sorted(set(conds))))
    for key, value in obj.items():
        if key not in ("conditions", "criteria", "condition") and isinstance(value, (dict, list)):
            yield from _rates_from(value, conds)


def _conditions(obj: dict) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for key in ("conditions", "criteria", "condition"):
        raw = obj.get(key)
        items = raw if isinstance(raw, list) else [raw] if raw is not None else []
        for item in items:
            if isinstance(item, dict):
                name = item.get("field") or item.get("title") or item.get("name") or item.get("key") or ""
                if "value" in item:
                    out.append((str(name).strip().lower(), _text(item["value"])))
                else:
                    out.extend((str(k).strip().lower(), _text(v)) for k, v in item.items())
            elif item is not None:
                out.append(("", _text(item)))
    return tuple(out)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


def _dollars(text: str) -> float | None:
    m = re.fullmatch(r"\s*\$\s*([0-9]+(?:\.[0-9]+)?)\s*", text)
    return float(m.group(1)) if m else None


def catalog_fields(spec: ModelSpec, rates: list[PageRate]) -> tuple[dict[str, Any], str]:
    """The catalog price fields for this model from its page rows, or ({}, why not).

    Conditions understood: output resolution, audio on/off and input type (our requests never
    send a video input, so only the `non_video_in` rows apply). A row with any other condition
    makes the whole model unpriced: picking one of its rows would be a guess."""
    per_second = [r for r in rates if PER_SECOND.search(r.unit)]
    if not per_second:
        units = sorted({r.unit for r in rates})
        return {}, ("no billing table found on the page" if not units
                    else f"priced {', '.join(units)}, not per second of output video")
    table: dict[tuple[str | None, bool | None], float] = {}
    for rate in per_second:
        resolution: str | None = None
        audio: bool | None = None
        skip = False
        for name, value in rate.conditions:
            if value in ("with_audio", "without_audio"):
                audio = value == "with_audio"
            elif "audio" in name and value in ("true", "false", "yes", "no", "on", "off"):
                audio = value in ("true", "yes", "on")
            elif "resolution" in name or (not name and _RESOLUTION.match(value)):
                resolution = value
            elif value in ("video_in", "non_video_in") or name in ("input_type", "input", "input type"):
                skip = value != "non_video_in"
            else:
                return {}, f"unrecognised price condition {name or 'value'}={value!r}"
        if not skip:
            table[(resolution, audio)] = rate.usd
    if not table:
        return {}, "only rates for video inputs, which Takes does not send"

    fields: dict[str, Any] = {}
    by_resolution: dict[str, float] = {}
    resolutions = {r for r, _ in table if r}
    if resolutions:
        for res in sorted(resolutions):
            plain = table.get((res, False), table.get((res, None)))
            with_audio = table.get((res, True))
            if spec.audio == "always" and with_audio is not None:
                plain = with_audio
            if plain is not None:
                by_resolution[res] = plain
            if with_audio is not None and with_audio != plain and spec.audio != "always":
                by_resolution[f"{res}+audio"] = with_audio
        offered = [r for r in spec.resolutions if r in by_resolution]
        fields["price_per_second"] = by_resolution[offered[0] if offered else sorted(by_resolution)[0]]
        fields["price_per_second_by_resolution"] = by_resolution
    else:
        plain = table.get((None, False), table.get((None, None)))
        with_audio = table.get((None, True))
        if spec.audio == "always" and with_audio is not None:
            plain = with_audio
        if plain is None:
            plain = with_audio
        fields["price_per_second"] = plain
        if with_audio is not None and spec.audio == "optional":
            fields["price_per_second_audio"] = with_audio
    return fields, ""


async def fetch_prices(catalog: Catalog, *, site_url: str = SITE_URL, client: httpx.AsyncClient | None = None,
                       today: dt.date | None = None) -> list[PriceResult]:
    """Read the page of every selectable Replicate model in the catalog."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    own = client is None
    client = client or httpx.AsyncClient(timeout=20.0, follow_redirects=True,
                                         headers={"User-Agent": "takes-prices/1 (+catalog price refresh)"})
    results: list[PriceResult] = []
    try:
        for spec in catalog:
            if spec.provider != "replicate" or not spec.selectable:
                continue
            slug = spec.endpoint.split(":", 1)[0]
            url = f"{site_url.rstrip('/')}/{slug}"
            result = PriceResult(spec.id, url)
            results.append(result)
            if not _SLUG.match(slug):
                result.problem = f"endpoint {spec.endpoint!r} is not an owner/name slug"
                continue
            try:
                html = await _get_page(client, url)
            except (httpx.HTTPError, ValueError) as exc:
                result.problem = f"could not read the page: {exc}"
                continue
            fields, problem = catalog_fields(spec, page_rates(html))
            if problem:
                result.problem = problem
                continue
            result.fields = {**fields, "price_source": url, "price_date": today.isoformat()}
    finally:
        if own:
            await client.aclose()
    return results


async def _get_page(client: httpx.AsyncClient, url: str) -> str:
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > MAX_PAGE_BYTES:
                raise ValueError(f"page larger than {MAX_PAGE_BYTES // (1024 * 1024)} MB")
    return body.decode("utf-8", errors="replace")


def price_file(results: list[PriceResult], *, site_url: str = SITE_URL) -> str:
    """The `[[price]]` TOML for the models that got a price (the others are listed as comments)."""
    lines = [
        "# Replicate prices read from the model pages by `takes prices replicate`.",
        f"# Source: {site_url}/<owner>/<name>; each entry names its page and the day it was read.",
        "# Edit freely; run the command again to refresh. Models without a price:",
    ]
    lines += [f"#   {r.model_id}: {r.problem}" for r in results if r.problem] or ["#   (none)"]
    for r in results:
        if not r.fields:
            continue
        lines += ["", *price_table(r.model_id, r.fields)]
    return "\n".join(lines) + "\n"


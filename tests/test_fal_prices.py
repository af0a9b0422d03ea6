"""`takes prices fal`: fal's rates from its Platform API pricing endpoint (a local fake of it)
into `[[price]]` tables that the catalog, the estimate and the models page then use."""

from __future__ import annotations

import json

import pytest

from app import cli
from app.catalog import load_catalog
from app.catalog import fal_prices
from app.catalog.fal_prices import ApiPrice, api_prices, catalog_fields, fetch_prices, price_file, seconds_per_unit
from tests.fakes import serve
from tests.fakes.fal_platform import KEY, PricingState, create_app, row

CATALOG = load_catalog()


def spec(model_id: str):
    s = CATALOG.get(model_id)
    assert s is not None, model_id
    return s


@pytest.fixture
def fake():
    state = PricingState()
    with serve(create_app(state)) as url:
        yield f"{url}/v1", state


# ------------------------------------------------------------------ reading the answer
def test_api_prices_reads_rows_and_drops_what_cannot_price():
    payload = {"prices": [row("a/x", 0.1), row("a/y", "0.25", "video_second", "usd"),
                          {"endpoint_id": "a/z", "unit": "second", "currency": "USD"},      # no price
                          {"endpoint_id": "a/w", "unit_price": True, "unit": "second"},    # not a number
                          {"unit_price": 1, "unit": "second"}, "junk"],
               "next_cursor": None, "has_more": False}
    assert api_prices(payload) == [ApiPrice("a/x", 0.1, "second", "USD"),
                                   ApiPrice("a/y", 0.25, "video_second", "USD")]
    assert api_prices({"detail": "nope"}) == [] and api_prices([]) == []


@pytest.mark.parametrize("unit, seconds", [
    ("second", 1), ("seconds", 1), ("video_second", 1), ("Video Seconds", 1), ("per second of video", 1),
    ("s", 1), ("6s video", 6), ("video (10 seconds)", 10), ("5-second video", 5), ("per 5s video", 5),
])
def test_units_that_are_seconds_of_video(unit, seconds):
    assert seconds_per_unit(unit) == (seconds, "")


@pytest.mark.parametrize("unit, why", [
    ("video", "priced per video ('video') without the video's length"),
    ("videos", "priced per video ('videos') without the video's length"),
    ("gpu_second", "billed by compute time ('gpu_second'), not per second of video"),
    ("megapixels", "priced per 'megapixels', not per second of video"),
    ("1000 tokens", "priced per '1000 tokens', not per second of video"),
    ("image", "priced per 'image', not per second of video"),
    ("video 5s or 10s", "priced per 'video 5s or 10s': no single video length stated"),
    ("720p video", "priced per '720p video': no single video length stated"),
])
def test_units_that_are_not_are_reported(unit, why):
    assert seconds_per_unit(unit) == (None, why)


def test_fields_per_second_and_per_stated_video_length():
    veo = spec("fal/veo-3.1")
    assert catalog_fields(veo, ApiPrice("fal-ai/veo3.1", 0.4, "second", "USD")) == (
        {"price_per_second": 0.4}, "", "$0.4 USD per 'second'")
    fields, problem, _ = catalog_fields(spec("fal/hailuo-02-pro"), ApiPrice("x", 0.48, "6s video", "USD"))
    assert problem == "" and fields == {"price_per_second": 0.08}


def test_what_cannot_be_placed_is_reported_not_guessed():
    s = spec("fal/hailuo-02-standard")
    assert catalog_fields(s, None) == ({}, "the pricing API returned no price for its endpoint", "")
    assert catalog_fields(s, ApiPrice("x", 0.27, "video", "USD"))[1] == (
        "priced per video ('video') without the video's length")
    assert catalog_fields(s, ApiPrice("x", 0.15, "second", "EUR"))[1] == "priced in EUR, not USD"
    assert catalog_fields(s, ApiPrice("x", 0.15, "second", ""))[1] == "priced in an unnamed currency, not USD"
    assert catalog_fields(s, ApiPrice("x", 0, "second", "USD"))[1] == "unit price 0 is not a price"


# ------------------------------------------------------------------ asking the API
async def test_fetch_asks_for_every_endpoint_follows_pages_and_maps_the_rows(fake):
    url, state = fake
    results = {r.model_id: r for r in await fetch_prices(CATALOG, api_url=url, key=KEY)}
    fal_models = [m for m in CATALOG if m.provider == "fal" and m.selectable]
    assert set(results) == {m.id for m in fal_models}
    asked = {e for m in fal_models for e in (m.endpoint, m.endpoint_i2v) if e}
    assert len(state.calls) > 1 and all(set(c) == asked for c in state.calls)  # one batch, several pages

    priced = {k: r.fields["price_per_second"] for k, r in results.items() if r.fields}
    assert priced == {"fal/kling-v2.1-master": 0.28, "fal/kling-v2.5-turbo-pro": 0.07, "fal/kling-v3-pro": 0.224,
                      "fal/hailuo-02-pro": 0.08, "fal/wan-2.7": 0.10, "fal/veo-3.1": 0.40}
    veo = results["fal/veo-3.1"]
    assert veo.fields["price_source"] == f"{url}/models/pricing?endpoint_id=fal-ai/veo3.1"
    assert len(veo.fields["price_date"]) == 10
    assert veo.note == "one rate for audio on or off and 3 resolutions (the API gives no breakdown)"
    assert "image-to-video is $0.12 USD per 'second'; the text-to-video rate is used" in results["fal/wan-2.7"].note
    assert results["fal/kling-v2.1-master"].note == ""
    assert results["fal/seedance-2.0"].problem == "priced per '1000 tokens', not per second of video"
    assert results["fal/luma-ray-2"].problem == "billed by compute time ('gpu_second'), not per second of video"
    assert results["fal/veo-3.1-fast"].problem == "priced in EUR, not USD"
    assert results["fal/hailuo-2.3-pro"].problem == "the pricing API returned no price for its endpoint"


async def test_fetch_splits_endpoints_into_calls_of_at_most_the_limit(fake, monkeypatch):
    url, state = fake
    monkeypatch.setattr(fal_prices, "MAX_IDS", 5)
    results = await fetch_prices(CATALOG, api_url=url, key=KEY)
    assert state.calls and all(len(c) <= 5 for c in state.calls)
    assert len([r for r in results if r.fields]) == 6


async def test_a_refused_key_leaves_every_model_unpriced_with_the_reason(fake):
    url, _ = fake
    results = await fetch_prices(CATALOG, api_url=url, key="wrong")
    assert results and all(not r.fields for r in results)
    assert {r.problem for r in results} == {"could not read the pricing API: HTTP 401 (Invalid API key)"}


def test_price_file_lists_the_unpriced_and_keeps_the_api_figure(fake):
    import asyncio

    url, _ = fake
    text = price_file(asyncio.run(fetch_prices(CATALOG, api_url=url, key=KEY)), api_url=url)
    assert "#   fal/hailuo-02-standard: priced per video ('video') without the video's length [$0.27 USD per 'video']" in text
    assert "# $0.48 USD per '6s video'\n[[price]]\nid = \"fal/hailuo-02-pro\"\nprice_per_second = 0.08\n" in text


# ------------------------------------------------------------------ the command, end to end
def run_cli(monkeypatch, catalog_dir, *argv, key: str | None = KEY) -> int:
    monkeypatch.setenv("CATALOG_DIR", str(catalog_dir))
    if key is None:
        monkeypatch.delenv("FAL_KEY", raising=False)
    else:
        monkeypatch.setenv("FAL_KEY", key)
    from app.settings import get_settings
    get_settings.cache_clear()
    try:
        return cli.main(["prices", "fal", *argv])
    finally:
        get_settings.cache_clear()


def test_command_writes_prices_that_the_catalog_uses(fake, tmp_path, monkeypatch, capsys):
    url, _ = fake
    catalog_dir = tmp_path / "catalog.d"
    assert run_cli(monkeypatch, catalog_dir, "--api", url) == 0
    out, err = capsys.readouterr()
    # 18 fal rows: the two Kling v3 Motion Control rows (no fal price found) count as asked, unpriced
    assert "fal/hailuo-02-pro: $0.08/s" in out and "wrote 6 of 18 prices" in out
    assert "fal/kling-v3-motion-control-pro: no price (the pricing API returned no price" in err
    assert "fal/veo-3.1: $0.4/s (one rate for audio on or off and 3 resolutions" in out
    assert "fal/hailuo-02-standard: no price (priced per video ('video') without the video's length)" in err

    c = load_catalog(catalog_dir)
    hailuo = c.get("fal/hailuo-02-pro")
    assert hailuo.price_source == f"{url}/models/pricing?endpoint_id=fal-ai/minimax/hailuo-02/pro/text-to-video"
    assert hailuo.price_for(6, False) == pytest.approx(0.48)
    veo = c.get("fal/veo-3.1")
    assert veo.price_per_second == 0.40 and veo.price_per_second_audio is None  # one rate: no audio surcharge
    assert c.get("fal/seedance-2.0").price_per_second is None
    assert c.get("fal/kling-v2.1-master").price_date != "2026-11"  # the API's reading replaced the quoted one
    assert "#   fal/seedance-2.0: priced per '1000 tokens'" in (catalog_dir / "fal-prices.toml").read_text()


def test_command_writes_nothing_when_nothing_is_priced(tmp_path, monkeypatch, capsys):
    out_file = tmp_path / "prices.toml"
    out_file.write_text("# kept\n")
    with serve(create_app(PricingState(prices={}))) as url:
        assert run_cli(monkeypatch, tmp_path / "catalog.d", "--api", f"{url}/v1", "--out", str(out_file)) == 1
    assert out_file.read_text() == "# kept\n"
    err = capsys.readouterr().err
    assert "no prices found" in err and "fal/veo-3.1: no price (the pricing API returned no price" in err


def test_command_needs_a_key(tmp_path, monkeypatch, capsys):
    assert run_cli(monkeypatch, tmp_path / "catalog.d", "--api", "http://127.0.0.1:9/v1", key=None) == 2
    assert "FAL_KEY is not set" in capsys.readouterr().err
    assert not (tmp_path / "catalog.d" / "fal-prices.toml").exists()


def test_command_dry_run_prints_and_writes_nothing(fake, tmp_path, monkeypatch, capsys):
    url, _ = fake
    assert run_cli(monkeypatch, tmp_path / "catalog.d", "--api", url, "--dry-run") == 0
    assert '[[price]]\nid = "fal/veo-3.1"' in capsys.readouterr().out
    assert not (tmp_path / "catalog.d" / "fal-prices.toml").exists()


async def test_models_page_and_estimate_use_the_price_file(fake, db_url, tmp_path):
    """The same file, read by a running app: /models shows the API call it came from and the
    form's estimate prices a fal take at the API's rate."""
    import httpx

    from app.main import create_app as create_takes
    from tests.support.settings import make_settings

    url, _ = fake
    results = await fetch_prices(load_catalog(), api_url=url, key=KEY)
    catalog_dir = tmp_path / "catalog.d"
    catalog_dir.mkdir()
    (catalog_dir / "fal-prices.toml").write_text(price_file(results, api_url=url))
    settings = make_settings(db_url, tmp_path, catalog_dir=catalog_dir, fal_key=KEY)
    application = create_takes(settings)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as c:
            page_html = (await c.get("/models")).text
            assert f"{url}/models/pricing?endpoint_id=fal-ai/minimax/hailuo-02/pro/text-to-video" in page_html
            models = {m["id"]: m for m in (await c.get("/api/models")).json()}
            assert models["fal/hailuo-02-pro"]["price_per_second"] == 0.08
            est = (await c.get("/api/estimate", params={"models": ["fal/hailuo-02-pro", "fal/kling-v3-pro"],
                                                        "duration_s": 6, "resolution": "1080p"})).json()
            assert est["cost_usd"] == pytest.approx(6 * 0.08 + 6 * 0.224), json.dumps(est)

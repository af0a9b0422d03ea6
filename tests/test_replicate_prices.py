"""`takes prices replicate`: Replicate's prices read from its model pages (a local fake of them)
into `[[price]]` tables that the catalog, the estimate and the models page then use."""

from __future__ import annotations

import json
import logging

import pytest

from app import cli
from app.catalog import load_catalog
from app.catalog.replicate_prices import PageRate, catalog_fields, page_rates
from tests.fakes import serve
from tests.fakes.replicate_site import PAGES, create_app, page, per_second

CATALOG = load_catalog()


def spec(model_id: str):
    s = CATALOG.get(model_id)
    assert s is not None, model_id
    return s


@pytest.fixture(scope="module")
def site():
    with serve(create_app()) as url:
        yield url


# ------------------------------------------------------------------ reading a page
def test_page_rates_reads_bare_and_labelled_conditions():
    veo = sorted(page_rates(PAGES["google/veo-3.1"]), key=lambda r: r.usd)
    assert veo == [PageRate(0.20, "per second of output video", (("", "without_audio"),)),
                   PageRate(0.40, "per second of output video", (("", "with_audio"),))]
    kling = page_rates(PAGES["kwaivgi/kling-v2.6"])  # escaped inside a JS string
    assert sorted((r.usd, r.conditions) for r in kling) == [
        (0.07, (("target resolution", "1080p"), ("with audio", "false"))),
        (0.14, (("target resolution", "1080p"), ("with audio", "true")))]
    assert len(page_rates(PAGES["bytedance/seedance-2.0"])) == 6  # the page repeats its data: no doubles
    assert page_rates(PAGES["lightricks/ltx-2.3-fast"]) == []
    assert page_rates("<p>{{ broken {\"prices\": [}</p>") == []


def test_fields_for_audio_and_flat_rates():
    fields, problem = catalog_fields(spec("replicate/veo-3.1"), page_rates(PAGES["google/veo-3.1"]))
    assert problem == "" and fields == {"price_per_second": 0.20, "price_per_second_audio": 0.40}
    fields, _ = catalog_fields(spec("replicate/kling-v2.5-turbo-pro"), page_rates(PAGES["kwaivgi/kling-v2.5-turbo-pro"]))
    assert fields == {"price_per_second": 0.07}


def test_fields_by_resolution_ignore_video_input_rates():
    fields, problem = catalog_fields(spec("replicate/seedance-2.0"), page_rates(PAGES["bytedance/seedance-2.0"]))
    assert problem == ""
    assert fields["price_per_second_by_resolution"] == {"1080p": 0.25, "480p": 0.05, "720p": 0.10}
    assert fields["price_per_second"] == 0.05  # the first resolution the model offers


def test_fields_by_resolution_and_audio():
    fields, _ = catalog_fields(spec("replicate/kling-v2.6"), page_rates(PAGES["kwaivgi/kling-v2.6"]))
    assert fields["price_per_second_by_resolution"] == {"1080p": 0.07, "1080p+audio": 0.14}


def test_what_cannot_be_placed_is_reported_not_guessed():
    assert catalog_fields(spec("replicate/hailuo-02"), page_rates(PAGES["minimax/hailuo-02"])) == (
        {}, "priced per video, not per second of output video")
    assert catalog_fields(spec("replicate/hailuo-2.3"), page_rates(PAGES["minimax/hailuo-2.3"])) == (
        {}, "unrecognised price condition camera_type='front'")
    assert catalog_fields(spec("replicate/ltx-2.3-fast"), []) == ({}, "no billing table found on the page")
    video_only = page({"variants": [{"conditions": [{"field": "input_type", "value": "video_in"}],
                                     "prices": [per_second("$0.30")]}]})
    assert catalog_fields(spec("replicate/veo-3.1"), page_rates(video_only))[1] == (
        "only rates for video inputs, which Takes does not send")


def test_an_always_audio_model_takes_the_audio_rate():
    always = next(m for m in CATALOG if m.audio == "always")
    fields, _ = catalog_fields(always, page_rates(PAGES["google/veo-3.1"]))
    assert fields == {"price_per_second": 0.40}


# ------------------------------------------------------------------ [[price]] tables
def write(tmp_path, text: str):
    d = tmp_path / "catalog.d"
    d.mkdir(exist_ok=True)
    (d / "prices.toml").write_text(text)
    return d


def test_price_table_sets_only_prices(tmp_path):
    d = write(tmp_path, '[[price]]\nid = "replicate/kling-v2.6"\nprice_per_second = 0.07\n'
                        'price_per_second_by_resolution = { "1080p" = 0.07, "1080p+audio" = 0.14 }\n'
                        'price_source = "our contract"\nprice_date = "2026-11-25"\n'
                        '[[price]]\nid = "fal/kling-v2.1-master"\nprice_per_second = 0.2\n'
                        'price_source = "negotiated"\nprice_date = "2026-11-01"\n')
    c = load_catalog(d)
    k = c.get("replicate/kling-v2.6")
    assert (k.price_source, k.price_date, k.durations) == ("our contract", "2026-11-25", spec("replicate/kling-v2.6").durations)
    assert k.price_for(10, False, "1080p") == pytest.approx(0.7)
    assert k.price_for(10, True, "1080p") == pytest.approx(1.4)
    fal = c.get("fal/kling-v2.1-master")
    assert fal.price_per_second == 0.2 and fal.price_per_second_by_resolution == {}
    assert fal.price_per_second_audio is None  # the old audio rate belonged to the old price


@pytest.mark.parametrize("text, message", [
    ('[[price]]\nid = "replicate/veo-3.1"\nprice_per_second = 1\nname = "x"\nprice_source = "s"\nprice_date = "d"\n',
     "keys a price cannot set: ['name']"),
    ('[[price]]\nid = "replicate/veo-3.1"\nprice_per_second = 1\n', "needs price_source and price_date"),
    ('[[price]]\nid = "replicate/veo-3.1"\nprice_per_second_by_resolution = { "8k" = 1 }\n'
     'price_source = "s"\nprice_date = "d"\n', "unknown resolutions ['8k']"),
])
def test_bad_price_tables_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_catalog(write(tmp_path, text))


def test_price_for_a_model_no_longer_in_the_catalog_is_ignored(tmp_path, caplog):
    d = write(tmp_path, '[[price]]\nid = "replicate/gone"\nprice_per_second = 1\nprice_source = "s"\nprice_date = "d"\n')
    with caplog.at_level(logging.WARNING):
        c = load_catalog(d)
    assert c.get("replicate/gone") is None and "replicate/gone" in caplog.text


# ------------------------------------------------------------------ the command, end to end
def test_command_writes_prices_that_the_app_shows(site, tmp_path, monkeypatch, capsys):
    catalog_dir = tmp_path / "catalog.d"
    monkeypatch.setenv("CATALOG_DIR", str(catalog_dir))
    from app.settings import get_settings
    get_settings.cache_clear()
    try:
        assert cli.main(["prices", "replicate", "--site", site]) == 0
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    # 17 selectable Replicate entries since replicate/ltx-2-pro (unverified, no page in the fake) was added
    assert "replicate/veo-3.1: $0.2/s, $0.4/s with audio" in out and "wrote 4 of 17 prices" in out
    assert "replicate/ltx-2-pro: no price (could not read the page: HTTP 404)" in err
    assert "replicate/hailuo-02: no price (priced per video, not per second of output video)" in err
    assert "replicate/luma-ray-3.2: no price (could not read the page: HTTP 404)" in err

    c = load_catalog(catalog_dir)
    veo = c.get("replicate/veo-3.1")
    assert veo.price_source == f"{site}/google/veo-3.1" and len(veo.price_date) == 10
    assert veo.price_for(8, True, "1080p") == pytest.approx(3.2) and veo.price_for(8, False, "1080p") == pytest.approx(1.6)
    assert c.get("replicate/hailuo-02").price_per_second is None
    text = (catalog_dir / "replicate-prices.toml").read_text()
    assert "#   replicate/hailuo-02: priced per video" in text


def test_command_writes_nothing_when_no_page_has_a_price(tmp_path, monkeypatch, capsys):
    out_file = tmp_path / "prices.toml"
    out_file.write_text("# kept\n")
    with serve(create_app({})) as url:
        assert cli.main(["prices", "replicate", "--site", url, "--out", str(out_file)]) == 1
    assert out_file.read_text() == "# kept\n"
    assert "no prices found" in capsys.readouterr().err


async def test_models_page_and_estimate_use_the_price_file(site, db_url, tmp_path):
    """The same file, read by a running app: /models shows the rate, its page and date, and
    the form's estimate prices a Replicate take."""
    import httpx

    from app.catalog.replicate_prices import fetch_prices, price_file
    from app.main import create_app as create_takes
    from tests.support.settings import make_settings

    results = await fetch_prices(load_catalog(), site_url=site)
    catalog_dir = tmp_path / "catalog.d"
    catalog_dir.mkdir()
    (catalog_dir / "replicate-prices.toml").write_text(price_file(results, site_url=site))
    settings = make_settings(db_url, tmp_path, catalog_dir=catalog_dir, replicate_api_token="r8_x")
    application = create_takes(settings)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as c:
            page_html = (await c.get("/models")).text
            assert f"{site}/google/veo-3.1" in page_html
            models = {m["id"]: m for m in (await c.get("/api/models")).json()}
            assert models["replicate/seedance-2.0"]["price_per_second_by_resolution"] == {
                "480p": 0.05, "720p": 0.10, "1080p": 0.25}
            est = (await c.get("/api/estimate", params={"models": ["replicate/seedance-2.0", "replicate/veo-3.1"],
                                                        "duration_s": 8, "resolution": "720p"})).json()
            assert est["cost_usd"] == pytest.approx(8 * 0.10 + 8 * 0.20), json.dumps(est)

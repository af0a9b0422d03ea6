"""The new-comparison picker's data (app/catalog/picker.py) and the form's kept source image
(app/uploads.py): grouping by base model, route order and labels, the per-catalog cache, and a
refused form that keeps its image for the next try (both databases)."""

from __future__ import annotations

import dataclasses
import re

from app.catalog import load_catalog
from app.catalog.picker import base_model, build_picker, families, picker_for, route_label
from tests.support.clients import wait_for_takes
from tests.support.factories import png

CATALOG = load_catalog()


def _all_available(spec):
    return spec.selectable, []


def _only(*providers):
    return lambda spec: (spec.selectable and spec.provider in providers, ["FAL_KEY"])


def test_base_model_is_the_name_without_its_route_or_the_catalog_key():
    assert base_model(CATALOG.get("fal/kling-v2.1-master")) == "Kling 2.1 Master"
    assert base_model(CATALOG.get("replicate/kling-v2.1-master")) == "Kling 2.1 Master"
    assert base_model(CATALOG.get("kling/kling-v2.1-master")) == "Kling 2.1 Master"
    assert base_model(CATALOG.get("vertex/veo-3.1")) == "Veo 3.1"
    assert base_model(CATALOG.get("google/veo-3.1")) == "Veo 3.1"
    # names that differ by provider are joined by the catalog's base_model key, not by string rules
    assert CATALOG.get("kling/kling-v3-pro").name == "Kling v3 (pro)"
    assert base_model(CATALOG.get("kling/kling-v3-pro")) == "Kling 3 Pro" == base_model(CATALOG.get("fal/kling-v3-pro"))
    # a parenthesis that is not the route stays part of the name
    spec = dataclasses.replace(CATALOG.get("fal/veo-3.1"), name="Veo 3.1 (beta) (fal)")
    assert base_model(spec) == "Veo 3.1 (beta)"
    assert base_model(dataclasses.replace(spec, name="Odd (thing)")) == "Odd (thing)"


def test_route_labels_name_the_provider_and_what_the_base_model_leaves_out():
    assert route_label(CATALOG.get("fal/kling-v2.1-master"), "Kling 2.1 Master") == "fal"
    assert route_label(CATALOG.get("fal/hailuo-02-pro"), "Hailuo 02") == "fal · Pro"
    assert route_label(CATALOG.get("replicate/luma-ray-2-720p"), "Luma Ray 2") == "Replicate · 720p"
    assert route_label(CATALOG.get("vertex/veo-3.1"), "Veo 3.1") == "Vertex AI"


def test_one_row_per_base_model_with_its_routes_working_first():
    rows = {f.name: f for f in families(CATALOG, _only("demo", "replicate"))}
    kling = rows["Kling 2.1 Master"]
    assert [r.spec.id for r in kling.routes] == ["replicate/kling-v2.1-master", "fal/kling-v2.1-master",
                                                "kling/kling-v2.1-master"]
    assert kling.default.spec.id == "replicate/kling-v2.1-master" and kling.shown
    assert [r.label for r in kling.routes] == ["Replicate", "fal", "Kling"]
    # every catalog entry is in exactly one row
    ids = [r.spec.id for f in rows.values() for r in f.routes]
    assert sorted(ids) == sorted(m.id for m in CATALOG) and len(rows) < len(ids)
    # retired-only and unavailable-only rows are collapsed; unverified-only ones too
    assert not rows["Sora 2"].shown and not rows["Sora 2"].available
    assert not rows["Kling 3 Standard"].shown              # kling/ only (no keys here), unverified
    assert rows["Aurora"].shown and rows["Aurora"].can("i2v") and rows["Ember"].can("t2v")
    assert not rows["Ember"].can("i2v")
    # shown rows come first
    order = families(CATALOG, _only("demo"))
    assert [f.shown for f in order] == sorted((f.shown for f in order), reverse=True)


def test_retired_routes_sort_last_and_unverified_ones_are_not_the_default():
    rows = {f.name: f for f in families(CATALOG, _all_available)}
    veo = rows["Veo 3.1"]
    assert veo.default.spec.id == "fal/veo-3.1"
    unverified = [r for r in veo.routes if r.spec.unverified]
    assert unverified and veo.routes.index(unverified[0]) > veo.routes.index(veo.default)
    assert unverified[0].note == "unverified: may not work"
    sora = rows["Sora 2"]
    assert all(r.note.startswith("retired") for r in sora.routes) and not sora.shown


def test_picker_data_is_built_once_per_catalog_and_providers():
    cat, other = load_catalog(), load_catalog()
    providers = object()
    calls = []

    def availability(spec):
        calls.append(spec.id)
        return spec.provider == "demo", []

    first = picker_for(cat, providers, availability, {})
    n = len(calls)
    assert n == len(cat.models)
    assert picker_for(cat, providers, availability, {}) is first and len(calls) == n
    assert picker_for(other, providers, availability, {}) is not first and len(calls) == 2 * n
    assert picker_for(cat, object(), availability, {}) is not first


def test_rules_json_carries_what_the_checks_read_and_cannot_close_its_script():
    cat = load_catalog()
    spec = cat.get("demo/aurora")
    cat.models["demo/aurora"] = dataclasses.replace(spec, name="Aurora </script><b>")
    data = build_picker(cat, _all_available, {"aspect_order": ("16:9",), "resolution_order": ("720p",)})
    assert "</script>" not in data.json and "\\u003c/script>" in data.json
    import json

    payload = json.loads(data.json)
    rules = payload["models"]["luma_agents/ray-3.2"]
    assert rules["durations"] == [5, 10] and rules["i2v_durations"] == [5]   # the adapter's rule, kept in options
    assert payload["models"]["demo/aurora"]["fractional"] is True
    assert payload["aspect_order"] == ["16:9"] and "720p" in data.resolution_options


async def test_home_shows_one_row_per_base_model(client):
    home = (await client.get("/")).text
    assert home.count('<li class="family') == len(families(CATALOG, _all_available))
    row = re.search(r'<li class="family[^"]*" data-family="kling-2-1-master".*?</li>', home, re.S).group(0)
    assert row.count("<option") == 3 and "Kling 2.1 Master (fal)" in row and "set FAL_KEY" in row
    assert 'id="more-models"' in home and 'id="picker-catalog"' in home


async def test_refused_form_keeps_its_image_for_the_next_try(client, app):
    image = png(160, 120)
    r = await client.post("/comparisons", data={"prompt": "a kite", "models": ["demo/ember"], "duration_s": "4",
                                                 "resolution": "360p", "seed": "7", "negative_prompt": ""},
                          files={"image": ("kite.png", image, "image/png")}, headers={"accept": "text/html"})
    assert r.status_code == 422 and "does not take a source image" in r.text
    token = re.search(r'name="pending_image" value="([^"]+)"', r.text).group(1)
    assert 'src="data:image/jpeg;base64,' in r.text and "kept from your last try" in r.text
    assert 'value="7"' in r.text and "a kite" in r.text
    pending = app.state.storage.path(f"pending/{token}.png")
    assert pending.read_bytes() == image
    # the next try without a new file uses the kept image; once made, the pending copy is gone
    r = await client.post("/comparisons", data={"prompt": "a kite", "models": ["demo/aurora"], "duration_s": "2",
                                                 "resolution": "360p", "pending_image": token})
    assert r.status_code == 303, r.text
    c = await wait_for_takes(client, r.headers["location"].split("/")[-1])
    assert c["source_image_url"]
    assert (await client.get(c["source_image_url"])).content == image
    assert not pending.exists()
    page = (await client.get(f"/c/{c['id']}")).text
    assert f'<img src="/media/comparisons/{c["id"]}/source"' in page


async def test_a_made_up_or_spent_pending_token_is_refused_and_writes_nothing(client):
    for token in ("../../etc/passwd", "A" * 24):
        r = await client.post("/comparisons", data={"prompt": "a kite", "models": ["demo/aurora"],
                                                     "pending_image": token}, headers={"accept": "text/html"})
        assert r.status_code == 422 and "no longer kept; choose it again" in r.text
        assert 'name="pending_image"' not in r.text
    assert "Recent comparisons" not in (await client.get("/")).text


async def test_an_image_that_is_itself_refused_is_not_kept(client, app):
    r = await client.post("/comparisons", data={"prompt": "a kite", "models": ["demo/aurora"]},
                          files={"image": ("x.png", b"not an image", "image/png")}, headers={"accept": "text/html"})
    assert r.status_code == 422 and "not a PNG, JPEG or WebP" in r.text and 'name="pending_image"' not in r.text
    assert not app.state.storage.path("pending").exists()

"""Checks before submit: the page's marks (static/picker.js, reading the catalog embedded in the
page) agree with the server's own check (app.comparisons: plan_params + model_problems, the
catalog's rules and each adapter's) on one table of cases run through both, in Chromium; and the
marks show on the page as soon as a model is chosen, with no price beside them."""

from __future__ import annotations

import json
import random

import pytest

from app.catalog import check_request, load_catalog
from app.reference import reference_problems
from app.comparisons import ComparisonInput, CheckedImage, model_problems, plan_params, validate
from app.errors import InputError
from app.providers import Providers, registry
from tests.support import sqlite_only
from tests.support.browser import PageErrors
from tests.support.factories import png
from tests.support.settings import make_settings

db_url = sqlite_only.sqlite_db_url  # the `db_url` fixture, SQLite only

pytestmark = pytest.mark.browser

CATALOG = load_catalog()
LIVE = [m for m in CATALOG if m.selectable]
VARIANTS = [
    {}, {"duration": 5}, {"duration": 7.5}, {"duration": 10}, {"duration": 4}, {"duration": 8},
    {"aspect": "9:16"}, {"aspect": "1:1"}, {"aspect": "21:9"}, {"resolution": "1080p"}, {"resolution": "480p"},
    {"resolution": "768p"}, {"image": True}, {"image": True, "duration": 10}, {"image": True, "duration": 5},
    {"audio": True}, {"negative": "blur"}, {"duration": 6, "resolution": "1080p"},
]


def cases() -> list[dict]:
    """Every selectable model alone under each variant, then seeded random groups of 2–4
    models (where the automatic duration, aspect ratio and resolution are shared choices)."""
    out = [{"models": [m.id], **v} for m in LIVE for v in VARIANTS]
    rng = random.Random(12)
    for _ in range(150):
        models = rng.sample([m.id for m in LIVE], rng.randint(2, 4))
        out.append({"models": models, **rng.choice(VARIANTS)})
    return out


CASES = cases()


def all_keys_settings(tmp_path):
    keys = {k: "test-key" for cls in registry().values() for k in cls.key_settings}
    keys["vertex_access_token"] = "test-token"   # Vertex also needs a token or credentials
    return make_settings("sqlite://", tmp_path, **keys)


def server_side(case: dict, providers: Providers, settings) -> tuple[dict, dict]:
    """(catalog-rule messages, every refusal incl. the adapters') per model id, as the form's
    submit would find them."""
    image = CheckedImage(png(640, 360), "image/png", "png", 640, 360) if case.get("image") else None
    data = ComparisonInput(prompt="a paper boat", models=case["models"], duration_s=case.get("duration"),
                           aspect_ratio=case.get("aspect"), resolution=case.get("resolution"),
                           audio=bool(case.get("audio")), negative_prompt=case.get("negative"),
                           image=image.data if image else None)
    specs = [CATALOG.get(m) for m in case["models"]]
    params = plan_params(data, specs, image)
    catalog_rules, refused = {}, {}
    for spec in specs:
        found = reference_problems([spec], None) + check_request(spec, duration_s=params.duration_for(spec.id), aspect_ratio=params.aspect_ratio,
                              resolution=params.resolution, has_image=image is not None, audio=params.audio,
                              negative_prompt=params.negative_prompt, prompt=data.prompt)
        if found:
            catalog_rules[spec.id] = found
        # no case carries a reference video: a motion-control model is refused for the lack of one
        # (a catalog rule too: app/reference.py, from the entry's reference_video_field)
        every = reference_problems([spec], None) + model_problems(spec, params, data.prompt, providers, image)
        if every:
            refused[spec.id] = every
    try:
        validate(data, CATALOG, providers, settings)
        why = None
    except InputError as exc:
        why = exc.errors
    assert (why is None) == (not refused), (case, refused, why)   # validate refuses exactly when a model does
    return catalog_rules, refused


def page_side(page, table: list[dict]) -> list[dict]:
    return page.evaluate("""async (table) => {
        const m = await import('/static/picker.js');
        const catalog = m.loadCatalog();
        return table.map((c) => m.plan(catalog, c.models, {
            duration: c.duration ?? '', aspect: c.aspect ?? '', resolution: c.resolution ?? '',
            hasImage: !!c.image, audio: !!c.audio, negative: c.negative ?? '', prompt: 'a paper boat' }).problems);
    }""", table)


def test_page_marks_agree_with_the_server_check(browser, live_app, tmp_path):
    settings = all_keys_settings(tmp_path)
    providers = Providers(settings)
    errors = PageErrors()
    page = errors.attach(browser.new_page())
    page.goto(live_app + "/")
    marks = page_side(page, CASES)
    assert len(marks) == len(CASES) > 1000
    disagree = []
    for case, client in zip(CASES, marks):
        rules, refused = server_side(case, providers, settings)
        # who is refused: as the server (catalog and adapter rules); what is said: check_request's
        # words wherever the catalog's rules refuse (an adapter rule the page knows, such as Luma
        # Agents' 5 s image-to-video, is worded by the page)
        if set(client) != set(refused) or any(client[m] != rules[m] for m in rules):
            disagree.append((case, client, rules, refused))
    assert not disagree, f"{len(disagree)} cases disagree: " + json.dumps(disagree[:5], indent=1)
    # the table is not trivially "all fine" or "all refused"
    refused_cases = sum(1 for c in marks if c)
    assert 0.2 * len(CASES) < refused_cases < 0.9 * len(CASES), refused_cases
    assert errors == []


def _estimate(page) -> str:
    return page.inner_text("#estimate strong")


def test_a_refused_choice_is_marked_at_once_and_never_priced(browser, live_app, tmp_path):
    errors = PageErrors()
    page = errors.attach(browser.new_page(viewport={"width": 1300, "height": 900}))
    page.goto(live_app + "/")
    page.fill("textarea[name=prompt]", "a kite over the dunes")
    page.fill("input[name=duration_s]", "3")
    page.check("input[name=models][value='demo/ember']")
    ember = page.locator("li.family[data-family=ember]")
    assert ember.locator("[data-marks]").inner_text() == "Ember (demo) does not support 3 s; it accepts 2, 4, 5, 6, 8, 10 s"
    assert "refuses this request" in _estimate(page) and "free" not in _estimate(page) and "$" not in _estimate(page)
    page.fill("input[name=duration_s]", "4")
    page.wait_for_function("document.querySelector('#estimate strong').textContent.includes('free')")
    assert ember.locator("[data-marks]").is_hidden()
    # a source image on a text-only model, and a fractional length on a whole-seconds one
    src = tmp_path / "src.png"
    src.write_bytes(png(320, 180))
    page.set_input_files("input[name=image]", str(src))
    assert "Ember (demo) is text-to-video only and does not take a source image" in ember.locator("[data-marks]").inner_text()
    page.check("input[name=models][value='demo/aurora']")
    assert page.locator("li.family[data-family=aurora] [data-marks]").is_hidden()
    assert "refuses this request" in _estimate(page)
    page.uncheck("input[name=models][value='demo/ember']")
    page.fill("input[name=duration_s]", "7.5")
    page.check("input[name=models][value='demo/blocks']")
    blocks = page.locator("li.family[data-family=blocks] [data-marks]").inner_text()
    assert "Blocks (demo) does not support 7.5 s; it accepts 3, 4, 5, 6, 8 s" in blocks
    page.fill("input[name=duration_s]", "4")
    page.select_option("select[name=resolution]", "1080p")
    assert "Blocks (demo) does not support 1080p; it accepts 360p, 480p, 720p" in \
        page.locator("li.family[data-family=blocks] [data-marks]").inner_text()
    assert page.locator("li.family[data-family=aurora] [data-marks]").is_hidden()   # aurora renders 1080p
    page.select_option("select[name=aspect_ratio]", "21:9")
    assert "does not support aspect ratio 21:9; it accepts 16:9, 1:1" in \
        page.locator("li.family[data-family=blocks] [data-marks]").inner_text()
    assert "refuses this request" in _estimate(page)
    page.uncheck("input[name=models][value='demo/blocks']")
    page.wait_for_function("document.querySelector('#estimate strong').textContent.includes('free')")
    # the server agrees: the same request, submitted with Blocks, is refused with the same words
    page.check("input[name=models][value='demo/blocks']")
    page.click("button[type=submit]")
    note = page.locator("#form-errors")
    assert "Blocks (demo) does not support 1080p; it accepts 360p, 480p, 720p" in note.inner_text()
    assert [e for e in errors if "422" not in e] == []

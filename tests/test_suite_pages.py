"""The suite pages over HTTP, on SQLite and PostgreSQL: paste, CSV upload and a bundled suite
previewed (rows, takes, cost, budget) with nothing written; bad lines shown with their
numbers and refused whole; create; the suite page and its controls."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import Comparison, Suite, Take
from app.suite_runs import drain

FORM = {"name": "Launch shots", "models": ["demo/aurora", "demo/blocks"], "seeds": "2", "duration_s": "4",
        "resolution": "360p", "source": "paste",
        "lines": "a woman walks through a market | character walk, crowd\n\n# skipped\na bottle turns | product"}
CSV = "prompt,tags,seed\na kite over a beach,\"sky, wind\",9\na dog runs,animal,\n"


async def rows_of(app, model) -> int:
    async with app.state.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_paste_preview_then_create(client, app, no_generation):
    r = await client.post("/suites/preview", data=FORM)
    assert r.status_code == 200, r.text
    page = r.text
    assert 'id="suite-preview"' in page and 'id="preview-prompts">2<' in page
    assert 'id="preview-comparisons">4<' in page and 'id="preview-takes">8<' in page
    assert "<td>line 1</td>" in page and "<td>line 4</td>" in page and "character walk, crowd" in page
    assert 'id="create-suite"' in page and "$0.00" in page
    assert await rows_of(app, Suite) == 0 and await rows_of(app, Comparison) == 0
    r = await client.post("/suites", data=FORM)
    assert r.status_code == 303 and r.headers["location"].startswith("/suites/")
    await drain()
    page = (await client.get(r.headers["location"])).text
    assert "Suite: Launch shots" in page and 'data-count="total">8<' in page
    assert page.count('href="/c/') == 4 and "?tag=character%20walk" in page
    assert await rows_of(app, Take) == 8 and len(set(no_generation)) == 8   # (the sweep sends some again)
    board = (await client.get("/b/default")).text     # the board lists its suites
    assert 'id="board-suites"' in board and f'<a href="{r.headers["location"]}">Launch shots</a>' in board
    assert 'href="/suites/new?board=default"' in board
    assert '<option value="default" selected>' in (await client.get("/suites/new?board=default")).text


async def test_bad_lines_are_listed_and_nothing_is_written(client, app, no_generation):
    form = {**FORM, "lines": "fine | ok\n | crowd\n" + "x" * 4100 + "\nalso fine | " + ",".join(f"t{i}" for i in range(21))}
    r = await client.post("/suites/preview", data=form)
    assert r.status_code == 422
    assert 'id="suite-errors"' in r.text and "line 2: the prompt is empty" in r.text
    assert "line 3: the prompt is 4100 characters; the limit is 4000" in r.text
    assert "line 4: 21 tags; the limit is 20 per comparison" in r.text
    assert 'id="suite-preview"' not in r.text and 'id="create-suite"' not in r.text
    r = await client.post("/suites", data=form)
    assert r.status_code == 422 and "line 2: the prompt is empty" in r.text
    assert await rows_of(app, Suite) == 0 and await rows_of(app, Comparison) == 0 and no_generation == []


async def test_csv_upload_is_kept_between_preview_and_create(client, app, no_generation):
    form = {k: v for k, v in FORM.items() if k not in ("lines", "source")}
    r = await client.post("/suites/preview", data={**form, "source": "upload"},
                          files={"file": ("shots.csv", CSV.encode(), "text/csv")})
    assert r.status_code == 200, r.text
    assert 'id="preview-prompts">2<' in r.text and "<td>9, 10</td>" in r.text and "sky, wind" in r.text
    assert 'id="kept-upload"' in r.text and "shots.csv" in r.text
    r = await client.post("/suites", data={**form, "source": "upload", "upload_text": CSV, "upload_name": "shots.csv"})
    assert r.status_code == 303
    async with app.state.db.session() as s:
        seeds = sorted((await s.execute(select(Comparison.seed))).scalars())
    assert seeds == [1, 2, 9, 10]
    bad = "prompt,colour\nx,red\n"
    r = await client.post("/suites/preview", data={**form, "source": "upload"},
                          files={"file": ("bad.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422 and "line 1: the CSV needs a header row with a `prompt` column" not in r.text
    assert "line 2: unknown column &#39;colour&#39;" in r.text


async def test_bundled_suite_preview_and_controls(client, app, no_generation):
    form = {**FORM, "source": "bundled", "bundled": "vbench-animal", "seeds": "1", "models": ["demo/aurora"]}
    r = await client.post("/suites/preview", data=form)
    assert r.status_code == 200 and 'id="preview-prompts">100<' in r.text and "… and" not in r.text
    assert "a black dog wearing halloween costume" in r.text
    r = await client.post("/suites", data=form)
    suite = r.headers["location"]
    await drain()
    r = await client.post(suite + "/pause")
    assert r.status_code == 303
    page = (await client.get(suite)).text
    assert 'id="suite-status">paused<' in page and 'id="resume-suite"' in page and "(100 paused)" in page
    assert (await client.post(suite + "/cancel")).status_code == 303
    page = (await client.get(suite)).text
    assert 'id="suite-status">cancelled<' in page and 'data-count="cancelled">100<' in page
    assert 'id="suite-actions"' not in page

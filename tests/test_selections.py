"""Saved selections ("my usual four"): kept with the account for a signed-in user
(app/selections.py, /api/selections, both databases), in the browser without one. The page's
use of them in Chromium is in tests/test_picker_browser.py."""

from __future__ import annotations

import pytest

from tests.support.factories import make_user, session_token
from tests.support.team import client_for


async def _signed_in(app, email="ann@example.com", admin=True):
    user = await make_user(app, email, admin=admin)
    return client_for(app, await session_token(app, user))


async def test_save_replace_list_and_forget(app):
    async with await _signed_in(app) as c:
        assert (await c.get("/api/selections")).json() == []
        r = await c.post("/api/selections", json={"name": " my usual four ", "models": ["demo/aurora", "demo/ember"]})
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["name"] == "my usual four" and first["models"] == ["demo/aurora", "demo/ember"]
        again = await c.post("/api/selections", json={"name": "my usual four", "models": ["demo/tape"]})
        assert again.status_code == 201 and again.json()["id"] == first["id"]          # replaced, not doubled
        await c.post("/api/selections", json={"name": "cheap ones", "models": ["demo/blocks"]})
        listed = (await c.get("/api/selections")).json()
        assert [(x["name"], x["models"]) for x in listed] == [("cheap ones", ["demo/blocks"]),
                                                              ("my usual four", ["demo/tape"])]
        home = (await c.get("/")).text
        assert 'id="saved-json"' in home and "my usual four" in home and 'data-server="1"' in home
        assert (await c.delete(f"/api/selections/{first['id']}")).status_code == 204
        assert [x["name"] for x in (await c.get("/api/selections")).json()] == ["cheap ones"]
        assert (await c.delete(f"/api/selections/{first['id']}")).status_code == 404


@pytest.mark.parametrize("body, needle", [
    ({"name": "x", "models": []}, "at least one model"),
    ({"name": "   ", "models": ["demo/aurora"]}, "needs a name"),
    ({"name": "x", "models": ["demo/aurora", "demo/aurora"]}, "listed twice"),
    ({"name": "x", "models": ["nope/unknown"]}, "unknown model 'nope/unknown'"),
    ({"name": "x" * 41, "models": ["demo/aurora"]}, "name"),
    ({"name": "x", "models": ["demo/aurora"] * 7}, "models"),
    ({"name": "x", "models": ["demo/aurora"], "extra": 1}, "extra"),
])
async def test_bad_selections_are_refused_and_write_nothing(app, body, needle):
    async with await _signed_in(app) as c:
        r = await c.post("/api/selections", json=body)
        assert r.status_code == 422 and needle in r.text, r.text
        assert (await c.get("/api/selections")).json() == []


async def test_selections_are_the_users_own(app):
    async with await _signed_in(app, "ann@example.com") as ann:
        made = (await ann.post("/api/selections", json={"name": "mine", "models": ["demo/aurora"]})).json()
    async with await _signed_in(app, "bob@example.com", admin=False) as bob:
        assert (await bob.get("/api/selections")).json() == []
        assert (await bob.delete(f"/api/selections/{made['id']}")).status_code == 404
    async with client_for(app) as anonymous:
        assert (await anonymous.get("/api/selections")).status_code == 401


async def test_without_an_account_the_page_keeps_selections_in_the_browser(client):
    home = (await client.get("/")).text                       # open mode: no accounts yet
    assert 'data-server="0"' in home and 'id="saved-json"' not in home and "kept in this browser" in home

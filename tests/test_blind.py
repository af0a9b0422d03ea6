"""What a blind board keeps from a reviewer before they vote, through every door: the page, the
JSON API, the original's download name and the vote CSV; and that an anonymous reviewer's
labels are the same before and after their first vote — on SQLite and PostgreSQL."""

import csv
import io
import re

from tests.support.factories import ready_comparison
from tests.support.team import client_for, make_team

THREE = ("demo/aurora", "demo/blocks", "demo/ember")


def _rows(r) -> list[dict]:
    assert r.status_code == 200, r.text
    return list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))


def _page_labels(html: str) -> dict[str, str]:
    """take id → label, as the player tiles show them."""
    return dict(re.findall(r'data-take-id="([a-z0-9]+)"\s+data-label="([A-Z])"', html))


async def test_the_api_shows_what_the_page_shows_until_the_vote(app):
    team = await make_team(app)
    c = await ready_comparison(app, team.board, models=THREE)
    by_model = {t.model_id: t.id for t in c.takes}
    async with team.client("voter") as voter:
        page_labels = _page_labels((await voter.get(f"/c/{c.id}")).text)
        assert len(page_labels) == 3
        body = (await voter.get(f"/api/comparisons/{c.id}")).json()
        assert body["blind"] is True and body["revealed"] is False
        assert [t["label"] for t in body["takes"]] == ["A", "B", "C"]
        # the same letters for the same takes as the page, in screen order, and nothing that names a model
        assert {t["id"]: t["label"] for t in body["takes"]} == page_labels
        for t in body["takes"]:
            assert t["model"] is None and t["model_name"] is None and t["status"] == "ready"
            assert t["video_url"] and "generation_s" not in t and "cost_usd" not in t
        assert "demo/" not in (await voter.get(f"/api/comparisons/{c.id}")).text
        # the original's file name does not give the model away either
        r = await voter.get(f"/media/takes/{by_model['demo/aurora']}/original.mp4")
        assert r.status_code == 200 and "aurora" not in r.headers["content-disposition"]
        assert r.headers["content-disposition"] == f'attachment; filename="take-{by_model["demo/aurora"]}.mp4"'
        best = body["takes"][1]["id"]
        r = await voter.post(f"/api/comparisons/{c.id}/votes", json={"kind": "best", "best": best})
        assert r.status_code == 201, r.text
        body = (await voter.get(f"/api/comparisons/{c.id}")).json()
        assert body["revealed"] is True
        assert {t["id"]: t["model"] for t in body["takes"]} == {v: k for k, v in by_model.items()}
        assert {t["id"]: t["label"] for t in body["takes"]} == page_labels   # letters stay put after the reveal
    async with team.client("owner") as owner:
        # the owner votes blind on the page too, so the API hides names from them as well
        assert (await owner.get(f"/api/comparisons/{c.id}")).json()["takes"][0]["model"] is None


async def test_an_open_board_names_models_at_once(app):
    team = await make_team(app, blind=False)
    c = await ready_comparison(app, team.board)
    async with team.client("voter") as voter:
        body = (await voter.get(f"/api/comparisons/{c.id}")).json()
        assert body["blind"] is False and {t["model"] for t in body["takes"]} == {"demo/aurora", "demo/blocks"}
        r = await voter.get(f"/media/takes/{c.takes[0].id}/original.mp4")
        assert c.takes[0].model_id.split("/")[1] in r.headers["content-disposition"]


async def test_blind_vote_csv_leaves_out_what_the_reviewer_has_not_voted_on(app):
    team = await make_team(app)
    c1 = await ready_comparison(app, team.board, prompt="first kite")
    c2 = await ready_comparison(app, team.board, prompt="second kite")
    slug = team.board.slug
    async with team.client("editor") as editor:
        for c in (c1, c2):
            a, b = (t.id for t in c.takes)
            r = await editor.post(f"/api/comparisons/{c.id}/votes", json={"take_a": a, "take_b": b, "outcome": "a"})
            assert r.status_code == 201, r.text
        # editors and owners set boards up: they get every vote
        assert sorted(r["prompt"] for r in _rows(await editor.get(f"/api/boards/{slug}/votes.csv"))) == \
            ["first kite", "second kite"]
    async with team.client("voter") as voter:
        # the editor's rows pair take ids with models: none of them before the voter has voted
        assert _rows(await voter.get(f"/api/boards/{slug}/votes.csv")) == []
        assert _rows(await voter.get("/api/votes.csv")) == []
        a, b = (t.id for t in c1.takes)
        assert (await voter.post(f"/api/comparisons/{c1.id}/votes",
                                 json={"take_a": a, "take_b": b, "outcome": "b"})).status_code == 201
        rows = _rows(await voter.get(f"/api/boards/{slug}/votes.csv"))
        assert [r["prompt"] for r in rows] == ["first kite", "first kite"]
        assert {r["judge"] for r in rows} == {"Editor", "Voter"}
        assert [r["prompt"] for r in _rows(await voter.get("/api/votes.csv"))] == ["first kite", "first kite"]
    async with team.client("owner") as owner:
        assert len(_rows(await owner.get(f"/api/boards/{slug}/votes.csv"))) == 3


async def test_best_of_n_rows_share_a_ranking_id(app):
    team = await make_team(app, blind=False)
    c = await ready_comparison(app, team.board, models=THREE)
    async with team.client("voter") as voter:
        best = c.takes[0].id
        ballot = (await voter.post(f"/api/comparisons/{c.id}/votes", json={"kind": "best", "best": best})).json()
        a, b = c.takes[1].id, c.takes[2].id
        assert (await voter.post(f"/api/comparisons/{c.id}/votes",
                                 json={"take_a": a, "take_b": b, "outcome": "tie"})).status_code == 201
        rows = _rows(await voter.get(f"/api/boards/{team.board.slug}/votes.csv"))
    best_rows = [r for r in rows if r["vote_kind"] == "best"]
    assert len(best_rows) == 2 and {r["ranking_id"] for r in best_rows} == {ballot["ballot_id"]}
    assert [r["ranking_id"] for r in rows if r["vote_kind"] == "pair"] == [""]


async def test_an_anonymous_reviewer_keeps_their_letters_through_the_first_vote(app):
    """The shuffle is seeded by the voter id: it must exist from the first page, or the vote
    would be recorded (and names revealed) in a different order than the one that was shown."""
    team = await make_team(app, visibility="link")
    c = await ready_comparison(app, team.board, models=THREE)
    async with client_for(app) as anon:
        opened = await anon.get(f"/s/{team.board.link_token}")   # the first page: it gives the voter id
        assert opened.status_code == 303 and "takes_voter=" in opened.headers.get("set-cookie", "")
        first = await anon.get(f"/c/{c.id}")
        assert "takes_voter=" not in first.headers.get("set-cookie", "")   # the same voter, not a new one
        shown = _page_labels(first.text)
        assert sorted(shown.values()) == ["A", "B", "C"]
        assert _page_labels((await anon.get(f"/c/{c.id}")).text) == shown   # no new shuffle per request
        take_b = next(t for t, label in shown.items() if label == "B")
        r = await anon.post(f"/c/{c.id}/vote", data={"kind": "best", "best": take_b, "criterion": "overall"})
        assert r.status_code == 200 and "Vote recorded" in r.text
        # the reveal names, next to B, the model of the take that was B on screen
        model_b = next(t.model_id for t in c.takes if t.id == take_b)
        name_b = app.state.catalog.get(model_b).name
        assert re.search(r'<span class="label">B</span>\s*' + re.escape(name_b), r.text), r.text
        assert _page_labels((await anon.get(f"/c/{c.id}")).text) == shown
    async with team.client("owner") as owner:
        rows = _rows(await owner.get(f"/api/boards/{team.board.slug}/votes.csv"))
    assert len(rows) == 2
    for row in rows:   # B was shown second (position 1) and is recorded there
        pos = row["position_a"] if row["take_a"] == take_b else row["position_b"]
        assert pos == "1"


async def test_media_revalidation_gets_304(app):
    team = await make_team(app, blind=False)
    c = await ready_comparison(app, team.board)
    url = f"/media/takes/{c.takes[0].id}/video.mp4"
    async with team.client("viewer") as viewer:
        r = await viewer.get(url)
        assert r.status_code == 200 and r.headers["etag"] and r.headers["last-modified"]
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        r = await viewer.get(url, headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
        assert (await viewer.get(url, headers={"If-None-Match": '"other"'})).status_code == 200
        assert (await viewer.get(url, headers={"If-Modified-Since": modified})).status_code == 304
        r = await viewer.get(url, headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        assert r.status_code == 200
        # revalidation never opens a door the access check closed
    async with team.client("outsider") as outsider:
        assert (await outsider.get(url, headers={"If-None-Match": etag})).status_code == 404


async def test_first_votes_sent_at_once_share_one_new_voter(app):
    """The id comes with the first page; its row with the first write. Two first writes at once
    (a double click, two tabs) must both land, on one voter, not fail on the row's key."""
    import asyncio

    team = await make_team(app, visibility="link")
    c = await ready_comparison(app, team.board, models=THREE)
    async with client_for(app) as anon:
        assert (await anon.get(f"/s/{team.board.link_token}")).status_code == 303
        await anon.get(f"/c/{c.id}")
        a, b, x = (t.id for t in c.takes)
        results = await asyncio.gather(*(
            anon.post(f"/api/comparisons/{c.id}/votes", json={"take_a": p, "take_b": q, "outcome": "a"})
            for p, q in ((a, b), (a, x), (b, x))))
        assert [r.status_code for r in results] == [201, 201, 201], [r.text for r in results]
    async with team.client("owner") as owner:
        rows = _rows(await owner.get(f"/api/boards/{team.board.slug}/votes.csv"))
    assert len(rows) == 3 and len({r["judge"] for r in rows}) == 1


def _tiles(html: str) -> list[str]:
    """The blind grid's tiles with what must differ (take id, letter, position, URLs) blanked."""
    out = []
    for i, raw in enumerate(re.findall(r'<figure class="tp-tile".*?</figure>', html, re.S)):
        tid, label = re.search(r'data-take-id="([a-z0-9]+)"\s+data-label="([A-Z])"', raw).groups()
        raw = raw.replace(tid, "ID")
        for real in (f"Take {label}", f"take {label}", f'data-label="{label}"', f">{label}<"):
            raw = raw.replace(real, real.replace(label, "L"))
        raw = re.sub(r'data-(index|tile)="\d"', r'data-\1="N"', raw)
        out.append(re.sub(r"(\(|\+)\d\)", r"\1N)", raw))
    return out


async def test_the_served_page_tells_blind_tiles_apart_only_by_their_letters(app):
    """Issue 12 §6, read from the HTML as served (not only what is visible): takes at 16, 24 and
    30 fps, of different lengths and sizes, one with audio — before the vote the tiles' markup
    is the same but for letters, ids and positions (no data-fps, size, length or an audio
    control only where there is sound), and neither page nor API gives those facts; after the
    vote the grid carries them."""
    from app.models import Take

    team = await make_team(app)
    c = await ready_comparison(app, team.board, models=THREE)
    facts = {"demo/aurora": (24.0, 4.0, 640, 360, False), "demo/blocks": (30.0, 5.0, 1280, 720, True),
             "demo/ember": (16.0, 3.0, 480, 270, False)}
    async with app.state.db.session() as s:
        for t in c.takes:
            row = await s.get(Take, t.id)
            row.fps, row.duration_s, row.width, row.height, row.has_audio = facts[t.model_id]
        await s.commit()
    async with team.client("voter") as voter:
        html = (await voter.get(f"/c/{c.id}")).text
        tiles = _tiles(html)
        assert len(tiles) == 3 and len(set(tiles)) == 1, tiles
        for leak in ("data-fps=", "data-duration=", "data-width=", "data-has-audio=", "tp-noaudio", "1280", "×720"):
            assert leak not in html, leak
        assert re.search(r"\d\s*fps", html) is None
        # nor the fragments the page swaps in (grid, takes panel), nor any model's name
        parts = [html] + [(await voter.get(f"/c/{c.id}/{part}")).text for part in ("grid", "status")]
        assert _tiles(parts[1]) == tiles and re.search(r"\d\s*fps", parts[2]) is None
        for name in ("Aurora", "Blocks", "Ember", "demo/"):
            assert all(name not in part for part in parts), name
        assert all(t["has_audio"] is None and t["fps"] is None
                   for t in (await voter.get(f"/api/comparisons/{c.id}")).json()["takes"])
        best = next(iter(_page_labels(html)))
        assert (await voter.post(f"/api/comparisons/{c.id}/votes", json={"kind": "best", "best": best})).status_code == 201
        after = (await voter.get(f"/c/{c.id}/grid")).text
        assert len(set(_tiles(after))) == 3 and 'data-fps="16.0"' in after and 'data-has-audio="true"' in after
        assert {t["model"]: t["has_audio"] for t in (await voter.get(f"/api/comparisons/{c.id}")).json()["takes"]} == \
            {m: f[4] for m, f in facts.items()}

"""Tags everywhere, on SQLite and PostgreSQL: normalising, editors setting them (page and
API), the leaderboard and the comparison table filtered by `?tag=`, and the per-tag winners
table (page and `?by=tag`) on a crafted board whose answer per tag is known."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import InputError
from app.leaderboard import comparison_table, leaderboard
from app.models import Board
from app.tag_leaderboard import tag_winners
from app.tags import normalise_tag, set_tags, tags_by_comparison, tags_of_board
from tests.support.factories import make_voter, ready_comparison, vote


def test_normalise_tag():
    assert normalise_tag("  Character   Walk ") == "character walk"
    for bad, why in (("", "empty"), ("a\x00b", "control character"), ("x" * 65, "the limit is 64"),
                     ("a,b", "separate tags"), ("a|b", "separate tags")):
        with pytest.raises(InputError, match=why):
            normalise_tag(bad)


async def crafted_board(app) -> tuple[Board, dict[str, list[str]]]:
    """"walk": aurora beats blocks in every one of 60 votes; "crowd": blocks wins 2 of 3."""
    made: dict[str, list[str]] = {"walk": [], "crowd": []}
    voters = [(await make_voter(app, f"r{i}")).id for i in range(10)]
    for tag, n in (("walk", 6), ("crowd", 3)):
        for k in range(n):
            # half the walk shots list blocks first: on this open board takes show in that order,
            # so aurora's lead is not confounded with the first-shown advantage
            models = ("demo/blocks", "demo/aurora") if tag == "walk" and k % 2 else ("demo/aurora", "demo/blocks")
            c = await ready_comparison(app, models=models, prompt=f"{tag} {k}", source_image=False)
            async with app.state.db.session() as s:
                await set_tags(s, c, [tag.title(), "all shots"])
            made[tag].append(c.id)
            aurora = next(t.id for t in c.takes if t.model_id == "demo/aurora")
            blocks = next(t.id for t in c.takes if t.model_id == "demo/blocks")
            for i, voter in enumerate(voters if tag == "walk" else voters[:1]):
                win = "a" if tag == "walk" or k == 2 else "b"
                await vote(app, c, voter, take_a=aurora, take_b=blocks, outcome=win)
    async with app.state.db.session() as s:
        board = (await s.execute(select(Board).where(Board.id == c.board_id))).scalar_one()
    return board, made


async def test_leaderboard_and_table_by_tag(app):
    board, made = await crafted_board(app)
    async with app.state.db.session() as s:
        assert (await tags_by_comparison(s, made["walk"][:1]))[made["walk"][0]] == ["all shots", "walk"]
        assert sorted(await tags_of_board(s, board.id)) == ["all shots", "crowd", "walk"]
        walk = await leaderboard(s, [board.id], tag="walk")
        crowd = await leaderboard(s, [board.id], tag="crowd")
        everything = await leaderboard(s, [board.id])
        assert (walk.votes, crowd.votes, everything.votes) == (60, 3, 63)
        assert walk.models[0].model == "demo/aurora" and crowd.models[0].model == "demo/blocks"
        table = {st.model: st for st in await comparison_table(s, [board.id], tag="crowd")}
        assert table["demo/blocks"].win_rate["overall"] == pytest.approx(2 / 3) and table["demo/blocks"].takes == 3
        winners = {w.tag: w for w in await tag_winners(s, [board.id])}
    assert list(winners) == ["all shots", "crowd", "walk"]
    assert winners["walk"].model == "demo/aurora" and winners["walk"].win_rate == 1.0 and winners["walk"].settled
    assert winners["crowd"].model == "demo/blocks" and not winners["crowd"].settled   # 3 votes: provisional


async def test_tags_through_the_api_and_pages(app, client):
    board, made = await crafted_board(app)
    r = await client.get(f"/api/boards/{board.slug}/leaderboard", params={"tag": "Walk", "by": "tag"})
    body = r.json()
    assert r.status_code == 200 and body["tag"] == "walk" and body["votes"] == 60
    says = {w["tag"]: w["says"] for w in body["tag_winners"]}
    assert says["walk"] == "for walk: Aurora (demo), 100 % win rate, settled"
    assert says["crowd"].startswith("for crowd: Blocks (demo), 67 % win rate, not settled")
    table = (await client.get(f"/api/boards/{board.slug}/comparison-table", params={"tag": "crowd"})).json()
    assert table["tag"] == "crowd" and {m["model"]: m["takes"] for m in table["models"]} == {
        "demo/aurora": 3, "demo/blocks": 3}
    page = (await client.get(f"/b/{board.slug}/leaderboard", params={"tag": "crowd"})).text
    assert 'id="tag-winners"' in page and "for walk: Aurora (demo), 100 % win rate, settled" in page
    assert '<option value="crowd" selected>' in page and "Only comparisons tagged <strong>crowd</strong>" in page
    assert '/leaderboard.csv?tag=crowd"' in page and '/comparison-table.csv?tag=crowd"' in page
    await _tag_csvs(client, board)
    cid = made["crowd"][0]
    r = await client.put(f"/api/comparisons/{cid}/tags", json={"tags": ["Night", "night", "rain"]})
    assert r.status_code == 200 and r.json()["tags"] == ["night", "rain"]
    r = await client.put(f"/api/comparisons/{cid}/tags", json={"tags": ["ok", "bad,tag"]})
    assert r.status_code == 422 and "separate tags" in r.json()["detail"]
    r = await client.post(f"/c/{cid}/tags", data={"tags": "dusk, Crowd"})
    assert r.status_code == 303
    async with app.state.db.session() as s:
        assert (await tags_by_comparison(s, [cid]))[cid] == ["crowd", "dusk"]
    page = (await client.get(f"/c/{cid}")).text
    assert 'id="comparison-tags"' in page and 'value="crowd, dusk"' in page


async def _tag_csvs(client, board):
    """?tag= on the leaderboard and comparison-table CSVs (one board and every board): only that
    tag's votes and takes; a bad tag is a 422 before anything streams."""
    import csv
    import io

    def rows(r):
        assert r.status_code == 200, r.text
        return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))

    walk = rows(await client.get(f"/api/boards/{board.slug}/leaderboard.csv", params={"tag": "Walk"}))
    assert {(x["model"], x["votes"], x["wins"]) for x in walk} == {("demo/aurora", "60", "60"), ("demo/blocks", "60", "0")}
    everything = rows(await client.get(f"/api/boards/{board.slug}/leaderboard.csv"))
    assert {x["votes"] for x in everything} == {"63"}
    crowd = rows(await client.get(f"/api/boards/{board.slug}/comparison-table.csv", params={"tag": "crowd"}))
    assert {(x["model"], x["takes"], x["win_rate_overall"]) for x in crowd} == {
        ("demo/blocks", "3", "0.6667"), ("demo/aurora", "3", "0.3333")}
    pooled = rows(await client.get("/api/leaderboard.csv", params={"tag": "crowd"}))
    assert {(x["board"], x["model"], x["votes"]) for x in pooled} == {
        (b, m, "3") for b in (board.slug, "*") for m in ("demo/aurora", "demo/blocks")}
    r = await client.get("/api/comparison-table.csv", params={"tag": "crowd"})
    assert r.headers["content-disposition"].endswith('takes-comparison-table-crowd.csv"')
    # a tag in any script names the file as RFC 6266 allows (a header is Latin-1; this was a 500)
    r = await client.get("/api/leaderboard.csv", params={"tag": "夜景 über"})
    assert rows(r) == [] and r.headers["content-disposition"] == (
        "attachment; filename*=utf-8''takes-leaderboard-%E5%A4%9C%E6%99%AF-%C3%BCber.csv")
    none = rows(await client.get(f"/api/boards/{board.slug}/leaderboard.csv", params={"tag": "no such tag"}))
    assert none == []
    bad = await client.get(f"/api/boards/{board.slug}/leaderboard.csv", params={"tag": "a|b"})
    assert bad.status_code == 422 and "separate tags" in bad.json()["detail"]

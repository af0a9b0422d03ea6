"""The reviewers page and JSON (owners) and check items (editors), on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import func, select

from app.models import CheckItem, Voter
from app.reviewers import krippendorff_alpha
from tests.support.factories import ready_comparison
from tests.support.team import make_team
from tests.support.votes import vote_row

A, B = "demo/aurora", "demo/blocks"


async def _checks(app) -> int:
    async with app.state.db.session() as s:
        return (await s.execute(select(func.count()).select_from(CheckItem))).scalar_one()


async def test_reviewers_and_check_items(app):
    team = await make_team(app, blind=True)
    slug = team.board.slug
    cs = [await ready_comparison(app, team.board, (A, B), f"shot {i}", False) for i in range(3)]
    take = [{t.model_id: t for t in c.takes} for c in cs]
    # two careful reviewers who think A is better everywhere
    async with app.state.db.session() as s:
        careful = [Voter(display_name="Careful one"), Voter(display_name="Careful two")]
        s.add_all(careful)
        await s.flush()
        s.add_all([vote_row(team.board, c, v.id, take[i][A], take[i][B], left_wins=(i + j) % 2 == 0)
                   for i, c in enumerate(cs) for j, v in enumerate(careful)])
        await s.commit()

    async with team.client("editor") as editor:
        page = (await editor.get(f"/c/{cs[0].id}")).text
        assert f'hx-get="/c/{cs[0].id}/check-items"' in page
        frag = (await editor.get(f"/c/{cs[0].id}/check-items")).text
        assert 'data-check-form="overall"' in frag and "Aurora (demo)" not in frag, "blind: labels until revealed"
        # bad input: refused with a message, nothing written
        r = await editor.put(f"/api/comparisons/{cs[0].id}/check-items/overall",
                             json={"expected_take": take[1][A].id})
        assert r.status_code == 422 and "not part of this comparison" in r.json()["detail"]
        r = await editor.put(f"/api/comparisons/{cs[0].id}/check-items/vibes", json={"expected_take": take[0][A].id})
        assert r.status_code == 422 and "unknown criterion" in r.json()["detail"]
        r = await editor.put(f"/api/comparisons/{cs[0].id}/check-items/overall", json={"expected_take": 3})
        assert r.status_code == 422
        r = await editor.post(f"/c/{cs[0].id}/check-items", data={"criterion": "overall", "expected_take": "nope"})
        assert r.status_code == 422 and 'role="alert"' in r.text and "not part of this comparison" in r.text
        assert await _checks(app) == 0
        # marked through the API and through the page
        r = await editor.put(f"/api/comparisons/{cs[0].id}/check-items/overall", json={"expected_take": take[0][A].id})
        assert r.status_code == 200 and r.json() == {"comparison": cs[0].id, "criterion": "overall",
                                                     "expected_take": take[0][A].id}
        r = await editor.post(f"/c/{cs[1].id}/check-items", data={"criterion": "overall",
                                                                  "expected_take": take[1][A].id})
        assert r.status_code == 200 and "Check item saved." in r.text and "selected" in r.text
        assert await _checks(app) == 2
        assert (await editor.get(f"/b/{slug}/reviewers")).status_code == 403, "owners only"

    async with team.client("voter") as voter:
        assert "check-items" not in (await voter.get(f"/c/{cs[0].id}")).text, "reviewers are not told"
        r = await voter.put(f"/api/comparisons/{cs[0].id}/check-items/overall", json={"expected_take": None})
        assert r.status_code == 403
        for i, c in enumerate(cs):     # the voter thinks B is better: against the others and the check items
            r = await voter.post(f"/api/comparisons/{c.id}/votes",
                                 json={"take_a": take[i][A].id, "take_b": take[i][B].id, "outcome": "b"})
            assert r.status_code == 201
        assert (await voter.get(f"/api/boards/{slug}/reviewers")).status_code == 403

    async with team.client("owner") as owner:
        body = (await owner.get(f"/api/boards/{slug}/reviewers")).json()
        assert body["total"] == 3 and body["check_items"] == 2
        by = {r["name"]: r for r in body["reviewers"]}
        assert set(by) == {"Careful one", "Careful two", "Voter"}
        v = by["Voter"]
        assert (v["voted"], v["total"], v["check_right"], v["check_answered"]) == (3, 3, 0, 2)
        assert v["agreement"]["overall"] == {"agreed": 0, "units": 3, "rate": 0.0}
        # for a careful one the others split (one A, one B): no majority to agree with
        assert by["Careful one"]["agreement"] == {} and by["Careful one"]["agreement_rate"] is None
        assert by["Careful one"]["check_accuracy"] == 1.0 and by["Careful one"]["left_share"] is not None
        # each pair: two answers for A's take, one for B's, said as "first"/"second" by take id
        units = [["first" if take[i][A].id < take[i][B].id else "second"] * 2
                 + ["second" if take[i][A].id < take[i][B].id else "first"] for i in range(3)]
        alpha = krippendorff_alpha(units)
        assert body["alpha_units"]["overall"] == 3
        assert body["alpha"]["overall"] == (None if alpha is None else round(alpha, 4))
        page = (await owner.get(f"/b/{slug}/reviewers")).text
        assert 'id="reviewers-table"' in page and "Careful one" in page and "0 / 2" in page
        assert 'id="board-reviewers"' in (await owner.get(f"/b/{slug}")).text
        # un-marking through the API
        r = await owner.put(f"/api/comparisons/{cs[0].id}/check-items/overall", json={"expected_take": None})
        assert r.status_code == 200 and r.json()["expected_take"] is None and await _checks(app) == 1

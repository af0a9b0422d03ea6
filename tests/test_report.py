"""The board report (app/report.py, /b/{slug}/report) over HTTP, on SQLite and PostgreSQL;
the print rendering is tests/test_report_browser.py."""

from __future__ import annotations

from app.report import build_report, close_calls_from
from tests.support.report_board import report_board
from tests.support.team import make_team
from tests.support.factories import ready_comparison
from tests.support.votes import crafted_votes


async def test_report_page_has_every_section(client, app):
    board, cs = await report_board(app)
    r = await client.get("/b/rep/report")
    assert r.status_code == 200
    page = r.text
    for section in ('id="report-leaderboard"', 'id="decisions"', 'id="report-costs"', 'id="report-close-calls"'):
        assert section in page, section
    assert "Aurora (demo) beats Ember (demo): settled" in page and "the top model is settled" in page.lower()
    assert 'rel="stylesheet" href="/static/report.css"' in page and "class=\"crumbs no-print\"" in page
    # the closest call is the last comparison, its posters shown
    close = page[page.index('id="report-close-calls"'):]
    assert f'data-comparison="{cs[5].id}"' in close.split("</li>")[0]
    assert "/poster.jpg" in close
    costs = page[page.index('id="report-costs"'):page.index('id="report-close-calls"')]
    assert "1.00" in costs and "(6/6 accepted)" in costs and "none accepted" in costs
    assert (await client.get("/b/nope/report")).status_code == 404
    assert 'id="board-report"' in (await client.get("/b/rep")).text


async def test_report_function_takes_a_comparison_filter(app):
    board, cs = await report_board(app, slug="rep2")
    names = {"demo/aurora": "Aurora", "demo/ember": "Ember", "demo/blocks": "Blocks"}.get
    async with app.state.db.session() as s:
        whole = await build_report(s, board, names)
        part = await build_report(s, board, names, comparison_ids=[cs[5].id])
    assert whole.comparisons == 6 and part.comparisons == 1
    assert whole.ranking.votes == 96 and part.ranking.votes == 4
    assert [cc.comparison.id for cc in part.close_calls] == [cs[5].id]
    assert {st.model for st in part.table} == set(names.__self__) and all(st.takes == 1 for st in part.table)
    assert whole.verdicts[0].decisions.top.model == "demo/aurora"


def test_close_calls_order():
    counts = {"even": {"x": [2.0, 4], "y": [2.0, 4]}, "clear": {"x": [4.0, 4], "y": [0.0, 4]},
              "one": {"x": [1.0, 1], "y": [0.0, 1]}, "tie3": {"x": [1.0, 2], "y": [1.0, 2], "z": [0.0, 0]}}
    got = close_calls_from(counts)
    assert [g[0] for g in got] == ["even", "tie3", "clear"], "closest first, more votes first, one vote left out"
    assert got[0][1] == 0.0 and got[0][2] == 4 and got[2][1] == 1.0


async def test_blind_reviewer_reads_places(app):
    team = await make_team(app, blind=True)
    cs = [await ready_comparison(app, team.board, ("demo/aurora", "demo/blocks"), f"s{i}", False) for i in range(2)]
    await crafted_votes(app, team.board, cs, [("demo/aurora", "demo/blocks", 6)])
    async with team.client("voter") as voter:
        page = (await voter.get(f"/b/{team.board.slug}/report")).text
        assert 'id="report-names-hidden"' in page and "#1" in page
        assert "Aurora" not in page and "Blocks" not in page
    async with team.client("owner") as owner:
        page = (await owner.get(f"/b/{team.board.slug}/report")).text
        assert "Aurora (demo)" in page and 'id="report-names-hidden"' not in page


async def test_a_suites_report_covers_only_its_comparisons(client, app):
    """/suites/{id}/report: the board report over the suite's comparisons — their votes, takes,
    tags and close calls, not the rest of the board's."""
    from sqlalchemy import update

    from app.models import Comparison, Suite
    from app.tags import set_tags

    board, cs = await report_board(app, slug="rep3")
    async with app.state.db.session() as s:
        suite = Suite(board_id=board.id, name="herons", models=["demo/aurora", "demo/ember", "demo/blocks"], prompts=3)
        s.add(suite)
        await s.flush()
        await s.execute(update(Comparison).where(Comparison.id.in_([c.id for c in cs[3:]])).values(suite_id=suite.id))
        await s.commit()
        for c in cs:
            await set_tags(s, c, ["pier"] if c in cs[3:] else ["outside the suite"])
        expected = await build_report(s, board, str, comparison_ids=[c.id for c in cs[3:]])
    assert expected.comparisons == 3 and 0 < expected.ranking.votes < 96
    r = await client.get(f"/suites/{suite.id}/report")
    assert r.status_code == 200, r.text
    page = r.text
    assert 'id="report-title">Suite herons: report' in page and 'id="report-scope"' in page
    assert f"3 comparisons · {expected.ranking.votes} pairwise votes" in page
    assert 'data-tag="pier"' in page and "outside the suite" not in page
    close = page[page.index('id="report-close-calls"'):]
    assert f'data-comparison="{cs[5].id}"' in close and f'data-comparison="{cs[0].id}"' not in close
    costs = page[page.index('id="report-costs"'):page.index('id="report-close-calls"')]
    assert "(3/3 accepted)" in costs
    assert f'href="/suites/{suite.id}/report"' in (await client.get(f"/suites/{suite.id}")).text
    assert (await client.get("/suites/nosuchsuite/report")).status_code == 404

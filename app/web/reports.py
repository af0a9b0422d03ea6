"""The printable reports: of a board (/b/{slug}/report) and of one suite (/suites/{id}/report),
both over app.report.build_report — a suite's is the board's restricted to the suite's
comparisons (its votes, takes, tags and close calls only). Their JSON side is the leaderboard,
decisions and comparison-table API they are made of (a suite's: `?tag=` or the suite's
`comparisons` ids). They name models throughout; on a blind board a reviewer still voting reads
"#1", "#2" … (leaderboard places) instead, as in the decisions (app/blind.py rule 9)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import leaderboard as lb
from app.access import Actor, board_for, suite_for
from app.blind import decisions_named_for
from app.models import Board, Comparison, Suite
from app.report import build_report
from app.tags import tags_by_board_comparison, tags_by_comparison
from app.web.identity import ActorDep, voter_of
from app.web.leaderboard import charts
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import model_name

router = APIRouter()


def hidden_names(r, models) -> dict[str, str]:
    """"#1", "#2" … by leaderboard place; a model without votes is "an unrated model"."""
    place = {m.model: f"#{i + 1}" for i, m in enumerate(r.models)}
    return {m: place.get(m, "an unrated model") for m in models}


async def _render(request: Request, svc: Services, s: AsyncSession, actor: Actor, board: Board,
                  suite: Suite | None = None) -> HTMLResponse:
    named = await decisions_named_for(s, actor, [board], voter_of(request, svc))
    if suite is None:
        ids, tags = None, await tags_by_board_comparison(s, board.id)
    else:
        ids = list((await s.execute(select(Comparison.id).where(Comparison.suite_id == suite.id))).scalars())
        tags = await tags_by_comparison(s, ids)
    report = await build_report(s, board, lambda m: model_name(svc.catalog, m), named=named, tags=tags,
                                comparison_ids=ids)
    models = set(report.ranking.matrix_models) | {st.model for st in report.table} | {
        t.model_id for cc in report.close_calls for t, _ in cc.shares}
    names = {m: model_name(svc.catalog, m) for m in models} if named else hidden_names(report.ranking, models)
    return svc.render(request, "report.html", {"board": board, "suite": suite, "report": report, "names": names,
                                               "named": named, "min_votes": lb.MIN_VOTES,
                                               **charts(report.ranking, names)})


@router.get("/b/{slug}/report", response_class=HTMLResponse, include_in_schema=False)
async def report_page(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    board, _ = await board_for(s, actor, slug, "view")
    return await _render(request, svc, s, actor, board)


@router.get("/suites/{suite_id}/report", response_class=HTMLResponse, include_in_schema=False)
async def suite_report_page(suite_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    """The suite's own report: whoever may view the suite's board may read it."""
    suite, _ = await suite_for(s, actor, suite_id, "view")
    return await _render(request, svc, s, actor, await s.get(Board, suite.board_id), suite)

"""Leaderboard routes: pages (per board and across every board you can see), JSON and CSV.
The numbers come from app.leaderboard; the charts from app.charts. Access is app.access's
call: a board's leaderboard needs the view role on it (no role: the same 404 as a board that
does not exist), and the across-boards views only pool the boards the actor may see."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app import leaderboard as lb
from app.access import Actor, board_for, visible_boards
from app.boards import CRITERIA
from app.charts import RatingPoint, rating_plot, win_rate_heatmap
from app.errors import InputError
from app.models import Board
from app.ranking import Ranking
from app.web.deps import session
from app.web.exports import csv_response
from app.web.security import guard
from app.web.views import model_name

router = APIRouter()

CriterionQ = Query("overall", description=f"One of: {', '.join(CRITERIA)}.")
BlindQ = Query(False, description="Count only votes cast blind (model names hidden until the vote).")


def _criterion(criterion: str) -> str:
    if criterion not in CRITERIA:
        raise InputError(f"unknown criterion {criterion!r}; known: {', '.join(CRITERIA)}")
    return criterion


def _names(request: Request, models: Sequence[str]) -> dict[str, str]:
    return {m: model_name(request.app.state.catalog, m) for m in models}


async def _board(s: AsyncSession, actor: Actor, slug: str) -> Board:
    """The board if the actor may view it; otherwise the same 404 as a board that does not exist."""
    board, _ = await board_for(s, actor, slug, "view")
    return board


async def _visible(s: AsyncSession, actor: Actor) -> list[Board]:
    """Every board the actor may see (archived ones included: their votes still count)."""
    return await visible_boards(s, actor)


def charts(r: Ranking, names: dict[str, str]) -> dict:
    """The ratings plot and the win-rate heat map, models in leaderboard order."""
    plot = rating_plot([RatingPoint(names.get(m.model, m.model), m.rating, m.ci_low, m.ci_high, m.provisional)
                        for m in r.models])
    order = [m.model for m in r.models]
    idx = {m: r.matrix_models.index(m) for m in order}
    rate, games = {}, {}
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            n = int(r.games_matrix[idx[a], idx[b]])
            if i != j and n:
                rate[(i, j)] = float(r.win_rate_matrix[idx[a], idx[b]])
                games[(i, j)] = n
    heat = win_rate_heatmap([names.get(m, m) for m in order], rate, games)
    return {"plot": plot, "heatmap": heat}


async def _page(request: Request, s: AsyncSession, boards: list[Board], board: Board | None, criterion: str,
                blind: bool) -> HTMLResponse:
    ids = [b.id for b in boards]
    criteria = await lb.criteria_with_votes(s, ids)
    if criterion not in criteria:
        criteria.append(criterion)
    r = await lb.leaderboard(s, ids, criterion, blind_only=blind)
    table = await lb.comparison_table(s, ids, blind_only=blind)
    names = _names(request, set(r.matrix_models) | {st.model for st in table})
    ctx = {"board": board, "boards": boards, "criterion": criterion, "criteria": criteria, "blind": blind,
           "ranking": r, "table": table, "names": names, "min_votes": lb.MIN_VOTES,
           "table_criteria": [k for k in CRITERIA if any(k in st.win_rate for st in table)] or ["overall"],
           **charts(r, names)}
    return request.app.state.templates.TemplateResponse(request, "leaderboard.html", ctx)


@router.get("/leaderboard", response_class=HTMLResponse, include_in_schema=False)
async def leaderboard_page(request: Request, criterion: str = "overall", blind: bool = False,
                           s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    return await _page(request, s, await _visible(s, actor), None, _criterion(criterion), blind)


@router.get("/b/{slug}/leaderboard", response_class=HTMLResponse, include_in_schema=False)
async def board_leaderboard_page(slug: str, request: Request, criterion: str = "overall", blind: bool = False,
                                 s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    board = await _board(s, actor, slug)
    return await _page(request, s, [board], board, _criterion(criterion), blind)


# ---- JSON ---------------------------------------------------------------------------------

async def _json(request: Request, s: AsyncSession, boards: list[Board], criterion: str, blind: bool) -> dict:
    r = await lb.leaderboard(s, [b.id for b in boards], _criterion(criterion), blind_only=blind)
    body = lb.ranking_json(r, _names(request, r.matrix_models))
    return {"boards": [b.slug for b in boards], "criterion": criterion, "blind_only": blind,
            "min_votes": lb.MIN_VOTES, **body}


@router.get("/api/boards/{slug}/leaderboard", tags=["api"],
            summary="A board's leaderboard: ratings, 95 % intervals, ranks, position bias, pairwise win rates")
async def api_board_leaderboard(slug: str, request: Request, criterion: str = CriterionQ, blind: bool = BlindQ,
                                s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> dict:
    return await _json(request, s, [await _board(s, actor, slug)], criterion, blind)


@router.get("/api/leaderboard", tags=["api"], summary="The leaderboard over every board you can see")
async def api_leaderboard(request: Request, criterion: str = CriterionQ, blind: bool = BlindQ,
                          s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> dict:
    return await _json(request, s, await _visible(s, actor), criterion, blind)


@router.get("/api/boards/{slug}/comparison-table", tags=["api"],
            summary="Per model: win rate per criterion, median generation time, attempts to first accepted "
                    "take, cost per accepted second, failure rate")
async def api_comparison_table(slug: str, request: Request, blind: bool = BlindQ,
                               s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> dict:
    board = await _board(s, actor, slug)
    table = await lb.comparison_table(s, [board.id], blind_only=blind)
    names = _names(request, [st.model for st in table])
    return {"board": board.slug, "blind_only": blind, "models": [lb.stats_json(st, names) for st in table]}


# ---- CSV ----------------------------------------------------------------------------------

def _all_names(request: Request) -> dict[str, str]:
    return {m.id: m.name for m in request.app.state.catalog}


@router.get("/api/boards/{slug}/leaderboard.csv", tags=["api"], response_class=StreamingResponse,
            summary="A board's leaderboard as CSV, every criterion with votes (streamed)")
async def board_leaderboard_csv(slug: str, request: Request, blind: bool = BlindQ,
                                s: AsyncSession = Depends(session), actor: Actor = Depends(guard)):
    board = await _board(s, actor, slug)
    names = _all_names(request)
    return csv_response(request, lambda s2: lb.leaderboard_csv(s2, [board], blind_only=blind, names=names),
                        f"takes-{board.slug}-leaderboard.csv")


@router.get("/api/boards/{slug}/comparison-table.csv", tags=["api"], response_class=StreamingResponse,
            summary="A board's comparison table as CSV (streamed)")
async def board_table_csv(slug: str, request: Request, blind: bool = BlindQ, s: AsyncSession = Depends(session),
                          actor: Actor = Depends(guard)):
    board = await _board(s, actor, slug)
    names = _all_names(request)
    return csv_response(request, lambda s2: lb.comparison_table_csv(s2, [board], blind_only=blind, names=names),
                        f"takes-{board.slug}-comparison-table.csv")


async def _chain(*parts):
    for part in parts:
        async for chunk in part:
            yield chunk


@router.get("/api/leaderboard.csv", tags=["api"], response_class=StreamingResponse,
            summary="Leaderboards of every board you can see, then all of them together (board = *), as CSV")
async def all_leaderboard_csv(request: Request, blind: bool = BlindQ, s: AsyncSession = Depends(session),
                              actor: Actor = Depends(guard)):
    boards = await _visible(s, actor)
    names = _all_names(request)
    return csv_response(request, lambda s2: _chain(
        lb.leaderboard_csv(s2, boards, blind_only=blind, names=names),
        lb.leaderboard_csv(s2, boards, together=True, blind_only=blind, names=names, with_header=False),
    ), "takes-leaderboard.csv")


@router.get("/api/comparison-table.csv", tags=["api"], response_class=StreamingResponse,
            summary="The comparison table of every board you can see, then all of them together (board = *)")
async def all_table_csv(request: Request, blind: bool = BlindQ, s: AsyncSession = Depends(session),
                        actor: Actor = Depends(guard)):
    boards = await _visible(s, actor)
    names = _all_names(request)
    return csv_response(request, lambda s2: _chain(
        lb.comparison_table_csv(s2, boards, blind_only=blind, names=names),
        lb.comparison_table_csv(s2, boards, together=True, blind_only=blind, names=names, with_header=False),
    ), "takes-comparison-table.csv")

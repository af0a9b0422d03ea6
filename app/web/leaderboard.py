"""Leaderboard routes: pages (per board and across every board you can see) and JSON (the
CSV downloads are in app.web.exports). The numbers come from app.leaderboard; the charts from
app.charts. Access is app.access's call: a board's leaderboard needs the view role on it (no role: the same 404 as a board that
does not exist), and the across-boards views only pool the boards the actor may see."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app import leaderboard as lb
from app.access import Actor, board_for, visible_boards
from app.blind import decisions_named_for
from app.boards import CRITERIA
from app.catalog import Catalog
from app.charts import RatingPoint, rating_plot, win_rate_heatmap
from app.errors import InputError
from app.models import Board
from app.ranking import Ranking
from app.tag_leaderboard import tag_winners, winner_json
from app.tags import board_tags, normalise_tag
from app.verdicts import verdicts_json, verdicts_of
from app.web.identity import ActorDep, voter_of
from app.web.inputs import TagQ
from app.web.report_schemas import DecisionsOut
from app.web.schemas import errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import model_name

router = APIRouter()


# ---- JSON shapes -----------------------------------------------------------------------------

class RankedModelOut(BaseModel):
    rank: int
    model: str
    name: str
    rating: float
    ci_low: float
    ci_high: float
    votes: int
    wins: int
    losses: int
    ties: int
    win_rate: float | None = None
    provisional: bool


class PositionBiasOut(BaseModel):
    rating: float
    ci_low: float
    ci_high: float
    first_shown_wins: float
    votes: int


class TagWinnerOut(BaseModel):
    tag: str
    model: str | None = None
    name: str | None = None
    win_rate: float | None = None
    probability: float | None = Field(None, description="P(the leader beats the closest other model).")
    settled: bool
    votes: int
    ballots: int
    says: str = Field(description='In words: "for character walk: Kling v3, 78 % win rate, settled".')


class LeaderboardOut(BaseModel):
    boards: list[str]
    criterion: str
    tag: str | None = Field(None, description="Only the votes on comparisons with this tag (?tag=).")
    tag_winners: list[TagWinnerOut] | None = Field(None, description="?by=tag: the leader of every tag.")
    blind_only: bool
    min_votes: int
    models: list[RankedModelOut]
    position_bias: PositionBiasOut | None = None
    tie_param: float | None = None
    votes: int
    ballots: int
    bootstrap_rounds: int
    level: float
    connected: bool
    win_rate: dict[str, dict[str, float]] = Field(description="win_rate[a][b]: a's share of its votes against b.")
    decisions: DecisionsOut | None = Field(None, description="For every pair of models: P(A better than B) and "
                                           "whether it is settled (≥ 95 %), in numbers and words.")


class ModelStatsOut(BaseModel):
    model: str
    name: str
    win_rate: dict[str, float] = Field(description="Per criterion: (wins + ties/2) / pairwise votes.")
    votes: dict[str, int] = Field(description="Per criterion: pairwise votes counted.")
    takes: int
    ready: int
    failed: int
    failure_rate: float | None = None
    median_generation_s: float | None = None
    comparisons: int
    accepted_comparisons: int
    attempts_to_first_accept: float | None = None
    cost_usd: float | None = None
    accepted_seconds: float
    cost_per_accepted_second: float | None = None
    as_asked: int = Field(0, description="Ready takes delivered as asked (duration, resolution, aspect ratio, fps, audio).")
    checked: int = Field(0, description="Ready takes the delivered-as-asked check has seen.")
    as_asked_rate: float | None = Field(None, description="as_asked / checked.")
    flagged: int = Field(0, description="Ready takes the take checks flagged: mostly black or frozen.")
    checked_takes: int = Field(0, description="Ready takes the take checks measured.")
    mean_motion: float | None = Field(None, description="Mean of the takes' mean |Δluma| per frame (0–255).")
    mean_sharpness: float | None = Field(None, description="Mean keyframe sharpness (variance of the Laplacian at 360 rows).")
    mean_hard_cuts: float | None = Field(None, description="Mean hard cuts per take.")
    actual_cost_usd: float | None = Field(None, description="What the providers reported the takes cost, where they report it.")
    actual_takes: int = Field(0, description="Takes with a reported actual cost.")


class ComparisonTableOut(BaseModel):
    board: str
    tag: str | None = None
    blind_only: bool
    models: list[ModelStatsOut]


CriterionQ = Query("overall", description=f"One of: {', '.join(CRITERIA)}.",
                   json_schema_extra={"enum": list(CRITERIA)})
BlindQ = Query(False, description="Count only votes cast blind (model names hidden until the vote).")


def _tag(tag: str | None) -> str | None:
    return normalise_tag(tag) if tag else None


def _criterion(criterion: str) -> str:
    if criterion not in CRITERIA:
        raise InputError(f"unknown criterion {criterion!r}; known: {', '.join(CRITERIA)}")
    return criterion


def _names(catalog: Catalog, models: Sequence[str]) -> dict[str, str]:
    return {m: model_name(catalog, m) for m in models}


async def _board(s: AsyncSession, actor: Actor, slug: str) -> Board:
    """The board if the actor may view it; otherwise the same 404 as a board that does not exist."""
    board, _ = await board_for(s, actor, slug, "view")
    return board


async def _visible(s: AsyncSession, actor: Actor) -> list[Board]:
    """Every board the actor may see (archived ones included: their votes still count)."""
    return await visible_boards(s, actor)


def charts(r: Ranking, names: dict[str, str]) -> dict:
    """The ratings plot and the win-rate heat map, models in leaderboard order."""
    # drawn as wide as the table's panel (scaled to the page by static/leaderboard.css), so the
    # intervals are read at the table's width, not squeezed beside it
    plot = rating_plot([RatingPoint(names.get(m.model, m.model), m.rating, m.ci_low, m.ci_high, m.provisional)
                        for m in r.models], width=1240)
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


async def _page(request: Request, svc: Services, s: AsyncSession, boards: list[Board], board: Board | None,
                criterion: str, blind: bool, actor: Actor, tag: str | None = None) -> HTMLResponse:
    ids = [b.id for b in boards]
    criteria = await lb.criteria_with_votes(s, ids)
    if criterion not in criteria:
        criteria.append(criterion)
    r = await lb.leaderboard(s, ids, criterion, blind_only=blind, tag=tag)
    table = await lb.comparison_table(s, ids, blind_only=blind, tag=tag)
    winners = await tag_winners(s, ids, criterion, blind_only=blind) if board else []
    names = _names(svc.catalog, set(r.matrix_models) | {st.model for st in table} | {w.model for w in winners})
    named = await decisions_named_for(s, actor, boards, voter_of(request, svc))
    ctx = {"verdicts": [verdicts_of(r, criterion, lambda m: names.get(m, m), named)] if r.votes and tag is None else [],
           "board": board, "boards": boards, "criterion": criterion, "criteria": criteria, "blind": blind,
           "tag": tag, "tags": await board_tags(s, ids), "tag_winners": [winner_json(w, names) for w in winners],
           "ranking": r, "table": table, "names": names, "min_votes": lb.MIN_VOTES,
           "table_criteria": [k for k in CRITERIA if any(k in st.win_rate for st in table)] or ["overall"],
           **charts(r, names)}
    return svc.render(request, "leaderboard.html", ctx)


@router.get("/leaderboard", response_class=HTMLResponse, include_in_schema=False)
async def leaderboard_page(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                           criterion: str = "overall", blind: bool = False, tag: str | None = None):
    return await _page(request, svc, s, await _visible(s, actor), None, _criterion(criterion), blind, actor, _tag(tag))


@router.get("/b/{slug}/leaderboard", response_class=HTMLResponse, include_in_schema=False)
async def board_leaderboard_page(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                                 criterion: str = "overall", blind: bool = False, tag: str | None = None):
    board = await _board(s, actor, slug)
    return await _page(request, svc, s, [board], board, _criterion(criterion), blind, actor, _tag(tag))


# ---- JSON ---------------------------------------------------------------------------------

async def _json(request: Request, svc: Services, s: AsyncSession, actor: Actor, boards: list[Board],
                criterion: str, blind: bool, tag: str | None = None, by: str | None = None) -> dict:
    ids, tag = [b.id for b in boards], _tag(tag)
    r = await lb.leaderboard(s, ids, _criterion(criterion), blind_only=blind, tag=tag)
    names = _names(svc.catalog, r.matrix_models)
    body = lb.ranking_json(r, names)
    if by == "tag":
        winners = await tag_winners(s, ids, criterion, blind_only=blind)
        body["tag_winners"] = [winner_json(w, _names(svc.catalog, [w.model for w in winners if w.model]))
                               for w in winners]
    named = await decisions_named_for(s, actor, boards, voter_of(request, svc))
    body["decisions"] = verdicts_json(verdicts_of(r, criterion, lambda m: names.get(m, m), named)) if r.votes else None
    return {"boards": [b.slug for b in boards], "criterion": criterion, "tag": tag, "blind_only": blind,
            "min_votes": lb.MIN_VOTES, **body}


@router.get("/api/boards/{slug}/leaderboard", tags=["leaderboard"], response_model=LeaderboardOut,
            summary="A board's leaderboard: ratings, 95 % intervals, ranks, position bias, pairwise win rates",
            responses=errors(404))
async def api_board_leaderboard(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                                criterion: str = CriterionQ, blind: bool = BlindQ, tag: str | None = TagQ,
                                by: Literal["tag"] | None = Query(None, description="tag: add every tag's leader.")
                                ) -> dict:
    return await _json(request, svc, s, actor, [await _board(s, actor, slug)], criterion, blind, tag, by)


@router.get("/api/leaderboard", tags=["leaderboard"], summary="The leaderboard over every board you can see",
            response_model=LeaderboardOut, responses=errors())
async def api_leaderboard(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep, criterion: str = CriterionQ,
                          blind: bool = BlindQ, tag: str | None = TagQ) -> dict:
    return await _json(request, svc, s, actor, await _visible(s, actor), criterion, blind, tag)


@router.get("/api/boards/{slug}/comparison-table", tags=["leaderboard"], response_model=ComparisonTableOut,
            summary="Per model: win rate per criterion, median generation time, attempts to first accepted "
                    "take, cost per accepted second, failure rate", responses=errors(404))
async def api_comparison_table(slug: str, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                               blind: bool = BlindQ, tag: str | None = TagQ) -> dict:
    board = await _board(s, actor, slug)
    table = await lb.comparison_table(s, [board.id], blind_only=blind, tag=_tag(tag))
    names = _names(svc.catalog, [st.model for st in table])
    return {"board": board.slug, "tag": _tag(tag), "blind_only": blind,
            "models": [lb.stats_json(st, names) for st in table]}

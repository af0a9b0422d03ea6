"""Decisions in words on the board page: a fragment the page loads after it is shown (a fit
per criterion is numpy work the board page should not wait for). The JSON side is the
`decisions` section of `GET /api/boards/{slug}/leaderboard` (app/web/leaderboard.py); the
words come from app.verdicts, who may read model names from app.blind."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app import leaderboard as lb
from app.tags import tags_by_board_comparison
from app.access import board_for
from app.blind import decisions_named_for
from app.verdicts import board_verdicts
from app.web.identity import ActorDep, voter_of
from app.web.services import ServicesDep, SessionDep
from app.web.views import model_name

router = APIRouter()


@router.get("/b/{slug}/decisions", response_class=HTMLResponse, include_in_schema=False)
async def board_decisions(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    """Every criterion with votes, and every tag of the board's comparisons (app/tags.py)."""
    board, _ = await board_for(s, actor, slug, "view")
    named = await decisions_named_for(s, actor, [board], voter_of(request, svc))
    criteria = await lb.criteria_with_votes(s, [board.id])
    verdicts = await board_verdicts(s, [board.id], criteria, lambda m: model_name(svc.catalog, m), named=named,
                                     tags=await tags_by_board_comparison(s, board.id))
    return svc.render(request, "partials/decisions.html", {"verdicts": verdicts, "board": board})

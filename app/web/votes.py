"""Votes and the review flow: casting a ballot (the page's htmx form and the API, one
function), and the board's next comparison to vote on, picked by active sampling
(app.active). The logic lives in app.votes / app.active; access in app.access (the voter role
to vote, view to review)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app import blind as blind_rules
from app.access import Actor, BallotTarget, board_for, comparison_for, comparison_for_ballot
from app.active import next_pick
from app.errors import TakesError, TooManyRequests
from app.models import Board, Comparison, Vote
from app.votes import BallotInput, next_comparison, record_ballot
from app.web.comparisons import viewer_view
from app.web.forms import ballot_input
from app.web.identity import ActorDep, ensure_voter, view_voter, voter_of
from app.web.schemas import BallotOut, NextOut, VoteIn, errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import ballot_choice, comparison_view

router = APIRouter()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def vote_limit(request: Request, svc: Services, voter_id: str) -> None:
    """Votes per minute per voter, and (five times as many) per address: a reviewer never gets
    near either, a script does."""
    wait = svc.limits.votes.hit(voter_id) or svc.limits.votes_ip.hit(client_ip(request))
    if wait:
        raise TooManyRequests(f"too many votes in a minute; try again in {wait} s", wait)


async def ballot_box(request: Request, svc: Services, s: AsyncSession, actor: Actor,
                     comparison_id: str) -> tuple[BallotTarget, str, bool]:
    """The comparison and the voter a ballot is cast as (created on their first vote), once
    the actor may vote there and is within the rate limit. Both vote routes start here, then
    hand the ballot to app.votes.record_ballot. One query finds the comparison, the actor's
    role and whether the voter exists (app.access.comparison_for_ballot). The flag says whether the actor observes
    the board (their vote is then stored as not blind: app.blind, app.votes.record_ballot)."""
    hint = voter_of(request, svc)
    c, role = await comparison_for_ballot(s, actor, comparison_id, hint)
    # committed with the write; no read and no write at all when the voter's row exists
    voter = await ensure_voter(request, svc, s, commit=False, known=hint if c.voter_exists else None)
    vote_limit(request, svc, voter)
    return c, voter, c.observer and blind_rules.may_observe(role)


def ballot_json(rows: list[Vote]) -> dict:
    return {"ballot_id": rows[0].ballot_id, "pairs": [
        {"vote_id": v.id, "take_a": v.take_a_id, "take_b": v.take_b_id, "model_a": v.model_a, "model_b": v.model_b,
         "winner": v.winner, "position_a": v.position_a, "position_b": v.position_b, "sampled_by": v.sampled_by,
         "sample_probability": v.sample_probability} for v in rows]}


@router.post("/c/{comparison_id}/vote", response_class=HTMLResponse, include_in_schema=False)
async def vote_from_page(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    """The vote fragment: after a vote, the names (HX-Trigger takes-reveal tells the players);
    on bad input, the form again with the message."""
    form = await request.form()
    c, voter, observer = await ballot_box(request, svc, s, actor, comparison_id)
    try:
        rows = await record_ballot(s, c, voter, ballot_input(form), observer=observer)
    except TakesError as exc:
        await s.rollback()
        c, view = await viewer_view(request, svc, s, actor, comparison_id)
        return svc.render(request, "partials/vote.html", {"c": c, "view": view, "error": exc.message},
                          status_code=exc.status_code)
    c, role = await comparison_for(s, actor, comparison_id, "vote")
    view = comparison_view(c, svc.catalog, voter, True, observer)
    view.role = role
    names = {t.take.id: t.name for t in view.tiles}
    return svc.render(request, "partials/vote.html", {"c": c, "view": view, "recorded": rows,
                                                      "choice": ballot_choice(rows, view.tiles)},
                      headers={"HX-Trigger": json.dumps({"takes-reveal": {"names": names}}),
                               # after the swap (the grid's ready key is updated by then): the
                               # takes panel reloads with the names, timings and costs
                               "HX-Trigger-After-Settle": "takes-revealed"})


@router.post("/api/comparisons/{comparison_id}/votes", status_code=201, tags=["votes"], summary="Record a vote",
             response_model=BallotOut, responses=errors(403, 404, 409, 429))
async def api_vote(comparison_id: str, body: VoteIn, request: Request, svc: ServicesDep, s: SessionDep,
                   actor: ActorDep) -> dict:
    c, voter, observer = await ballot_box(request, svc, s, actor, comparison_id)
    rows = await record_ballot(s, c, voter, BallotInput(**body.model_dump()), observer=observer)
    return ballot_json(rows)


# ---- the review flow --------------------------------------------------------------------------

@router.get("/b/{slug}/next", include_in_schema=False)
async def next_page(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                    after: str | None = None):
    """Redirect to this voter's next comparison of the board (app.active picks it and the pair
    to compare). htmx follows the redirect and swaps the page's <main>, pushing the comparison's
    own URL."""
    board, _ = await board_for(s, actor, slug, "view")
    found = await next_for(request, svc, s, board, after)
    if found["comparison"]:
        return RedirectResponse(f"/c/{found['comparison']}", status_code=303)
    return svc.render(request, "review_done.html", {"board": board})


async def next_for(request: Request, svc: Services, s: AsyncSession, board: Board, after: str | None) -> dict:
    """The pick (app.active.next_pick) for this voter, or, when nothing can be voted on yet,
    the oldest unvoted comparison still being made (no pick: its vote is `manual`). The board's
    tags (read by app.active with its candidates) give each tag its own fit, so the pick also
    settles the order per tag."""
    voter = await view_voter(request, svc, s)
    got = await next_pick(s, board, voter, after)
    if got is not None:
        return {"comparison": got.comparison, "pick": got.pick, "takes": list(got.takes),
                "sampled_by": got.sampled_by, "probability": got.probability}
    return {"comparison": await next_comparison(s, board, voter, after)}


@router.get("/api/boards/{slug}/next", tags=["votes"], summary="The next comparison to vote on, and the pair to compare",
            response_model=NextOut, responses=errors(404))
async def api_next(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                   after: str | None = None) -> dict:
    board, _ = await board_for(s, actor, slug, "view")
    return await next_for(request, svc, s, board, after)

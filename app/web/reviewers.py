"""Reviewers (owners only) and check items (editors): the reviewers page and its JSON, and
marking a comparison as a check item with the take that should win — from the comparison
page (a fragment only editors are given) and as JSON. The figures come from app.reviewers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.access import board_for, comparison_for
from app.boards import CRITERIA, criteria_for
from app.errors import TakesError
from app.reviewers import ReviewerStats, check_items_of, reviewers_report, set_check_item
from app.web.comparisons import viewer_view
from app.web.identity import ActorDep
from app.web.report_schemas import CheckItemIn, CheckItemOut, ReviewersOut
from app.web.schemas import errors
from app.web.services import ServicesDep, SessionDep

router = APIRouter()


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def reviewer_json(st: ReviewerStats) -> dict:
    return {"voter": st.voter, "name": st.name, "voted": st.voted, "total": st.total,
            "agreement": {k: {"agreed": a, "units": n, "rate": _r(a / n if n else None)} for k, (a, n) in
                          st.agreement.items()},
            "agreement_rate": _r(st.agreement_rate), "left_share": _r(st.left_share), "side_votes": st.sided,
            "side_p": _r(st.side_p, 6), "check_right": st.checks[0], "check_answered": st.checks[1],
            "check_accuracy": _r(st.check_accuracy), "flagged": bool(st.flags), "flags": st.flags}


@router.get("/b/{slug}/reviewers", response_class=HTMLResponse, include_in_schema=False)
async def reviewers_page(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    board, role = await board_for(s, actor, slug, "manage")
    report = await reviewers_report(s, board)
    return svc.render(request, "reviewers.html", {"board": board, "report": report, "role": role})


@router.get("/api/boards/{slug}/reviewers", tags=["reviewers"], response_model=ReviewersOut,
            summary="Per reviewer: progress, agreement with the others, left/right bias, check items; "
                    "Krippendorff's α per criterion (owners)", responses=errors(403, 404))
async def api_reviewers(slug: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    board, _ = await board_for(s, actor, slug, "manage")
    rep = await reviewers_report(s, board)
    return {"board": board.slug, "total": rep.total, "check_items": rep.check_items,
            "alpha": {k: _r(v) for k, v in rep.alpha.items()}, "alpha_units": rep.alpha_units,
            "reviewers": [reviewer_json(st) for st in rep.reviewers]}


async def _check_fragment(request, svc, s, actor, comparison_id: str, *, note=None, error=None, status_code=200):
    await comparison_for(s, actor, comparison_id, "edit")
    # the editor's own screen order and labels; names only once revealed to them (app/blind.py)
    c, view = await viewer_view(request, svc, s, actor, comparison_id, "edit")
    items = {i.criterion: i.expected_take_id for i in await check_items_of(s, c.id)}
    return svc.render(request, "partials/check_items.html",
                      {"c": c, "view": view, "items": items, "criteria": criteria_for(c), "CRITERIA": CRITERIA,
                       "note": note, "error": error}, status_code=status_code)


@router.get("/c/{comparison_id}/check-items", response_class=HTMLResponse, include_in_schema=False)
async def check_items_fragment(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep,
                               actor: ActorDep):
    return await _check_fragment(request, svc, s, actor, comparison_id)


@router.post("/c/{comparison_id}/check-items", response_class=HTMLResponse, include_in_schema=False)
async def check_items_form(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    form = await request.form()
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    try:
        await set_check_item(s, c, str(form.get("criterion") or "overall"), str(form.get("expected_take") or "") or None,
                             actor.voter_id)
    except TakesError as exc:
        await s.rollback()
        return await _check_fragment(request, svc, s, actor, comparison_id, error=exc.message,
                                     status_code=exc.status_code)
    return await _check_fragment(request, svc, s, actor, comparison_id, note="Check item saved.")


@router.put("/api/comparisons/{comparison_id}/check-items/{criterion}", tags=["reviewers"],
            response_model=CheckItemOut, summary="Mark a comparison as a check item with the take that should win "
                                                 "(editors); expected_take null removes the mark",
            responses=errors(403, 404, 409))
async def api_check_item(comparison_id: str, criterion: str, body: CheckItemIn, s: SessionDep,
                         actor: ActorDep) -> dict:
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    item = await set_check_item(s, c, criterion, body.expected_take, actor.voter_id)
    return {"comparison": c.id, "criterion": criterion, "expected_take": item.expected_take_id if item else None}

"""Suites through the JSON API: preview, create (202, `Idempotency-Key` honoured as on
POST /api/comparisons), the bundled suites, progress, and pause / resume / cancel / retry.
The pages are in app.web.suite_pages and call the same functions; the logic is in
app.suites and app.suite_runs, access in app.access (a suite is its board's)."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, suite_for, target_board
from app.bundled import bundled_suite, bundled_suites
from app.comparisons import decode_data_url
from app.errors import InputError
from app.models import Board, Comparison, Suite, SuiteIdempotencyKey
from app.suite_input import PromptRow
from app.suite_runs import (cancel_suite, enqueue_later, pause_suite, refresh_status, resume_suite, retry_failed,
                            suite_progress)
from app.suites import Created, SuiteInput, SuitePlan, budget_view, create_suite, plan_suite
from app.tags import normalise_tags, tags_by_comparison
from app.idempotency import fresh_row, remember_with
from app.web.comparisons import idempotency_scope
from app.web.identity import ActorDep, ensure_voter
from app.web.schemas import errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.suite_schemas import BundledListOut, SuiteIn, SuiteOut, SuitePreviewOut

router = APIRouter()
EDITORS = errors(403, 404, 409)


def bundled_rows(suite_id: str) -> list[PromptRow]:
    return [PromptRow(f"prompt {n}", p.prompt, list(p.tags)) for n, p in enumerate(bundled_suite(suite_id).prompts, 1)]


def api_rows(body: SuiteIn) -> list[PromptRow]:
    """The body's prompts as rows ("prompt 3"), or the bundled suite it names; every bad tag
    or image is reported with its prompt's number."""
    if body.bundled:
        if body.prompts:
            raise InputError("send either prompts or a bundled suite, not both")
        return bundled_rows(body.bundled)
    rows = []
    for n, p in enumerate(body.prompts, 1):
        extra = p.params.model_dump(exclude_none=True) if p.params else {}
        row = PromptRow(f"prompt {n}", p.prompt, negative_prompt=p.negative_prompt, **extra)
        try:
            row.tags = normalise_tags(p.tags)
            row.image = decode_data_url(p.image) if p.image else None
        except InputError as exc:
            row.problems = [f"prompt {n}: {e}" for e in exc.errors]
        rows.append(row)
    return rows


def api_input(body: SuiteIn) -> SuiteInput:
    return SuiteInput(name=body.name, models=list(body.models), prompts=api_rows(body), seeds=body.seeds,
                      duration_s=body.duration_s, aspect_ratio=body.aspect_ratio, resolution=body.resolution,
                      audio=body.audio, board=body.board)


async def plan_for(svc: Services, s: AsyncSession, actor: Actor, data: SuiteInput) -> tuple[Board, SuitePlan]:
    """The board (the actor must be an editor there) and the checked plan: nothing written."""
    board = await target_board(s, actor, data.board)
    return board, plan_suite(data, svc.catalog, svc.providers, svc.settings)


async def preview_json(s: AsyncSession, board: Board, plan: SuitePlan) -> dict:
    budget = await budget_view(s, board, plan.cost)
    rows = [{"line": r.where, "prompt": r.prompt, "tags": r.tags, "seeds": r.seeds,
             "cost_usd": None if any(c is None for c in r.costs) else round(sum(r.costs) * len(r.seeds), 4)}
            for r in plan.rows]
    return {"name": plan.name, "board": board.slug, "models": [sp.id for sp in plan.specs], "prompts": len(plan.rows),
            "comparisons": plan.comparisons, "takes": plan.takes, "cost_usd": plan.cost, "budget_usd": budget.budget,
            "spent_usd": budget.spent, "left_usd": budget.left, "fits_budget": budget.fits, "tags": plan.tags,
            "rows": rows}


async def start_suite(request: Request, svc: Services, s: AsyncSession, actor: Actor, data: SuiteInput) -> Created:
    """Check, write (one transaction) and queue a suite: the takes go to the queue in batches
    after the answer (the sweep delivers any a lost enqueue missed)."""
    board, plan = await plan_for(svc, s, actor, data)
    voter = await ensure_voter(request, svc, s, commit=False)
    made = await create_suite(s, plan, board=board, voter_id=voter, storage=svc.storage)
    enqueue_later(svc.queue, made.take_ids)
    return made


async def suite_json(s: AsyncSession, svc: Services, suite: Suite) -> dict:
    suite = await refresh_status(s, suite)
    p = await suite_progress(s, suite, svc.settings)
    board = await s.get(Board, suite.board_id)
    ids = list((await s.execute(select(Comparison.id).where(Comparison.suite_id == suite.id)
                                .order_by(Comparison.created_at, Comparison.id))).scalars())
    tags = sorted({t for ts in (await tags_by_comparison(s, ids)).values() for t in ts})
    return {"id": suite.id, "name": suite.name, "board": board.slug, "status": suite.status, "seeds": suite.seeds,
            "models": suite.models, "prompts": suite.prompts, "comparisons": ids, "tags": tags,
            "takes": {**p.counts, "paused": p.paused, "total": p.total}, "cost_so_far_usd": p.cost_so_far,
            "cost_estimate_usd": p.cost_estimate, "eta_s": p.eta_s, "created_at": suite.created_at}


async def earlier_suite(s: AsyncSession, scope: str, key: str) -> Suite | None:
    """The suite an earlier request with this key made, within the window (as for comparisons)."""
    row = await fresh_row(s, SuiteIdempotencyKey, scope, key)
    return await s.get(Suite, row.suite_id) if row else None


def remember_suite_key(s: AsyncSession, scope: str, key: str) -> None:
    """The key is written with the suite, in its transaction (app.idempotency.remember_with)."""
    remember_with(s, Suite, lambda made: SuiteIdempotencyKey(actor=scope, key=key, suite=made))


KEY = Header(None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
             description="Send the same key again (within 24 h) to get the first answer, not a second suite.")


@router.post("/api/suites", status_code=202, tags=["suites"], response_model=SuiteOut,
             summary="Run a shot list: one comparison per prompt × seed, one take per model",
             responses=errors(401, 402, 403, 404, 409))
async def api_create_suite(body: SuiteIn, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                           idempotency_key: str | None = KEY) -> dict:
    scope = idempotency_scope(actor)
    if idempotency_key:
        # checked even with a key seen before (as for comparisons): a key replays an answer to
        # the same request, it does not let another one through unchecked
        plan_suite(api_input(body), svc.catalog, svc.providers, svc.settings)
        if (earlier := await earlier_suite(s, scope, idempotency_key)) is not None:
            return await suite_json(s, svc, earlier)
        remember_suite_key(s, scope, idempotency_key)
    try:
        made = (await start_suite(request, svc, s, actor, api_input(body))).suite
    except IntegrityError:
        await s.rollback()   # a twin request with the same key committed first: its suite
        if not idempotency_key or (made := await earlier_suite(s, scope, idempotency_key)) is None:
            raise
    return await suite_json(s, svc, made)


@router.post("/api/suites/preview", tags=["suites"], response_model=SuitePreviewOut,
             summary="Check a suite and say what it would make and cost, writing nothing",
             responses=errors(401, 403, 404, 409))
async def api_preview_suite(body: SuiteIn, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    board, plan = await plan_for(svc, s, actor, api_input(body))
    return await preview_json(s, board, plan)


@router.get("/api/suites/bundled", tags=["suites"], response_model=BundledListOut,
            summary="The bundled suites (VBench prompt lists, Apache-2.0)", responses=errors())
async def api_bundled() -> dict:
    return {"suites": [{"id": b.id, "name": b.name, "description": b.description, "prompts": len(b.prompts),
                        "tags": b.tags, "source": b.source, "licence": b.licence} for b in bundled_suites().values()]}


@router.get("/api/suites/{suite_id}", tags=["suites"], response_model=SuiteOut, responses=errors(404),
            summary="A suite's progress: takes queued / running / ready / failed, cost so far, time left")
async def api_suite(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    suite, _ = await suite_for(s, actor, suite_id, "view")
    return await suite_json(s, svc, suite)


async def control(svc: Services, s: AsyncSession, actor: Actor, suite_id: str, action: str) -> Suite:
    """pause | resume | cancel | retry, for editors of the suite's board."""
    suite, _ = await suite_for(s, actor, suite_id, "edit")
    if action == "pause":
        await pause_suite(s, suite)
    elif action == "resume":
        await resume_suite(s, suite, svc.queue)
    elif action == "cancel":
        await cancel_suite(s, suite, svc.catalog, svc.providers)
    else:
        await retry_failed(s, suite, svc.queue)
    return suite


@router.post("/api/suites/{suite_id}/pause", tags=["suites"], response_model=SuiteOut, responses=EDITORS,
             summary="Hold the suite's queued takes (takes already at a provider finish)")
async def api_pause(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    return await suite_json(s, svc, await control(svc, s, actor, suite_id, "pause"))


@router.post("/api/suites/{suite_id}/resume", tags=["suites"], response_model=SuiteOut, responses=EDITORS,
             summary="Queue a paused suite's takes again")
async def api_resume(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    return await suite_json(s, svc, await control(svc, s, actor, suite_id, "resume"))


@router.post("/api/suites/{suite_id}/cancel", tags=["suites"], response_model=SuiteOut, responses=EDITORS,
             summary="Cancel every unfinished take of the suite, here and at the providers")
async def api_cancel(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    return await suite_json(s, svc, await control(svc, s, actor, suite_id, "cancel"))


@router.post("/api/suites/{suite_id}/retry", tags=["suites"], response_model=SuiteOut,
             responses=errors(402, 403, 404, 409), summary="A new attempt of every failed take of the suite")
async def api_retry(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep) -> dict:
    return await suite_json(s, svc, await control(svc, s, actor, suite_id, "retry"))

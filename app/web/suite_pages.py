"""Suite pages: /suites/new (paste lines, upload a CSV or JSONL, or pick a bundled suite;
preview, then create) and /suites/{id} (progress, pause / resume / cancel / retry). They call
the same functions as the JSON routes in app.web.suites."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from app.access import Actor, boards_where, can_create, suite_for
from app.bundled import bundled_suites
from app.errors import InputError, TakesError
from app.models import Comparison
from app.suite_input import PromptRow, parse_csv, parse_jsonl, parse_pasted, parse_upload
from app.suites import SuiteInput
from app.tags import tags_by_comparison
from app.web.catalog import catalog_rows
from app.web.forms import number, whole_number
from app.web.identity import ActorDep
from app.web.services import Services, ServicesDep, SessionDep
from app.web.suites import bundled_rows, control, plan_for, preview_json, start_suite, suite_json

router = APIRouter()
FIELDS = ("name", "board", "seeds", "duration_s", "aspect_ratio", "resolution", "source", "lines", "bundled",
          "upload_name", "upload_text")
PREVIEW_ROWS = 200       # rows the preview table shows (the counts cover them all)


async def form_fields(form: FormData) -> dict:
    """The form as sent, to redraw it; an uploaded file's text is kept in `upload_text`, so
    "Create" after "Preview" sends the same rows without uploading again."""
    raw = {k: str(form.get(k) or "") for k in FIELDS}
    raw["models"] = form.getlist("models")
    upload = form.get("file")
    if upload is not None and getattr(upload, "filename", ""):
        data = await upload.read()
        try:
            raw["upload_text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("the uploaded file is not UTF-8 text (a CSV or JSON Lines file)") from None
        raw["upload_name"] = upload.filename
    return raw


def form_rows(raw: dict) -> list[PromptRow]:
    source = raw["source"] or "paste"
    if source == "bundled":
        if not raw["bundled"]:
            raise InputError("pick a bundled suite")
        return bundled_rows(raw["bundled"])
    if source == "upload":
        if not raw["upload_text"]:
            raise InputError("choose a CSV or JSON Lines file to upload")
        name = raw["upload_name"]
        return parse_upload(name, raw["upload_text"]) if name else parse_csv(raw["upload_text"])
    if source == "jsonl":
        return parse_jsonl(raw["lines"])
    return parse_pasted(raw["lines"])


def form_input(raw: dict) -> SuiteInput:
    seeds = whole_number(raw["seeds"]) if raw["seeds"] else 1
    return SuiteInput(name=raw["name"], models=list(raw["models"]), prompts=form_rows(raw), seeds=seeds,
                      duration_s=number(raw["duration_s"]), aspect_ratio=raw["aspect_ratio"] or None,
                      resolution=raw["resolution"] or None, board=raw["board"] or None)


async def _new_page(request: Request, svc: Services, s: AsyncSession, actor: Actor, raw: dict | None = None,
                    problems: list[str] | None = None, preview: dict | None = None,
                    status_code: int = 200) -> HTMLResponse:
    raw = raw or {"source": "paste", "seeds": "1", "models": []}
    models = [r for r in catalog_rows(svc) if r["spec"].selectable and not r["spec"].unverified]
    return svc.render(request, "suite_new.html", {
        "form": raw, "errors": problems or [], "preview": preview, "preview_rows": PREVIEW_ROWS,
        "boards": await boards_where(s, actor, "edit") if can_create(actor) else [], "models": models,
        "bundled": list(bundled_suites().values()), "can_create": can_create(actor),
    }, status_code=status_code)


@router.get("/suites/new", response_class=HTMLResponse, include_in_schema=False)
async def new_suite_page(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep, board: str = ""):
    return await _new_page(request, svc, s, actor, {"source": "paste", "seeds": "1", "models": [], "board": board})


@router.post("/suites/preview", response_class=HTMLResponse, include_in_schema=False)
async def preview_page(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    raw = {"source": "paste", "models": []}
    try:
        raw = await form_fields(await request.form())
        board, plan = await plan_for(svc, s, actor, form_input(raw))
        preview = await preview_json(s, board, plan)
    except TakesError as exc:
        if exc.status_code == 401:
            raise
        return await _new_page(request, svc, s, actor, raw, exc.errors, status_code=exc.status_code)
    return await _new_page(request, svc, s, actor, raw, preview=preview)


@router.post("/suites", include_in_schema=False)
async def create_page(request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    raw = {"source": "paste", "models": []}
    try:
        raw = await form_fields(await request.form())
        made = await start_suite(request, svc, s, actor, form_input(raw))
    except TakesError as exc:
        if exc.status_code == 401:
            raise
        await s.rollback()
        return await _new_page(request, svc, s, actor, raw, exc.errors, status_code=exc.status_code)
    return RedirectResponse(f"/suites/{made.suite.id}", status_code=303)


async def _suite_ctx(svc: Services, s: AsyncSession, actor: Actor, suite_id: str) -> dict:
    suite, role = await suite_for(s, actor, suite_id, "view")
    data = await suite_json(s, svc, suite)
    rows = (await s.execute(select(Comparison.id, Comparison.prompt, Comparison.seed)
                            .where(Comparison.suite_id == suite.id)
                            .order_by(Comparison.created_at, Comparison.id).limit(PREVIEW_ROWS))).all()
    tags = await tags_by_comparison(s, [r[0] for r in rows])
    return {"suite": data, "role": role, "editor": role in ("editor", "owner") and suite.status != "cancelled",
            "rows": [{"id": cid, "prompt": p, "seed": seed, "tags": tags.get(cid, [])} for cid, p, seed in rows],
            "shown": PREVIEW_ROWS}


@router.get("/suites/{suite_id}", response_class=HTMLResponse, include_in_schema=False)
async def suite_page(suite_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    return svc.render(request, "suite.html", await _suite_ctx(svc, s, actor, suite_id))


@router.get("/suites/{suite_id}/progress", response_class=HTMLResponse, include_in_schema=False)
async def suite_progress_part(suite_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    """Polled by the suite page while the suite runs."""
    return svc.render(request, "partials/suite_progress.html", await _suite_ctx(svc, s, actor, suite_id))


async def _act(suite_id: str, svc: Services, s: AsyncSession, actor: Actor, action: str) -> RedirectResponse:
    await control(svc, s, actor, suite_id, action)
    return RedirectResponse(f"/suites/{suite_id}", status_code=303)


@router.post("/suites/{suite_id}/pause", include_in_schema=False)
async def pause_page(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    return await _act(suite_id, svc, s, actor, "pause")


@router.post("/suites/{suite_id}/resume", include_in_schema=False)
async def resume_page(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    return await _act(suite_id, svc, s, actor, "resume")


@router.post("/suites/{suite_id}/cancel", include_in_schema=False)
async def cancel_page(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    return await _act(suite_id, svc, s, actor, "cancel")


@router.post("/suites/{suite_id}/retry", include_in_schema=False)
async def retry_page(suite_id: str, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    return await _act(suite_id, svc, s, actor, "retry")

"""The JSON API (documented at /docs). Routes are thin: parse, call a plain function, shape."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, blind_to, board_for, comparison_for, target_board
from app.comparisons import ComparisonInput, create_comparison, decode_data_url
from app.exports import vote_csv
from app.votes import BallotInput, record_ballot, voted_on
from app.web.deps import ensure_voter, session, view_voter, voter_from_cookie
from app.web.pages import vote_limit
from app.web.security import guard
from app.web.views import comparison_json, comparison_view

router = APIRouter(prefix="/api", tags=["api"])


class ComparisonIn(BaseModel):
    prompt: str = Field(description="What to generate (1–4000 characters).")
    models: list[str] = Field(description="Catalog model ids, e.g. demo/aurora (GET /api/models).")
    duration_s: float | None = Field(None, description="Seconds; default: one every chosen model accepts.")
    durations: dict[str, float] = Field(default_factory=dict, description=(
        "Per-model seconds, for models that share no duration, e.g. {\"google/veo-3.1\": 8}; "
        "the other models get duration_s."))
    aspect_ratio: str | None = Field(None, examples=["16:9"])
    resolution: str | None = Field(None, examples=["720p"])
    board: str | None = Field(None, description="Board slug; default: the default board.")
    seed: int | None = None
    negative_prompt: str | None = None
    audio: bool = False
    image: str | None = Field(None, description="Source image for image-to-video, as a base64 data URL.")


class VoteIn(BaseModel):
    kind: Literal["pair", "best", "ranking"] = "pair"
    criterion: str = "overall"
    take_a: str | None = None
    take_b: str | None = None
    outcome: Literal["a", "b", "tie", "bothbad"] | None = Field(None, description="pair votes: a, b, tie, bothbad")
    best: str | None = Field(None, description="best-of-N: the chosen take id")
    takes: list[str] | None = Field(None, description="best-of-N: the takes shown (default all ready)")
    ranking: list[str] | None = Field(None, description="ranking: take ids, best first")


@router.get("/models", summary="The model catalog with availability")
async def models(request: Request) -> list[dict]:
    catalog, providers = request.app.state.catalog, request.app.state.providers
    out = []
    for m in catalog:
        p = providers.get(m.provider)
        out.append({
            "id": m.id, "name": m.name, "provider": m.provider, "family": m.family, "status": m.status,
            "available": bool(m.selectable and p and p.available()),
            "missing_settings": p.missing_keys() if p else [], "modes": list(m.modes),
            "durations": list(m.durations), "duration_range": list(m.duration_range) if m.duration_range else None,
            "aspect_ratios": list(m.aspect_ratios), "resolutions": list(m.resolutions), "audio": m.audio,
            "negative_prompt": m.negative_prompt, "seed": m.seed, "price_per_second": m.price_per_second,
            "price_per_second_audio": m.price_per_second_audio,
            "price_per_second_by_resolution": dict(m.price_per_second_by_resolution), "price_source": m.price_source,
            "price_date": m.price_date, "retired_on": m.retired_on or None, "retired_reason": m.retired_reason or None,
            "latency_s": m.latency_s,
        })
    return out


@router.post("/comparisons", status_code=202, summary="Fan a prompt out to models")
async def post_comparison(body: ComparisonIn, request: Request, response: Response,
                          s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> dict:
    state = request.app.state
    board = await target_board(s, actor, body.board)
    data = ComparisonInput(**body.model_dump(exclude={"image"}),
                           image=decode_data_url(body.image) if body.image else None)
    voter = await ensure_voter(request, response, s)
    c = await create_comparison(s, data, catalog=state.catalog, providers=state.providers, settings=state.settings,
                                storage=state.storage, voter_id=voter, board=board)
    await state.queue.enqueue([t.id for t in c.takes])
    return comparison_json(c, state.catalog)


@router.get("/comparisons/{comparison_id}", summary="A comparison and each take's status")
async def get_comparison(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                         actor: Actor = Depends(guard)) -> dict:
    c, _ = await comparison_for(s, actor, comparison_id, "view")
    voter = await view_voter(request, s)
    view = comparison_view(c, request.app.state.catalog, voter, await voted_on(s, c.id, voter))
    return comparison_json(c, request.app.state.catalog, view)


@router.post("/comparisons/{comparison_id}/votes", status_code=201, summary="Record a vote")
async def post_vote(comparison_id: str, body: VoteIn, request: Request, response: Response,
                    s: AsyncSession = Depends(session), actor: Actor = Depends(guard)) -> dict:
    c, _ = await comparison_for(s, actor, comparison_id, "vote")
    voter = await ensure_voter(request, response, s)
    vote_limit(request, voter)
    rows = await record_ballot(s, c, voter, BallotInput(**body.model_dump()))
    return {"ballot_id": rows[0].ballot_id, "pairs": [
        {"vote_id": v.id, "take_a": v.take_a_id, "take_b": v.take_b_id, "model_a": v.model_a, "model_b": v.model_b,
         "winner": v.winner, "position_a": v.position_a, "position_b": v.position_b} for v in rows]}


@router.get("/boards/{board}/votes.csv", summary="The board's votes, one row per pairwise outcome (streamed)",
            response_class=StreamingResponse)
async def votes_csv(board: str, request: Request, actor: Actor = Depends(guard)):
    async with request.app.state.db.session() as s:
        b, _ = await board_for(s, actor, board, "view")
        hidden = (await blind_to(s, actor, [b]), voter_from_cookie(request))

    async def body():
        async with request.app.state.db.session() as s2:
            async for chunk in vote_csv(s2, [b.id], hidden_for=hidden):
                yield chunk

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="takes-{b.slug}-votes.csv"'})

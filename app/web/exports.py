"""CSV downloads: votes, leaderboards and comparison tables, per board and across every board
the actor may see. Every export streams: its session lives inside the response body, not the
request. Which boards an export covers is app.access's call, and which rows of a blind board
a voter gets is app.blind's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app import leaderboard as lb
from app.access import Actor, board_for, visible_boards
from app.blind import csv_hidden_boards
from app.exports import vote_csv
from app.tags import normalise_tag
from app.take_export import take_csv
from app.models import Board
from app.web.identity import ActorDep, voter_of
from app.web.inputs import TagQ
from app.web.schemas import errors
from app.web.services import Services, ServicesDep
from app.web.stream import ClosingStreamingResponse, disposition

router = APIRouter(tags=["exports"])
BlindQ = Query(False, description="Count only votes cast blind (model names hidden until the vote).")
CSV = {"content": {"text/csv": {}}, "description": "CSV (streamed), with a header row"}
ONE_BOARD = {200: CSV, **errors(404)}
EVERY_BOARD = {200: CSV, **errors()}


def csv_response(svc: Services, make: Callable[..., AsyncIterator[bytes]], filename: str) -> ClosingStreamingResponse:
    async def body():
        async with svc.db.session() as s:
            async for chunk in make(s):
                yield chunk

    return ClosingStreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": disposition(filename)})


async def _boards(svc: Services, actor: Actor, slug: str | None) -> list[Board]:
    """The one board named (the view role needed: otherwise its 404) or every visible one."""
    async with svc.db.session() as s:
        if slug is None:
            return await visible_boards(s, actor)
        board, _ = await board_for(s, actor, slug, "view")
        return [board]


async def _votes(request: Request, svc: Services, actor: Actor, slug: str | None) -> StreamingResponse:
    boards = await _boards(svc, actor, slug)
    async with svc.db.session() as s:
        hidden = (await csv_hidden_boards(s, actor, boards), voter_of(request, svc))
    ids = [b.id for b in boards]
    filename = "takes-votes.csv" if slug is None else f"takes-{boards[0].slug}-votes.csv"
    return csv_response(svc, lambda s2: vote_csv(s2, ids, hidden_for=hidden, raw=svc.settings.csv_raw), filename)


async def _takes(request: Request, svc: Services, actor: Actor, slug: str | None) -> StreamingResponse:
    boards = await _boards(svc, actor, slug)
    async with svc.db.session() as s:
        hidden = (await csv_hidden_boards(s, actor, boards), voter_of(request, svc))
    ids = [b.id for b in boards]
    filename = "takes-takes.csv" if slug is None else f"takes-{boards[0].slug}-takes.csv"
    return csv_response(svc, lambda s2: take_csv(s2, ids, hidden_for=hidden, raw=svc.settings.csv_raw), filename)


def _names(svc: Services) -> dict[str, str]:
    return {m.id: m.name for m in svc.catalog}


async def _chain(*parts):
    for part in parts:
        async for chunk in part:
            yield chunk


async def _table(svc: Services, actor: Actor, slug: str | None, export, kind: str, blind: bool,
                 tag: str | None) -> StreamingResponse:
    """A leaderboard or comparison-table CSV (`export`): per board for one board; across every
    visible board, per board and then all of them together (board = *). `tag` (normalised
    here, so a bad one is a 422 before the stream starts) keeps the votes and takes of
    comparisons with that tag, as on the leaderboard."""
    tag = normalise_tag(tag) if tag else None
    boards, names = await _boards(svc, actor, slug), _names(svc)

    def rows(s2):
        per_board = export(s2, boards, blind_only=blind, names=names, tag=tag)
        if slug is not None:
            return per_board
        return _chain(per_board, export(s2, boards, together=True, blind_only=blind, names=names, with_header=False,
                                        tag=tag))

    suffix = "-" + re.sub(r"[^\w.-]+", "-", tag) if tag else ""   # a tag's letters; no slash or quote
    name = f"takes-{boards[0].slug}-{kind}{suffix}.csv" if slug is not None else f"takes-{kind}{suffix}.csv"
    return csv_response(svc, rows, name)


@router.get("/api/votes.csv", summary="Votes of every board you can see, one row per pairwise outcome (streamed)",
            response_class=StreamingResponse, responses=EVERY_BOARD)
async def all_votes_csv(request: Request, svc: ServicesDep, actor: ActorDep):
    return await _votes(request, svc, actor, None)


@router.get("/api/boards/{slug}/votes.csv", summary="The board's votes, one row per pairwise outcome (streamed)",
            response_class=StreamingResponse, responses=ONE_BOARD)
async def board_votes_csv(slug: str, request: Request, svc: ServicesDep, actor: ActorDep):
    return await _votes(request, svc, actor, slug)


@router.get("/api/takes.csv", summary="Takes of every board you can see: as asked, take checks, costs (streamed)",
            response_class=StreamingResponse, responses=EVERY_BOARD)
async def all_takes_csv(request: Request, svc: ServicesDep, actor: ActorDep):
    return await _takes(request, svc, actor, None)


@router.get("/api/boards/{slug}/takes.csv", summary="The board's takes: as asked, take checks, costs (streamed)",
            response_class=StreamingResponse, responses=ONE_BOARD)
async def board_takes_csv(slug: str, request: Request, svc: ServicesDep, actor: ActorDep):
    return await _takes(request, svc, actor, slug)


@router.get("/api/boards/{slug}/leaderboard.csv", response_class=StreamingResponse, responses=ONE_BOARD,
            summary="A board's leaderboard as CSV, every criterion with votes (streamed)")
async def board_leaderboard_csv(slug: str, svc: ServicesDep, actor: ActorDep, blind: bool = BlindQ,
                                tag: str | None = TagQ):
    return await _table(svc, actor, slug, lb.leaderboard_csv, "leaderboard", blind, tag)


@router.get("/api/boards/{slug}/comparison-table.csv", response_class=StreamingResponse, responses=ONE_BOARD,
            summary="A board's comparison table as CSV (streamed)")
async def board_table_csv(slug: str, svc: ServicesDep, actor: ActorDep, blind: bool = BlindQ,
                          tag: str | None = TagQ):
    return await _table(svc, actor, slug, lb.comparison_table_csv, "comparison-table", blind, tag)


@router.get("/api/leaderboard.csv", response_class=StreamingResponse, responses=EVERY_BOARD,
            summary="Leaderboards of every board you can see, then all of them together (board = *), as CSV")
async def all_leaderboard_csv(svc: ServicesDep, actor: ActorDep, blind: bool = BlindQ,
                              tag: str | None = TagQ):
    return await _table(svc, actor, None, lb.leaderboard_csv, "leaderboard", blind, tag)


@router.get("/api/comparison-table.csv", response_class=StreamingResponse, responses=EVERY_BOARD,
            summary="The comparison table of every board you can see, then all of them together (board = *)")
async def all_table_csv(svc: ServicesDep, actor: ActorDep, blind: bool = BlindQ,
                        tag: str | None = TagQ):
    return await _table(svc, actor, None, lb.comparison_table_csv, "comparison-table", blind, tag)

"""A comparison's downloads: every take's original in one ZIP (streamed), the comments as CSV,
and each take's comments as editor markers (EDL, Final Cut Pro / Premiere XML). Links on the
comparison page (templates/partials/live_actions.html); the files are made by app.markers.

Access is the page's (view). What a viewer gets is what the page shows them: file names carry
the model only once it is revealed to this viewer (app.blind.download_stem), comments are the
ones they may read (app.web.comments.visible_comments), and on a blind board before the vote
the takes are downloadable only once every take has finished (app.blind.players_shown), as the
players are.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from app import blind as blind_rules
from app.errors import Conflict, NotFound
from app.markers import Marker, comments_csv, edl, fcp_xml, timecode, frames, zip_stream
from app.web.comments import visible_comments
from app.web.comparisons import viewer_view
from app.web.identity import ActorDep, view_voter
from app.web.schemas import errors
from app.web.services import ServicesDep, SessionDep
from app.web.stream import ClosingStreamingResponse, disposition
from app.web.views import ComparisonView, Tile, original_type

router = APIRouter(tags=["exports"])
VIEWERS = errors(404, 409)


def _attachment(name: str) -> dict:
    return {"Content-Disposition": disposition(name), "Cache-Control": "no-store"}


def file_stem(tile: Tile, view: ComparisonView) -> str:
    """`A-take-<id>` before the reveal, `A-take-<id>-<model>` after (app.blind's rule)."""
    return f"{tile.label}-{blind_rules.download_stem(tile.take, not view.revealed)}"


def _downloadable(view: ComparisonView) -> list[Tile]:
    if not blind_rules.players_shown(view.blind, view.revealed, view.all_done):
        raise Conflict("on a blind board the takes can be downloaded once every take has finished")
    tiles = [t for t in view.tiles if t.take.status == "ready" and t.take.clip_key]
    if not tiles:
        raise Conflict("no take is ready yet")
    return tiles


@router.get("/api/comparisons/{comparison_id}/takes.zip", response_class=StreamingResponse,
            summary="Every ready take's original in one ZIP (streamed)",
            responses={200: {"content": {"application/zip": {}}, "description": "ZIP, streamed"}, **VIEWERS})
async def takes_zip(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    c, view = await viewer_view(request, svc, s, actor, comparison_id)
    # local files as they are; from object storage, each fetched once into MEDIA_DIR/.cache
    files = [(f"{file_stem(t, view)}.{original_type(t.take)[0]}",
              svc.storage.path(t.take.clip_key) if svc.storage.is_local else await svc.storage.fetch(t.take.clip_key))
             for t in _downloadable(view)]
    missing = [name for name, path in files if not path.exists()]
    if missing:
        raise NotFound(f"the original of {missing[0]} is missing from the media store")
    return ClosingStreamingResponse(zip_stream(files), media_type="application/zip",
                             headers=_attachment(f"takes-{c.id}.zip"))


async def _comments(request: Request, svc, s, actor, comparison_id: str):
    c, view = await viewer_view(request, svc, s, actor, comparison_id)
    rows, _, _ = await visible_comments(s, c, await view_voter(request, svc, s), view.role, actor)
    return c, view, rows


@router.get("/api/comparisons/{comparison_id}/comments.csv", response_class=Response,
            summary="The comments you may read, one row each, with the take's label and time code",
            responses={200: {"content": {"text/csv": {}}, "description": "CSV, with a header row"}, **errors(404)})
async def comments_csv_route(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    c, view, rows = await _comments(request, svc, s, actor, comparison_id)
    tiles = {t.take.id: t for t in view.tiles}
    out = []
    for r in rows:
        tile = tiles.get(r.comment.take_id)
        if tile is None:
            continue
        fps = tile.take.fps
        out.append([c.id, tile.label, tile.take.model_id if view.revealed else "", f"{r.comment.time_s:g}",
                    timecode(frames(r.comment.time_s, fps), fps), r.author, r.comment.body,
                    r.comment.created_at.isoformat()])
    return Response(comments_csv(out, raw=svc.settings.csv_raw), media_type="text/csv; charset=utf-8",
                    headers=_attachment(f"takes-{c.id}-comments.csv"))


async def _take_markers(request: Request, svc, s, actor, comparison_id: str, take_id: str):
    c, view, rows = await _comments(request, svc, s, actor, comparison_id)
    tile = next((t for t in view.tiles if t.take.id == take_id), None)
    if tile is None:
        raise NotFound(f"no take {take_id!r} in comparison {comparison_id!r}")
    if tile.take.status != "ready" or not blind_rules.players_shown(view.blind, view.revealed, view.all_done):
        raise Conflict("markers are for takes that can be played: this one is not ready (or, on a blind "
                       "board, not every take has finished)")
    markers = [Marker(r.comment.time_s, r.author, r.comment.body) for r in rows if r.comment.take_id == take_id]
    stem = file_stem(tile, view)
    return tile, stem, f"{stem}.{original_type(tile.take)[0]}", markers


@router.get("/api/comparisons/{comparison_id}/takes/{take_id}/markers.edl", response_class=Response,
            summary="A take's comments as markers in a CMX3600 EDL",
            responses={200: {"content": {"text/plain": {}}, "description": "EDL"}, **VIEWERS})
async def markers_edl(comparison_id: str, take_id: str, request: Request, svc: ServicesDep, s: SessionDep,
                      actor: ActorDep):
    tile, stem, clip, markers = await _take_markers(request, svc, s, actor, comparison_id, take_id)
    return Response(edl(stem, clip, tile.take.fps, markers), media_type="text/plain; charset=utf-8",
                    headers=_attachment(f"{stem}.edl"))


@router.get("/api/comparisons/{comparison_id}/takes/{take_id}/markers.xml", response_class=Response,
            summary="A take's comments as markers in Final Cut Pro 7 XML (imports into Premiere Pro)",
            responses={200: {"content": {"application/xml": {}}, "description": "xmeml v5"}, **VIEWERS})
async def markers_xml(comparison_id: str, take_id: str, request: Request, svc: ServicesDep, s: SessionDep,
                      actor: ActorDep):
    tile, stem, clip, markers = await _take_markers(request, svc, s, actor, comparison_id, take_id)
    t = tile.take
    body = fcp_xml(stem, clip, t.fps, t.duration_s or 0.0, t.width, t.height, markers)
    return Response(body, media_type="application/xml", headers=_attachment(f"{stem}.xml"))

"""Clips, posters and source images, served with HTTP Range (seeking needs it), ETag and
Last-Modified. A take's media never changes once ready (a re-roll is a new take), so it is
cached as immutable."""

from __future__ import annotations

import os
from email.utils import parsedate_to_datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, comparison_for, take_for
from app.blind import download_stem
from app.errors import NotFound
from app.models import Board, Comparison, Take
from app.web.identity import ActorDep
from app.web.schemas import errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import original_type, original_url

router = APIRouter(tags=["media"])
MISSING = errors(404)
IMMUTABLE = "private, max-age=31536000, immutable"


def _file(request: Request, svc: Services, key: str | None, media_type: str, filename: str | None = None) -> Response:
    storage = svc.storage
    if not key or not storage.exists(key):
        raise NotFound("no such media")
    path = storage.path(key)
    response = FileResponse(path, media_type=media_type, filename=filename, stat_result=os.stat(path),
                            content_disposition_type="inline" if filename is None else "attachment",
                            headers={"Cache-Control": IMMUTABLE})
    if _not_modified(request, response.headers):
        return Response(status_code=304, headers={k: response.headers[k] for k in ("etag", "last-modified",
                                                                                    "cache-control")})
    return response


def _not_modified(request: Request, headers) -> bool:
    """RFC 9110 §13.1: If-None-Match wins over If-Modified-Since; a revalidating player or
    browser then gets 304 instead of the clip again."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        etag = headers["etag"].removeprefix("W/")
        return inm.strip() == "*" or etag in {t.strip().removeprefix("W/") for t in inm.split(",")}
    ims = request.headers.get("if-modified-since")
    if ims and "range" not in request.headers:
        try:
            return parsedate_to_datetime(headers["last-modified"]) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


async def _take(s: AsyncSession, actor: Actor, take_id: str) -> Take:
    """The take, if the actor may see its board; otherwise the same 404 as a missing take."""
    take, _ = await take_for(s, actor, take_id, "view", not_found="no such take")
    return take


@router.get("/media/takes/{take_id}/video.mp4", summary="The clip to play: the browser-safe proxy if one was made",
            response_class=FileResponse, responses={200: {"content": {"video/mp4": {}, "video/webm": {}}}, **MISSING})
async def take_video(take_id: str, request: Request, s: SessionDep, actor: ActorDep, svc: ServicesDep):
    take = await _take(s, actor, take_id)
    if take.proxy_key:
        return _file(request, svc, take.proxy_key, "video/mp4")
    # No proxy: the original is MP4/MOV (played as MP4) or WebM (probe said so; see app.media).
    return _file(request, svc, take.clip_key, "video/webm" if original_type(take)[0] == "webm" else "video/mp4")


@router.get("/media/takes/{take_id}/original.{ext}", summary="The untouched original, as a download",
            response_class=FileResponse, responses={200: {"content": {"video/*": {}}}, **MISSING,
                                                    307: {"description": "an old .mp4 link: to the real extension"}},
            description="`ext` is the original's own extension (mp4, mov, webm, mkv, avi, ts …), as in the "
                        "take's `original_url`; it is served with its own MIME type.")
async def take_original(take_id: str, ext: str, request: Request, s: SessionDep, actor: ActorDep, svc: ServicesDep):
    take = await _take(s, actor, take_id)
    real_ext, mime = original_type(take)
    if ext != real_ext:
        if ext == "mp4" and take.clip_key:
            # every original URL used to end in .mp4: such a link still leads to the file
            return RedirectResponse(original_url(take), status_code=307)
        raise NotFound("no such media")
    blind = (await s.execute(select(Board.blind).join(Comparison, Comparison.board_id == Board.id)
                             .where(Comparison.id == take.comparison_id))).scalar_one()
    stem = download_stem(take, blind)
    return _file(request, svc, take.clip_key, mime, filename=f"{stem}.{real_ext}")


@router.get("/media/takes/{take_id}/poster.jpg", summary="The take's poster frame",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}, **MISSING})
async def take_poster(take_id: str, request: Request, s: SessionDep, actor: ActorDep, svc: ServicesDep):
    take = await _take(s, actor, take_id)
    return _file(request, svc, take.poster_key, "image/jpeg")


@router.get("/media/comparisons/{comparison_id}/source", summary="The comparison's source image",
            response_class=FileResponse, responses={200: {"content": {"image/*": {}}}, **MISSING})
async def source_image(comparison_id: str, request: Request, s: SessionDep, actor: ActorDep, svc: ServicesDep):
    try:
        c, _ = await comparison_for(s, actor, comparison_id, "view")
    except NotFound:
        raise NotFound("no such image") from None
    if not c.source_image:
        raise NotFound("no such image")
    return _file(request, svc, c.source_image, c.params.get("image_mime", "application/octet-stream"))

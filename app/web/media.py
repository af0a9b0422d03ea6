"""Clips, posters and source images, served with HTTP Range (seeking needs it), ETag and
Last-Modified. A take's media never changes once ready (a re-roll is a new take), so it is
cached as immutable."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, comparison_for, take_for
from app.errors import NotFound
from app.models import Take
from app.web.deps import session
from app.web.security import guard

router = APIRouter(prefix="/media", tags=["media"])
IMMUTABLE = "private, max-age=31536000, immutable"


def _file(request: Request, key: str | None, media_type: str, filename: str | None = None) -> FileResponse:
    storage = request.app.state.storage
    if not key or not storage.exists(key):
        raise NotFound("no such media")
    return FileResponse(storage.path(key), media_type=media_type, filename=filename,
                        content_disposition_type="inline" if filename is None else "attachment",
                        headers={"Cache-Control": IMMUTABLE})


async def _take(s: AsyncSession, actor: Actor, take_id: str) -> Take:
    """The take, if the actor may see its board; otherwise the same 404 as a missing take."""
    take, _ = await take_for(s, actor, take_id, "view", not_found="no such take")
    return take


@router.get("/takes/{take_id}/video.mp4", summary="The clip to play: the browser-safe proxy if one was made")
async def take_video(take_id: str, request: Request, s: AsyncSession = Depends(session),
                     actor: Actor = Depends(guard)):
    take = await _take(s, actor, take_id)
    return _file(request, take.proxy_key or take.clip_key, "video/mp4")


@router.get("/takes/{take_id}/original.mp4", summary="The untouched original, as a download")
async def take_original(take_id: str, request: Request, s: AsyncSession = Depends(session),
                     actor: Actor = Depends(guard)):
    take = await _take(s, actor, take_id)
    return _file(request, take.clip_key, "video/mp4", filename=f"take-{take.id}-{take.model_id.replace('/', '_')}.mp4")


@router.get("/takes/{take_id}/poster.jpg")
async def take_poster(take_id: str, request: Request, s: AsyncSession = Depends(session),
                     actor: Actor = Depends(guard)):
    take = await _take(s, actor, take_id)
    return _file(request, take.poster_key, "image/jpeg")


@router.get("/comparisons/{comparison_id}/source", summary="The comparison's source image")
async def source_image(comparison_id: str, request: Request, s: AsyncSession = Depends(session),
                       actor: Actor = Depends(guard)):
    try:
        c, _ = await comparison_for(s, actor, comparison_id, "view")
    except NotFound:
        raise NotFound("no such image") from None
    if not c.source_image:
        raise NotFound("no such image")
    return _file(request, c.source_image, c.params.get("image_mime", "application/octet-stream"))

"""Clips, posters and source images, served with HTTP Range (seeking needs it), ETag and
Last-Modified. A take's media never changes once ready (a re-roll is a new take), so it is
cached as immutable."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import Comparison, Take
from app.web.deps import session

router = APIRouter(prefix="/media", tags=["media"])
IMMUTABLE = "private, max-age=31536000, immutable"


def _file(request: Request, key: str | None, media_type: str, filename: str | None = None) -> FileResponse:
    storage = request.app.state.storage
    if not key or not storage.exists(key):
        raise NotFound("no such media")
    return FileResponse(storage.path(key), media_type=media_type, filename=filename,
                        content_disposition_type="inline" if filename is None else "attachment",
                        headers={"Cache-Control": IMMUTABLE})


async def _take(s: AsyncSession, take_id: str) -> Take:
    take = await s.get(Take, take_id)
    if take is None:
        raise NotFound("no such take")
    return take


@router.get("/takes/{take_id}/video.mp4", summary="The clip to play: the browser-safe proxy if one was made")
async def take_video(take_id: str, request: Request, s: AsyncSession = Depends(session)):
    take = await _take(s, take_id)
    return _file(request, take.proxy_key or take.clip_key, "video/mp4")


@router.get("/takes/{take_id}/original.mp4", summary="The untouched original, as a download")
async def take_original(take_id: str, request: Request, s: AsyncSession = Depends(session)):
    take = await _take(s, take_id)
    return _file(request, take.clip_key, "video/mp4", filename=f"take-{take.id}-{take.model_id.replace('/', '_')}.mp4")


@router.get("/takes/{take_id}/poster.jpg")
async def take_poster(take_id: str, request: Request, s: AsyncSession = Depends(session)):
    take = await _take(s, take_id)
    return _file(request, take.poster_key, "image/jpeg")


@router.get("/comparisons/{comparison_id}/source", summary="The comparison's source image")
async def source_image(comparison_id: str, request: Request, s: AsyncSession = Depends(session)):
    c = await s.get(Comparison, comparison_id)
    if c is None or not c.source_image:
        raise NotFound("no such image")
    return _file(request, c.source_image, c.params.get("image_mime", "application/octet-stream"))

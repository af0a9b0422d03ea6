"""Clips, posters and source images, served with HTTP Range (seeking needs it), ETag and
Last-Modified. A take's media never changes once ready (a re-roll is a new take), so it is
cached as immutable."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, comparison_for, take_for
from app.blind import download_stem
from app.errors import NotFound
from app.models import Board, Comparison, Take
from app.web.identity import ActorDep
from app.web.media_grants import IMMUTABLE, Plan, answer, not_modified
from app.web.schemas import errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.stream import object_headers, stream_object
from app.web.views import original_type, original_url

router = APIRouter(tags=["media"])
MISSING = errors(404)


async def _file(request: Request, svc: Services, key: str | None, media_type: str,
                filename: str | None = None) -> Response:
    """The answer for a file the actor may see (the caller checked). A local file's answer
    is remembered for this path and these credentials for MEDIA_GRANT_TTL_S (app/web/media_grants.py),
    so the player's next Range requests skip the check."""
    storage = svc.storage
    if not storage.is_local:
        return await _stored(request, svc, key, media_type, filename)
    if not key or not storage.exists(key):
        raise NotFound("no such media")
    plan = Plan(key, media_type, filename)
    response = answer(request, svc.settings, storage, plan)
    svc.media_grants.put(request.scope, plan)
    return response


async def _stored(request: Request, svc: Services, key: str | None, media_type: str, filename: str | None) -> Response:
    """The same answer from object storage (app/web/stream.py): streamed with Range, 304 alike."""
    obj = await svc.storage.stat(key)
    if obj is None:
        raise NotFound("no such media")
    headers = object_headers(obj, filename, IMMUTABLE)
    if not_modified(request, headers):
        return Response(status_code=304, headers={k: headers[k] for k in ("etag", "last-modified", "cache-control")})
    return stream_object(request, svc.storage, key, obj, media_type, headers)


async def _take(s: AsyncSession, actor: Actor, take_id: str) -> Take:
    """The take, if the actor may see its board; otherwise the same 404 as a missing take."""
    take, _ = await take_for(s, actor, take_id, "view", not_found="no such take")
    return take


@router.get("/media/takes/{take_id}/video.mp4", summary="The clip to play: the browser-safe proxy if one was made",
            response_class=FileResponse, responses={200: {"content": {"video/mp4": {}, "video/webm": {}}}, **MISSING})
async def take_video(take_id: str, request: Request, s: SessionDep, actor: ActorDep, svc: ServicesDep):
    take = await _take(s, actor, take_id)
    if take.proxy_key:
        return await _file(request, svc, take.proxy_key, "video/mp4")
    # No proxy: the original is MP4/MOV (played as MP4) or WebM (probe said so; see app.media).
    return await _file(request, svc, take.clip_key, "video/webm" if original_type(take)[0] == "webm" else "video/mp4")


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
    return await _file(request, svc, take.clip_key, mime, filename=f"{stem}.{real_ext}")


@router.get("/media/takes/{take_id}/poster.jpg", summary="The take's poster frame",
            response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}, **MISSING})
async def take_poster(take_id: str, request: Request, s: SessionDep, actor: ActorDep, svc: ServicesDep):
    take = await _take(s, actor, take_id)
    return await _file(request, svc, take.poster_key, "image/jpeg")


async def _comparison_file(request: Request, svc: Services, s, actor, comparison_id: str, what: str,
                           key_of, mime_field: str, default_mime: str) -> Response:
    """A comparison's own upload (its source image, its reference video): a 404 alike for a
    comparison the actor may not see, one that does not exist, and one without the file."""
    try:
        c, _ = await comparison_for(s, actor, comparison_id, "view")
    except NotFound:
        raise NotFound(f"no such {what}") from None
    key = key_of(c)
    if not key:
        raise NotFound(f"no such {what}")
    return await _file(request, svc, key, c.params.get(mime_field, default_mime))


@router.get("/media/comparisons/{comparison_id}/reference", summary="The comparison's reference video",
            response_class=FileResponse, responses={200: {"content": {"video/*": {}}}, **MISSING})
async def reference_video(comparison_id: str, request: Request, s: SessionDep, actor: ActorDep, svc: ServicesDep):
    return await _comparison_file(request, svc, s, actor, comparison_id, "video", lambda c: c.reference_video,
                                  "reference_mime", "video/mp4")


@router.get("/media/comparisons/{comparison_id}/source", summary="The comparison's source image",
            response_class=FileResponse, responses={200: {"content": {"image/*": {}}}, **MISSING})
async def source_image(comparison_id: str, request: Request, s: SessionDep, actor: ActorDep, svc: ServicesDep):
    return await _comparison_file(request, svc, s, actor, comparison_id, "image", lambda c: c.source_image,
                                  "image_mime", "application/octet-stream")

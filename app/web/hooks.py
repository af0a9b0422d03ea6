"""Provider webhooks: fal, Replicate, Luma, Kling, MiniMax and Ark call this when a job
changes (only while PUBLIC_URL is set). The route only reads the raw body (signatures cover
its exact bytes) and hands it to app.hooks.receive_hook; a delivery it accepts wakes the take's
next poll, and that poll, a fetch from the provider, is what moves the take."""

from __future__ import annotations

from fastapi import APIRouter, Request
from app.hooks import receive_hook
from app.web.schemas import HookOut, errors
from app.web.services import ServicesDep, SessionDep

router = APIRouter(tags=["provider webhooks"])


@router.post("/hooks/{provider}/{take_id}", response_model=HookOut, responses=errors(401, 404, 422),
             summary="A provider's webhook about one take's job",
             description="Called by the provider, never by people: the URL carries a per-take `token`; "
                         "Replicate's Standard Webhooks and fal's ED25519 signatures are checked too.")
async def provider_hook(provider: str, take_id: str, request: Request, s: SessionDep, svc: ServicesDep,
                        token: str | None = None) -> HookOut:
    result = await receive_hook(s, svc.settings, provider, take_id, token, request.headers, await request.body())
    if result.status == "accepted":
        await svc.queue.wake(take_id)
    return HookOut(status=result.status, detail=result.detail, challenge=result.challenge)

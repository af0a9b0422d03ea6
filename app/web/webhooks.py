"""A board's outgoing webhooks (owners): add and remove endpoints, read the delivery log — on
the board settings page and as JSON, over app.webhooks (which also queues and sends events)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from app import webhooks as wh
from app.errors import TakesError
from app.web.board_schemas import WebhookDeliveryOut, WebhookIn, WebhookOut
from app.web.boards import settings_page
from app.web.identity import ActorDep
from app.web.members import managed
from app.web.schemas import errors
from app.web.services import ServicesDep, SessionDep

router = APIRouter()
OWNERS = errors(403, 404)


def webhook_json(h) -> dict:
    return {"id": h.id, "url": h.url, "events": list(h.events or []), "secret": h.secret, "active": h.active,
            "created_at": h.created_at.isoformat()}


def delivery_json(d, url: str) -> dict:
    return {"id": d.id, "endpoint_url": url, "event": d.event, "status": d.status, "attempts": d.attempts,
            "last_status": d.last_status, "last_error": d.last_error, "created_at": d.created_at.isoformat(),
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None}


@router.post("/b/{slug}/webhooks", include_in_schema=False)
async def webhook_form(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    board = await managed(s, actor, slug)
    form = await request.form()
    try:
        await wh.add_endpoint(s, board, str(form.get("url") or "").strip(), [str(e) for e in form.getlist("events")])
    except TakesError as exc:
        return await settings_page(request, svc, s, board, status_code=exc.status_code, webhook_error=exc.message,
                                   webhook_url=form.get("url") or "")
    return RedirectResponse(f"/b/{slug}/settings#webhooks", status_code=303)


@router.post("/b/{slug}/webhooks/{webhook_id}/delete", include_in_schema=False)
async def webhook_delete_form(slug: str, webhook_id: str, s: SessionDep, actor: ActorDep):
    await wh.remove_endpoint(s, await managed(s, actor, slug), webhook_id)
    return RedirectResponse(f"/b/{slug}/settings#webhooks", status_code=303)


@router.get("/api/boards/{slug}/webhooks", tags=["webhooks"], summary="A board's outgoing webhooks (owners)",
            response_model=list[WebhookOut], responses=OWNERS)
async def api_webhooks(slug: str, s: SessionDep, actor: ActorDep) -> list[dict]:
    return [webhook_json(h) for h in await wh.endpoints(s, await managed(s, actor, slug))]


@router.post("/api/boards/{slug}/webhooks", tags=["webhooks"], status_code=201, response_model=WebhookOut,
             summary="Add an outgoing webhook (owners); events are signed with its secret (Standard Webhooks)",
             responses=OWNERS)
async def api_add_webhook(slug: str, body: WebhookIn, s: SessionDep, actor: ActorDep) -> dict:
    return webhook_json(await wh.add_endpoint(s, await managed(s, actor, slug), body.url, body.events))


@router.delete("/api/boards/{slug}/webhooks/{webhook_id}", tags=["webhooks"], status_code=204,
               summary="Remove an outgoing webhook (owners)", responses=OWNERS)
async def api_remove_webhook(slug: str, webhook_id: str, s: SessionDep, actor: ActorDep) -> None:
    await wh.remove_endpoint(s, await managed(s, actor, slug), webhook_id)


@router.get("/api/boards/{slug}/webhooks/deliveries", tags=["webhooks"],
            summary="The board's webhook delivery log, newest first (owners)",
            response_model=list[WebhookDeliveryOut], responses=OWNERS)
async def api_deliveries(slug: str, s: SessionDep, actor: ActorDep) -> list[dict]:
    return [delivery_json(d, url) for d, url in await wh.delivery_log(s, await managed(s, actor, slug))]

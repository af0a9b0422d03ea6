"""Outgoing webhooks of a board: events for integrations (Slack, a render farm, an asset manager).

- A board owner adds endpoints (a URL and the events it wants) on the board settings page or
  through the API; each gets its own Standard Webhooks secret (`whsec_…`).
- An event is written as one `WebhookDelivery` row per subscribed endpoint **in the same
  transaction as the change it reports** (a take's end, a vote): the table is an outbox, so an
  event is never lost to a crash between the change and the send, and never sent for a change
  that was rolled back.
- `deliver_due` (run every WEBHOOK_SWEEP_S by the in-process runner and by every `takes worker`)
  sends due rows, signed with Standard Webhooks (`webhook-id` = the row id, so a receiver can
  deduplicate, `webhook-timestamp`, `webhook-signature`), and retries non-2xx answers and network
  errors with backoff (WEBHOOK_RETRY_S) until the schedule runs out (then `failed`). A row is
  claimed by a conditional UPDATE before it is sent, so two sweepers never send it twice at once.
- The rows are also the delivery log the settings page shows.

Events are a registry (`EVENTS`); a new kind is one entry more and one `emit` call.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InputError, NotFound
from app.models import TERMINAL_STATES, Board, BoardWebhook, Comparison, Suite, Take, WebhookDelivery, utcnow

log = logging.getLogger(__name__)

EVENTS: dict[str, str] = {
    "take.ready": "a take finished and can be played",
    "take.failed": "a take failed (with the provider's reason)",
    "comparison.complete": "every take of a comparison has ended",
    "vote.cast": "someone voted on a comparison",
    "suite.complete": "every take of a suite has ended (or the suite was cancelled)",
}
MAX_ENDPOINTS = 10
TIMEOUT_S = 10.0


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


MAX_EVENTS = 20   # per endpoint; /openapi.json declares it too (app/web/board_schemas.py WebhookIn)
# What /openapi.json declares for a webhook URL (WebhookIn) and what is checked here: one
# pattern, so a URL the schema calls invalid is never stored (the fuzz gate sent "https://el:9*").
URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\x00-\x1f\x7f]*)?$"
_URL = re.compile(URL_PATTERN)


def _check(url: str, events: list[str]) -> tuple[str, list[str]]:
    url = url or ""
    if not _URL.fullmatch(url) or len(url) > 2000:   # the pattern itself requires a host
        raise InputError("the webhook URL must be an absolute http(s) URL (at most 2000 characters)")
    if len(events) > MAX_EVENTS:
        raise InputError(f"at most {MAX_EVENTS} events")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise InputError(f"unknown events: {', '.join(unknown)}; known: {', '.join(EVENTS)}")
    if not events:
        raise InputError("pick at least one event")
    return url, [e for e in EVENTS if e in events]


async def add_endpoint(s: AsyncSession, board: Board, url: str, events: list[str]) -> BoardWebhook:
    url, events = _check(url, events)
    count = (await s.execute(select(func.count()).select_from(BoardWebhook)
                             .where(BoardWebhook.board_id == board.id))).scalar_one()
    if count >= MAX_ENDPOINTS:
        raise InputError(f"a board has at most {MAX_ENDPOINTS} webhook endpoints")
    hook = BoardWebhook(board_id=board.id, url=url, events=events, secret=new_secret())
    s.add(hook)
    await s.commit()
    return hook


async def remove_endpoint(s: AsyncSession, board: Board, endpoint_id: str) -> None:
    hook = await s.get(BoardWebhook, endpoint_id)
    if hook is None or hook.board_id != board.id:
        raise NotFound("no such webhook endpoint on this board")
    await s.delete(hook)
    await s.commit()


async def endpoints(s: AsyncSession, board: Board) -> list[BoardWebhook]:
    return list((await s.execute(select(BoardWebhook).where(BoardWebhook.board_id == board.id)
                                 .order_by(BoardWebhook.created_at))).scalars())


async def delivery_log(s: AsyncSession, board: Board, limit: int = 50) -> list[tuple[WebhookDelivery, str]]:
    """The newest deliveries of the board's endpoints, with each one's URL."""
    rows = await s.execute(select(WebhookDelivery, BoardWebhook.url)
                           .join(BoardWebhook, BoardWebhook.id == WebhookDelivery.endpoint_id)
                           .where(BoardWebhook.board_id == board.id)
                           .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(limit))
    return [(d, url) for d, url in rows.all()]


async def emit(s: AsyncSession, board_id: str, event: str, data: dict[str, Any]) -> int:
    """Queue `event` for every active endpoint of the board that wants it; the caller commits
    (with the change the event reports). Returns how many deliveries were queued."""
    assert event in EVENTS, event
    hooks = (await s.execute(select(BoardWebhook).where(BoardWebhook.board_id == board_id,
                                                        BoardWebhook.active.is_(True)))).scalars().all()
    now = utcnow()
    payload = {"type": event, "timestamp": now.isoformat(), "data": data}
    n = 0
    for hook in hooks:
        if event in (hook.events or []):
            s.add(WebhookDelivery(id="msg_" + uuid.uuid4().hex, endpoint_id=hook.id, event=event, payload=payload,
                                  next_attempt_at=now, created_at=now))
            n += 1
    return n


async def take_ended(s: AsyncSession, take_id: str, status: str) -> None:
    """take.ready / take.failed, and comparison.complete when it was the comparison's last take
    to end. The comparison row is locked first (PostgreSQL) so that of two takes ending at once
    exactly one sees the other ended; SQLite's single writer serialises them by itself."""
    if status not in ("ready", "failed"):
        return
    # Most boards have no endpoint: one query says so, before any row is loaded or locked
    # (issue 14: ten takes of one comparison ending at once queued on that lock for nothing).
    hooked = (await s.execute(
        select(BoardWebhook.id).join(Comparison, Comparison.board_id == BoardWebhook.board_id)
        .join(Take, Take.comparison_id == Comparison.id)
        .where(Take.id == take_id, BoardWebhook.active.is_(True)).limit(1))).first()
    if hooked is None:
        return
    take = (await s.execute(select(Take).where(Take.id == take_id))).scalar_one()
    lock = select(Comparison).where(Comparison.id == take.comparison_id)
    if s.bind.dialect.name == "postgresql":
        lock = lock.with_for_update()
    comparison = (await s.execute(lock)).scalar_one()
    await emit(s, comparison.board_id, f"take.{status}", _take_data(take, comparison))
    left = (await s.execute(select(func.count()).select_from(Take)
                            .where(Take.comparison_id == comparison.id, Take.id != take.id,
                                   Take.status.not_in(TERMINAL_STATES)))).scalar_one()
    if left == 0:
        takes = (await s.execute(select(Take).where(Take.comparison_id == comparison.id))).scalars().all()
        await emit(s, comparison.board_id, "comparison.complete", {
            "comparison": {"id": comparison.id, "prompt": comparison.prompt},
            "takes": [{"id": t.id, "model": t.model_id, "status": status if t.id == take.id else t.status}
                      for t in takes]})
        if comparison.suite_id:
            await _suite_if_ended(s, comparison.suite_id, take.id)


async def _suite_if_ended(s: AsyncSession, suite_id: str, take_id: str) -> None:
    """suite.complete when the take that just ended was the suite's last one. Only the last
    take of a comparison can be the suite's last, so only those lock the suite row (PostgreSQL):
    of two comparisons of one suite ending at once, the second to lock sees the first ended."""
    lock = select(Suite).where(Suite.id == suite_id)
    if s.bind.dialect.name == "postgresql":
        lock = lock.with_for_update()
    suite = (await s.execute(lock)).scalar_one_or_none()
    if suite is None or suite.status == "cancelled":
        return
    left = (await s.execute(select(func.count()).select_from(Take).join(Comparison, Comparison.id == Take.comparison_id)
                            .where(Comparison.suite_id == suite_id, Take.id != take_id,
                                   Take.status.not_in(TERMINAL_STATES)))).scalar_one()
    if left == 0:
        await suite_ended(s, suite, "done")


async def suite_ended(s: AsyncSession, suite: Suite, status: str) -> None:
    """Queue suite.complete (`status` "done", or "cancelled" from app.suite_runs.cancel_suite):
    the suite, its takes per state and its comparisons' count. The caller commits. A suite
    whose failed takes are retried sends it again when the retries end."""
    if not await _has_endpoints(s, suite.board_id):
        return
    counts = dict((await s.execute(select(Take.status, func.count()).join(Comparison, Comparison.id == Take.comparison_id)
                                   .where(Comparison.suite_id == suite.id).group_by(Take.status))).all())
    comparisons = (await s.execute(select(func.count()).select_from(Comparison)
                                   .where(Comparison.suite_id == suite.id))).scalar_one()
    await emit(s, suite.board_id, "suite.complete", {
        "suite": {"id": suite.id, "name": suite.name, "status": status, "url": f"/suites/{suite.id}",
                  "report_url": f"/suites/{suite.id}/report"},
        "comparisons": comparisons,
        "takes": {k: int(counts.get(k, 0)) for k in ("ready", "failed", "cancelled")}})


async def vote_cast(s: AsyncSession, comparison: Comparison, voter_id: str, ballot_id: str, kind: str,
                    criterion: str, pairs: list[dict[str, Any]]) -> None:
    # the vote path's one query already said whether the board has any (app.access.BallotTarget)
    if getattr(comparison, "hooks", True) and await _has_endpoints(s, comparison.board_id):
        await emit(s, comparison.board_id, "vote.cast", {
            "comparison": {"id": comparison.id, "prompt": comparison.prompt}, "ballot_id": ballot_id,
            "voter_id": voter_id, "kind": kind, "criterion": criterion, "pairs": pairs})


async def _has_endpoints(s: AsyncSession, board_id: str) -> bool:
    return (await s.execute(select(BoardWebhook.id).where(BoardWebhook.board_id == board_id,
                                                          BoardWebhook.active.is_(True)).limit(1))).first() is not None


def _take_data(take: Take, comparison: Comparison) -> dict[str, Any]:
    return {"take": {"id": take.id, "model": take.model_id, "provider": take.provider, "attempt": take.attempt,
                     "error_code": take.error_code, "error": take.error_message,
                     "video_url": f"/media/takes/{take.id}/video.mp4"},
            "comparison": {"id": comparison.id, "prompt": comparison.prompt}}


def sign(secret: str, msg_id: str, when: datetime, body: str) -> dict[str, str]:
    """Standard Webhooks headers for one delivery (the `standardwebhooks` package signs)."""
    from standardwebhooks.webhooks import Webhook

    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, when, body), "content-type": "application/json"}


async def deliver_forever(db, settings) -> None:
    """The sender loop (in-process runner and each `takes worker`): due rows every
    WEBHOOK_SWEEP_S; an outage or a bug is logged and the loop goes on."""
    import asyncio

    async with httpx.AsyncClient(follow_redirects=False) as client:
        while True:
            try:
                while await deliver_due(db, settings.webhook_retry_s, client) >= 50:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("webhook delivery pass failed: %s", exc)
            await asyncio.sleep(settings.webhook_sweep_s)


async def deliver_due(db, retry_s: list[float], client: httpx.AsyncClient, limit: int = 50) -> int:
    """Send the due deliveries once each; returns how many were attempted."""
    now = utcnow()
    async with db.session() as s:
        due = (await s.execute(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending",
                                                                WebhookDelivery.next_attempt_at <= now)
                               .order_by(WebhookDelivery.next_attempt_at).limit(limit))).scalars().all()
    sent = 0
    for msg_id in due:
        sent += await _deliver_one(db, msg_id, now, retry_s, client)
    return sent


async def _deliver_one(db, msg_id: str, now: datetime, retry_s: list[float], client: httpx.AsyncClient) -> int:
    async with db.session() as s:   # claim it: nobody else sends it while we do
        claimed = await s.execute(update(WebhookDelivery)
                                  .where(WebhookDelivery.id == msg_id, WebhookDelivery.status == "pending",
                                         WebhookDelivery.next_attempt_at <= now)
                                  .values(next_attempt_at=now + timedelta(seconds=TIMEOUT_S * 3)))
        await s.commit()
        if claimed.rowcount != 1:
            return 0
        row = await s.get(WebhookDelivery, msg_id)
        hook = await s.get(BoardWebhook, row.endpoint_id)
        url, secret, payload, attempts = hook.url, hook.secret, row.payload, row.attempts
    body = json.dumps(payload, separators=(",", ":"))
    status, error = None, None
    try:
        resp = await client.post(url, content=body.encode(), headers=sign(secret, msg_id, utcnow(), body),
                                 timeout=TIMEOUT_S)
        status = resp.status_code
        error = None if resp.is_success else f"HTTP {status}: {resp.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    attempts += 1
    values: dict[str, Any] = {"attempts": attempts, "last_status": status, "last_error": error}
    if error is None:
        values.update(status="delivered", delivered_at=utcnow())
    elif attempts > len(retry_s):
        values.update(status="failed")
    else:
        values.update(next_attempt_at=utcnow() + timedelta(seconds=retry_s[attempts - 1]))
    async with db.session() as s:
        await s.execute(update(WebhookDelivery).where(WebhookDelivery.id == msg_id).values(**values))
        await s.commit()
    if error:
        log.info("webhook %s to %s: attempt %d failed (%s)", msg_id, url, attempts, error)
    return 1

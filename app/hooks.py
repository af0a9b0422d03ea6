"""Provider webhooks: `POST /hooks/{provider}/{take}` (app/web/hooks.py), on when PUBLIC_URL is set.

A webhook never moves a take by itself. It is checked, deduplicated, and then it pulls the
take's next poll forward (`Take.hook_seen_at` + the queue's `wake`): that poll fetches the job
from the provider, and only what the provider answers there moves the take, through the same
state machine as always (app/jobs/generate.py). So a forged, replayed, stale or early webhook
can at worst cost one status call, and polling stays as a slow reconcile (HOOK_RECONCILE_S,
5 minutes) for takes whose webhooks never come.

How each provider's delivery is checked (docs/providers/webhooks.md has the sources):
- every URL carries a per-take token, an HMAC of the take id under SECRET_KEY, so nobody who
  does not know the URL can nudge a take (this is all Kling, Luma, MiniMax and Ark offer: they
  sign nothing);
- Replicate: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`, HMAC-
  SHA256 with the account's whsec_ secret, timestamps within 5 minutes), via `standardwebhooks`;
- fal: ED25519 over "{request id}\\n{user id}\\n{timestamp}\\n{sha256 hex of the body}" with
  one of the keys fal publishes as JWKS, timestamps within 5 minutes (PyNaCl).
A delivery is recorded under its id (Replicate's webhook-id; fal's request id and body; a
digest of the body for the others), so a replay is answered "duplicate" and does nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InputError, NotFound, Unauthorized
from app.models import TERMINAL_STATES, ProviderHook, Take, utcnow
from app.settings import Settings

HOOK_PROVIDERS = ("fal", "replicate", "luma", "kling", "minimax", "ark")
TOLERANCE_S = 300
_KEYS_TTL_S = 3600
_cache: dict[str, tuple[float, Any]] = {}


@dataclass(frozen=True)
class HookResult:
    status: str                    # accepted | duplicate | ignored | challenge
    detail: str
    challenge: str | None = None


def hooks_enabled(settings: Settings) -> bool:
    return bool(settings.public_url)


def hook_token(settings: Settings, take_id: str) -> str:
    key = settings.resolved_secret().encode()
    return hmac.new(key, f"provider-hook:{take_id}".encode(), hashlib.sha256).hexdigest()[:32]


def hook_url(settings: Settings, provider: str, take_id: str) -> str | None:
    """The URL a create call sends for this take, or None (no PUBLIC_URL, or no webhooks there)."""
    if not hooks_enabled(settings) or provider not in HOOK_PROVIDERS:
        return None
    return f"{settings.public_url}/hooks/{provider}/{take_id}?token={hook_token(settings, take_id)}"


async def _cached(name: str, fetch) -> Any:
    hit = _cache.get(name)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    value = await fetch()
    _cache[name] = (time.monotonic() + _KEYS_TTL_S, value)
    return value


async def _replicate_secret(settings: Settings) -> str:
    if settings.replicate_webhook_secret:
        return settings.replicate_webhook_secret

    async def fetch() -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(f"{settings.replicate_base_url}/v1/webhooks/default/secret",
                                 headers={"Authorization": f"Bearer {settings.replicate_api_token}"})
        r.raise_for_status()
        return r.json()["key"]

    return await _cached(f"replicate:{settings.replicate_base_url}", fetch)


async def _fal_keys(settings: Settings) -> list[bytes]:
    async def fetch() -> list[bytes]:
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.get(settings.fal_jwks_url)
        r.raise_for_status()
        return [base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4))
                for k in r.json().get("keys", []) if k.get("crv") == "Ed25519" and k.get("x")]

    return await _cached(f"fal:{settings.fal_jwks_url}", fetch)


async def _verify_replicate(settings: Settings, headers: Mapping[str, str], body: bytes) -> str:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    try:
        secret = await _replicate_secret(settings)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise Unauthorized(f"cannot check the webhook: Replicate's signing secret is unavailable ({exc})") from None
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError, UnicodeDecodeError) as exc:
        raise Unauthorized(f"webhook signature refused: {exc}") from None
    return headers["webhook-id"]


async def _verify_fal(settings: Settings, headers: Mapping[str, str], body: bytes) -> str:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    names = ("x-fal-webhook-request-id", "x-fal-webhook-user-id", "x-fal-webhook-timestamp", "x-fal-webhook-signature")
    request_id, user_id, stamp, signature = (headers.get(n) for n in names)
    if not all((request_id, user_id, stamp, signature)):
        raise Unauthorized("webhook signature refused: fal's X-Fal-Webhook-* headers are missing")
    try:
        if abs(time.time() - int(stamp)) > TOLERANCE_S:
            raise Unauthorized("webhook signature refused: its timestamp is more than 5 minutes off")
        sig = bytes.fromhex(signature)
    except ValueError:
        raise Unauthorized("webhook signature refused: malformed timestamp or signature") from None
    message = f"{request_id}\n{user_id}\n{stamp}\n{hashlib.sha256(body).hexdigest()}".encode()
    try:
        keys = await _fal_keys(settings)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise Unauthorized(f"cannot check the webhook: fal's public keys are unavailable ({exc})") from None
    for key in keys:
        try:
            VerifyKey(key).verify(message, sig)
            return f"{request_id}:{hashlib.sha256(body).hexdigest()[:32]}"
        except (BadSignatureError, ValueError):
            continue
    raise Unauthorized("webhook signature refused: no fal key matches")


async def verify(settings: Settings, provider: str, headers: Mapping[str, str], body: bytes) -> str:
    """The delivery's id once its signature holds (providers that sign), or a digest of it."""
    if provider == "replicate":
        return await _verify_replicate(settings, headers, body)
    if provider == "fal":
        return await _verify_fal(settings, headers, body)
    return hashlib.sha256(body).hexdigest()


def remote_id_of(provider: str, payload: dict[str, Any]) -> str | None:
    """Which remote job a delivery speaks of, in each provider's callback body."""
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    value = {"fal": payload.get("request_id"), "kling": payload.get("task_id") or data.get("task_id"),
             "minimax": payload.get("task_id")}.get(provider, payload.get("id"))
    return str(value) if value is not None else None


async def _check_take(session: AsyncSession, settings: Settings, provider: str, take_id: str,
                      token: str | None) -> Take:
    if provider not in HOOK_PROVIDERS:
        raise NotFound(f"no webhooks for provider {provider!r}; they exist for {', '.join(HOOK_PROVIDERS)}")
    if not hooks_enabled(settings):
        raise NotFound("provider webhooks are off: set PUBLIC_URL to turn them on")
    if not token or not hmac.compare_digest(token, hook_token(settings, take_id)):
        raise Unauthorized("webhook refused: the token in its URL is wrong or missing")
    take = await session.get(Take, take_id)
    if take is None or take.provider != provider:
        raise NotFound("no such take")
    return take


async def receive_hook(session: AsyncSession, settings: Settings, provider: str, take_id: str, token: str | None,
                       headers: Mapping[str, str], body: bytes) -> HookResult:
    """Check one delivery and, when it is new and about the take's live job, mark the take so
    its next poll runs now (the caller wakes the queue on "accepted")."""
    take = await _check_take(session, settings, provider, take_id, token)
    delivery_id = await verify(settings, provider, headers, body)
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise InputError("the webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise InputError("the webhook body is not a JSON object")
    if provider == "minimax" and isinstance(payload.get("challenge"), str):
        return HookResult("challenge", "MiniMax's verification request, answered", payload["challenge"])
    remote = remote_id_of(provider, payload)
    if take.remote_id is None or remote != take.remote_id:
        return HookResult("ignored", "the webhook is not about this take's current job")
    status = take.status
    session.add(ProviderHook(provider=provider, delivery_id=delivery_id[:200], take_id=take.id))
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return HookResult("duplicate", "this delivery was received before")
    if status in TERMINAL_STATES:   # late: kept (so its replays are duplicates), but nothing to do
        await session.commit()
        return HookResult("ignored", f"the take is already {status}")
    await session.execute(update(Take).where(Take.id == take.id, Take.status.not_in(TERMINAL_STATES))
                          .values(hook_seen_at=utcnow()))
    await session.commit()
    return HookResult("accepted", "the take's status will be checked with the provider now")

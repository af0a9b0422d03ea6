"""The JSON API's shapes for boards, their members and invites (see app/web/schemas.py for
the rules every shape follows). Apart from schemas.py so each module stays small."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.webhooks import EVENTS as WEBHOOK_EVENTS, MAX_EVENTS, URL_PATTERN
from app.boards import CRITERIA
from app.invites import DEFAULT_HOURS, MAX_HOURS
from app.web.inputs import BUDGET, CRITERIA_LIST, SLUG, RequestIn, filled
from app.web.schemas import Role, Visibility

class BoardIn(RequestIn):
    name: str = Field(description="Display name (1–200 characters).", json_schema_extra=filled(200))
    slug: str | None = Field(None, json_schema_extra={"pattern": SLUG}, description=(
        "URL name; default: made from the name. Once accounts exist a random tail is added, so private boards' "
        "URLs cannot be guessed."))
    description: str = ""
    blind: bool = Field(True, description="Blind voting: takes shown as A, B, C … in a per-voter shuffled "
                                          "order, names revealed after the vote. False: open (named) voting.")
    criteria: list[str] = Field(["overall"], description=f"What the board asks about; known: {', '.join(CRITERIA)}.",
                                json_schema_extra=CRITERIA_LIST)
    visibility: Visibility = Field(
        "private", description="private: members only; link: anyone with the share link can view and vote; "
                               "public: listed, anyone can view and vote")
    budget_usd: float | None = Field(None, description="Spending cap: a comparison that would exceed it is refused.",
                                     json_schema_extra=BUDGET)


class BoardPatch(RequestIn):
    name: str | None = Field(None, json_schema_extra=filled(200))
    description: str | None = None
    blind: bool | None = None
    criteria: list[str] | None = Field(None, json_schema_extra=CRITERIA_LIST)
    visibility: Visibility | None = None
    budget_usd: float | None = Field(None, description="null (or leave it out) keeps the budget; 0 or more sets it",
                                     json_schema_extra=BUDGET)
    clear_budget: bool = Field(False, description="true removes the budget")
    archived: bool | None = Field(None, description="true archives (read-only), false restores")
    new_share_link: bool = Field(False, description="true replaces the share link (the old one stops working)")


class BoardOut(BaseModel):
    id: str
    slug: str
    name: str
    description: str | None = None
    visibility: Visibility
    blind: bool
    criteria: list[str]
    archived: bool
    budget_usd: float | None = None
    created_at: str
    role: Role | None = Field(None, description="Your role on the board.")
    personal: bool = Field(description="A user's own “My comparisons” board.")
    share_url: str | None = Field(None, description="Owners of a link board: the share link.")
    spent_usd: float | None = None


class MemberOut(BaseModel):
    user_id: str
    email: str | None = None
    name: str | None = None
    role: Role


class RoleIn(RequestIn):
    role: Role


class InviteIn(RequestIn):
    role: Role = "voter"
    expires_in_hours: float = Field(DEFAULT_HOURS, description=f"1 to {MAX_HOURS} hours",
                                    json_schema_extra={"minimum": 1, "maximum": MAX_HOURS})


class InviteOut(BaseModel):
    id: str
    role: Role
    created_at: str
    expires_at: str
    revoked: bool
    uses: int
    url: str | None = Field(None, description="The invite link (null for invites made before links could be "
                                              "listed: those were shown once, when made).")


class JoinedOut(BaseModel):
    board: str = Field(description="The slug of the board joined.")
    role: Role




class ObserverIn(RequestIn):
    observer: bool = Field(description="True: watch this board as an observer (owners and editors): names, results "
                                       "and comments at once, your votes stored as not blind. False: judge blind.")


class ObserverOut(BaseModel):
    board: str
    observer: bool


class WebhookIn(RequestIn):
    url: str = Field(description="Where events are POSTed (http or https).",
                     json_schema_extra={"maxLength": 2000, "pattern": URL_PATTERN})
    events: list[str] = Field(description="Which events: take.ready, take.failed, comparison.complete, vote.cast.",
                              json_schema_extra={"minItems": 1, "maxItems": MAX_EVENTS,
                                                 "items": {"type": "string", "enum": list(WEBHOOK_EVENTS)}})


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    secret: str = Field(description="The Standard Webhooks signing secret (whsec_…) to verify deliveries with.")
    active: bool
    created_at: str


class WebhookDeliveryOut(BaseModel):
    id: str = Field(description="The delivery's `webhook-id`, the same on every retry.")
    endpoint_url: str
    event: str
    status: str = Field(description="pending (being retried), delivered or failed (retries used up)")
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None

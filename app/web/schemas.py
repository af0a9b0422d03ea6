"""The JSON API's declared shapes: request bodies (`…In`) and response bodies (`…Out`).

Every JSON route names its response model, so /openapi.json (and /docs) describe every body,
errors included (`ErrorOut`, listed per route with `errors(…)`). Routes return plain dicts
built by app.web.views and friends and are declared with `response_model_exclude_unset`, so a
body has exactly the keys its builder chose: a blind take leaves out what would give its model
away instead of sending it as null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.boards import CRITERIA
from app.comments import MAX_CHARS
from app.web.inputs import IDS, RequestIn, filled

Role = Literal["viewer", "voter", "editor", "owner"]
Visibility = Literal["private", "link", "public"]


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in a sentence; nothing was written.")
    errors: list[str] = Field(description="Every problem found (the first is `detail`).")


ERROR_TEXT = {400: "Bad request", 401: "Sign in first, or the API token is unknown", 402: "Over the board's budget",
              403: "Your role does not allow it (or the CSRF token is missing)",
              404: "No such thing (or one you may not see)", 405: "Not a method this path serves (see Allow)",
              409: "Not in a state that allows it", 410: "No longer valid", 422: "Bad input",
              413: "The request body is over the limit", 429: "Too many requests (see Retry-After)"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error body for each 4xx status it answers (422 always)."""
    return {s: {"model": ErrorOut, "description": ERROR_TEXT[s]} for s in sorted({*statuses, 422})}


# ---- the cost estimate ------------------------------------------------------------------------

class EstimateOut(BaseModel):
    cost_usd: float | None = Field(description="Estimated cost in US dollars (null: a model has no known price).")
    duration_s: float | None = None
    durations: dict[str, float] = {}
    resolution: str | None = None
    problems: list[str] = Field([], description="What a chosen model would refuse of this request (the catalog's rules): "
                                         "the form shows no price while there are any.")


# ---- comparisons and takes --------------------------------------------------------------------

class ComparisonIn(RequestIn):
    prompt: str = Field(description="What to generate (1–4000 characters).", json_schema_extra=filled(4000))
    models: list[str] = Field(description="Catalog model ids, e.g. demo/aurora (GET /api/models).",
                              json_schema_extra={"minItems": 1, "maxItems": 6, "uniqueItems": True})
    duration_s: float | None = Field(None, description="Seconds; default: one every chosen model accepts.",
                                     json_schema_extra={"exclusiveMinimum": 0, "maximum": 60})
    durations: dict[str, float] = Field(default_factory=dict, description=(
        "Per-model seconds, for models that share no duration, e.g. {\"google/veo-3.1\": 8}; "
        "the other models get duration_s."))
    aspect_ratio: str | None = Field(None, examples=["16:9"])
    resolution: str | None = Field(None, examples=["720p"])
    board: str | None = Field(None, description="Board slug; default: the default board.")
    seed: int | None = None
    negative_prompt: str | None = None
    audio: bool = False
    image: str | None = Field(None, description="Source image for image-to-video, as a base64 data URL.")
    reference_video: str | None = Field(None, description=(
        "Reference video for motion-control models (Kling v3 Motion Control), as a base64 data URL: MP4, MOV or WebM."))
    rewrite_prompt: bool = Field(False, description=(
        "Let providers rewrite the prompt (MiniMax prompt_optimizer, fal Veo auto_fix, fal Wan "
        "enable_prompt_expansion). Off by default, so every model gets the same words."))


class TakeError(BaseModel):
    code: str | None = None
    message: str | None = None


class AudioChecksOut(BaseModel):
    loudness_lufs: float | None = Field(None, description="EBU R128 integrated loudness (null: too quiet to gate).")
    peak_dbfs: float | None = None
    silent_fraction: float = Field(description="Share of 100 ms windows below −60 dBFS.")
    silent: bool


class TakeChecksOut(BaseModel):
    """The take checks (app/take_checks.py), computed on CPU after download."""

    analysed_frames: int
    black_fraction: float
    black_stretches: list[list[float]] = Field(description="[start, end] seconds of black of at least 0.5 s.")
    frozen_fraction: float
    frozen_stretches: list[list[float]] = Field(description="[start, end] seconds of a still picture of at least 0.5 s.")
    hard_cuts: list[float] = Field(description="Seconds at which the picture cuts hard.")
    mean_motion: float = Field(description="Mean |Δluma| per frame, 0–255, over 160-px frames.")
    flicker: float = Field(description="Mean frame-to-frame brightness wobble, luma levels.")
    sharpness: float | None = Field(None, description="Variance of the Laplacian of the keyframes at 360 rows.")
    audio: AudioChecksOut | None = None
    flags: list[str] = Field(description='What a reviewer should look at, e.g. "mostly black (100%)".')
    version: int
    cpu_s: float


class TakeOut(BaseModel):
    """A take. On a blind board its voter has not voted on yet: no model, timings, costs or
    provider messages, and no media until every take has finished."""

    id: str
    label: str | None = Field(None, description="A, B, C … in this viewer's screen order (blind boards).")
    model: str | None = None
    model_name: str | None = None
    attempt: int | None = None
    status: str = Field(description="queued … ready | failed | cancelled; while blind: generating | finished.")
    progress: float | None = None
    video_url: str | None = None
    original_url: str | None = None
    poster_url: str | None = None
    duration_s: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    has_audio: bool | None = None
    error: TakeError | None = None
    cost_estimate_usd: float | None = None
    cost_usd: float | None = None
    accepted: bool | None = None
    created_at: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None
    generation_s: float | None = None
    as_asked: bool | None = Field(None, description=(
        "Delivered as asked (duration, resolution, aspect ratio, frame rate, audio), checked after "
        "download; null until checked, and while a blind board is not revealed."))
    delivery_notes: list[str] = Field([], description='What differs from the request, e.g. "delivered 960×540 for 1080p".')
    rewritten_prompt: str | None = Field(None, description="The prompt the provider says it used, where it rewrote ours.")
    actual_cost_usd: float | None = Field(None, description=(
        "What the provider reported the take cost (Runway credits, Ark tokens, Replicate predict time), in US dollars."))
    cost_usage: dict[str, Any] | None = Field(None, description="The usage the actual cost was computed from.")
    checks: TakeChecksOut | None = Field(None, description="Take checks; null until computed, and while a blind board is not revealed.")
    checks_flagged: bool | None = Field(None, description="Mostly black or frozen: flagged for the reviewer.")


class ComparisonOut(BaseModel):
    id: str
    board: str
    prompt: str
    params: dict[str, Any]
    source_image_url: str | None = None
    reference_video_url: str | None = Field(None, description="The reference video a motion-control model follows.")
    created_at: str
    cost_estimate_usd: float | None = None
    blind: bool
    revealed: bool
    takes: list[TakeOut]


class RerollIn(RequestIn):
    model: str = Field(description="The model to generate another take of (one already in the comparison).")


# ---- votes and review -------------------------------------------------------------------------

class VoteIn(RequestIn):
    kind: Literal["pair", "best", "ranking"] = "pair"
    criterion: str = Field("overall", json_schema_extra={"enum": list(CRITERIA)})
    take_a: str | None = None
    take_b: str | None = None
    outcome: Literal["a", "b", "tie", "bothbad"] | None = Field(None, description="pair votes: a, b, tie, bothbad")
    best: str | None = Field(None, description="best-of-N: the chosen take id")
    takes: list[str] | None = Field(None, description="best-of-N: the takes shown (default all ready)", json_schema_extra=IDS)
    ranking: list[str] | None = Field(None, description="ranking: take ids, best first", json_schema_extra=IDS)
    pick: str | None = Field(None, max_length=24, description="The pick id `GET /api/boards/{slug}/next` gave; "
                             "without it the latest pick of this comparison you were given applies.")


class VotePairOut(BaseModel):
    vote_id: str
    take_a: str
    take_b: str
    model_a: str
    model_b: str
    winner: str
    position_a: int | None = None
    position_b: int | None = None
    sampled_by: str | None = Field(None, description="How the pair came to be shown: active, uniform (a `next` "
                                   "pick), manual, same_ballot (another pair of a ballot answering a pick).")
    sample_probability: float | None = Field(None, description="The pick's probability under the mixed policy.")


class BallotOut(BaseModel):
    ballot_id: str
    pairs: list[VotePairOut] = Field(description="The ballot as pairwise outcomes (what the leaderboard counts).")


class NextOut(BaseModel):
    comparison: str | None = Field(description="The next comparison's id; null when every one is voted on.")
    pick: str | None = Field(None, description="The pick's id (a vote may name it); null when the comparison "
                             "was offered without a pick (its takes are still being made).")
    takes: list[str] | None = Field(None, description="The two takes to compare (take ids), when picked.")
    sampled_by: str | None = Field(None, description="active (the pair that most reduces the uncertainty about "
                                   "the top models) or uniform (the fixed random share).")
    probability: float | None = Field(None, description="The chance of this exact comparison and pair under the "
                                      "mixed policy (for inverse-propensity weighting).")


# ---- comments ---------------------------------------------------------------------------------

class CommentIn(RequestIn):
    take: str = Field(description="The take the comment is about (its id).")
    time_s: float = Field(description="Time code in seconds from the start of the take.",
                          json_schema_extra={"minimum": 0})
    body: str = Field(description=f"The comment (1–{MAX_CHARS} characters; plain text).",
                      json_schema_extra=filled(MAX_CHARS))


class CommentOut(BaseModel):
    id: str
    take: str
    time_s: float
    body: str
    author: str | None = None
    mine: bool
    created_at: str


class CommentsOut(BaseModel):
    comments: list[CommentOut]
    hidden_until_you_vote: int = Field(description="Others' comments kept back on a blind board until you vote.")


# ---- accounts ---------------------------------------------------------------------------------

class UserOut(BaseModel):
    id: str
    email: str
    name: str | None = None
    admin: bool


class MeOut(BaseModel):
    user: UserOut | None = None
    voter: str | None = None
    open_mode: bool
    via_token: bool
    csrf_token: str | None = None


class NameIn(RequestIn):
    name: str = Field(description="Shown with your votes and comments (0–80 characters; empty: no name).",
                      json_schema_extra={"maxLength": 80})


class NameOut(BaseModel):
    name: str | None = None


class SelectionIn(RequestIn):
    name: str = Field(description="What to call it (\"my usual four\"); saving a name again replaces it.",
                      json_schema_extra=filled(40))
    models: list[str] = Field(description="Catalog model ids, 1–6.", max_length=6)


class SelectionOut(BaseModel):
    id: str
    name: str
    models: list[str]


class TokenIn(RequestIn):
    name: str = Field(description="What the token is for (shown in your token list).",
                      json_schema_extra=filled(80))


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None = None
    token: str | None = Field(None, description="The secret: in the response that made it, and only there.")


class HookOut(BaseModel):
    """The answer to a provider's webhook (app/web/hooks.py)."""

    status: str                    # accepted | duplicate | ignored | challenge
    detail: str
    challenge: str | None = None   # MiniMax's verification request, echoed back

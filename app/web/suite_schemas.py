"""The JSON API's shapes for suites and tags (the rules every shape follows are in
app/web/schemas.py). Apart from schemas.py so each module stays small."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.suite_input import MAX_SUITE_PROMPTS
from app.suites import MAX_SEEDS
from app.tags import MAX_TAGS
from app.web.inputs import RequestIn, filled


class SuitePromptParamsIn(RequestIn):
    duration_s: float | None = Field(None, json_schema_extra={"exclusiveMinimum": 0, "maximum": 60})
    aspect_ratio: str | None = None
    resolution: str | None = None
    seed: int | None = Field(None, description="This prompt's first seed (its other seeds follow: seed+1, …).")
    audio: bool | None = None
    rewrite_prompt: bool | None = None


class SuitePromptIn(RequestIn):
    prompt: str = Field(description="What to generate (1–4000 characters).", json_schema_extra=filled(4000))
    tags: list[str] = Field(default_factory=list, description="Kinds of shot, e.g. [\"character walk\"].",
                            json_schema_extra={"maxItems": MAX_TAGS})
    negative_prompt: str | None = None
    image: str | None = Field(None, description="Source image for image-to-video, as a base64 data URL.")
    params: SuitePromptParamsIn | None = None


class SuiteIn(RequestIn):
    name: str = Field(description="The suite's name (1–200 characters).", json_schema_extra=filled(200))
    board: str | None = Field(None, description="Board slug; default: your own board.")
    models: list[str] = Field(description="Catalog model ids: one take of each per comparison.",
                              json_schema_extra={"minItems": 1, "maxItems": 6, "uniqueItems": True})
    seeds: int = Field(1, description=f"Comparisons per prompt, one per seed (1–{MAX_SEEDS}).",
                       json_schema_extra={"minimum": 1, "maximum": MAX_SEEDS})
    duration_s: float | None = Field(None, json_schema_extra={"exclusiveMinimum": 0, "maximum": 60})
    aspect_ratio: str | None = None
    resolution: str | None = None
    audio: bool = False
    prompts: list[SuitePromptIn] = Field(default_factory=list, json_schema_extra={"maxItems": MAX_SUITE_PROMPTS},
                                         description="The shot list; or name a `bundled` suite instead.")
    bundled: str | None = Field(None, description="A bundled suite's id (GET /api/suites/bundled) as the prompts.")


class SuiteCountsOut(BaseModel):
    queued: int
    running: int
    ready: int
    failed: int
    cancelled: int
    paused: int = Field(description="Of the queued takes, those held while the suite is paused.")
    total: int


class SuiteOut(BaseModel):
    id: str
    name: str
    board: str
    status: str = Field(description="running | paused | cancelled | done")
    seeds: int
    models: list[str]
    prompts: int
    comparisons: list[str]
    tags: list[str]
    takes: SuiteCountsOut
    cost_so_far_usd: float = Field(description="Estimated cost of the takes that reached a provider.")
    cost_estimate_usd: float | None = Field(None, description="The whole run (null: a model has no known price).")
    eta_s: float | None = Field(None, description="Rough seconds left (null: not known yet, or not running).")
    created_at: datetime


class PreviewRowOut(BaseModel):
    line: str
    prompt: str
    tags: list[str]
    seeds: list[int]
    cost_usd: float | None = None


class SuitePreviewOut(BaseModel):
    name: str
    board: str
    models: list[str]
    prompts: int
    comparisons: int
    takes: int
    cost_usd: float | None = None
    budget_usd: float | None = None
    spent_usd: float
    left_usd: float | None = None
    fits_budget: bool | None = None
    tags: list[str]
    rows: list[PreviewRowOut]


class BundledSuiteOut(BaseModel):
    id: str
    name: str
    description: str
    prompts: int
    tags: list[str]
    source: str
    licence: str


class BundledListOut(BaseModel):
    suites: list[BundledSuiteOut]


class TagsIn(RequestIn):
    tags: list[str] = Field(description="The comparison's tags (replacing the ones it has).",
                            json_schema_extra={"maxItems": MAX_TAGS})


class TagsOut(BaseModel):
    comparison: str
    tags: list[str]

"""Actual cost: what a take cost by the provider's own account of what the job used, beside the
catalog's estimate (price per second × clip length).

Where a provider reports usage with the finished job, the take stores both the usage
(`Take.cost_usage`) and its price in dollars (`Take.actual_cost_usd`); budgets (app/budget.py)
and the comparison table (app/leaderboard.py) then count the actual cost, else the estimate.

- Runway: the task's `cost.credits`; an API credit is $0.01 (app/catalog/runway.toml's header),
  or the entry's `options.usd_per_credit`.
- ModelArk (Seedance): the task's `usage.total_tokens` (tokens = width × height × fps × seconds
  / 1024). The catalog's per-second prices are converted from a per-token rate at 720p 16:9,
  21,600 tokens a second (app/catalog/ark.toml's header), so the rate per token is the entry's
  price per second ÷ 21,600 (its audio price when audio was asked), or `options.usd_per_mtoken`.
- Replicate: `metrics.predict_time`, billed only for models Replicate bills by hardware time
  (`options.billing = "time"` with `options.usd_per_predict_second`); models billed per output
  second (every Replicate entry in the catalog today) keep their estimate, since their time is
  not what they charge for.
"""

from __future__ import annotations

from typing import Any

from app.catalog import ModelSpec

USD_PER_RUNWAY_CREDIT = 0.01
ARK_TOKENS_PER_SECOND_720P = 1280 * 720 * 24 / 1024     # 21,600


def _number(usage: dict[str, Any], key: str) -> float | None:
    value = usage.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def _ark_rate(spec: ModelSpec, audio: bool) -> float | None:
    """USD per token of an Ark entry."""
    if "usd_per_mtoken" in spec.options:
        return float(spec.options["usd_per_mtoken"]) / 1e6
    per_s = spec.price_per_second_audio if (audio and spec.price_per_second_audio) else spec.price_per_second
    return per_s / ARK_TOKENS_PER_SECOND_720P if per_s else None


def actual_cost(spec: ModelSpec, usage: dict[str, Any] | None, *, audio: bool = False) -> float | None:
    """USD the provider's reported `usage` comes to for this model; None where it reported
    nothing we can price."""
    if not usage:
        return None
    if spec.provider == "runway" and (credits := _number(usage, "credits")) is not None:
        return round(credits * float(spec.options.get("usd_per_credit", USD_PER_RUNWAY_CREDIT)), 4)
    if spec.provider == "ark" and (tokens := _number(usage, "total_tokens")) is not None:
        rate = _ark_rate(spec, audio)
        return None if rate is None else round(tokens * rate, 4)
    if spec.options.get("billing") == "time" and (seconds := _number(usage, "predict_time")) is not None:
        rate = spec.options.get("usd_per_predict_second")
        return None if rate is None else round(seconds * float(rate), 4)
    return None


def take_fields(spec: ModelSpec, usage: dict[str, Any] | None, *, audio: bool = False) -> dict[str, Any]:
    """The Take columns: the usage as reported and the actual cost (None where not priced)."""
    return {"cost_usage": dict(usage) if usage else None, "actual_cost_usd": actual_cost(spec, usage, audio=audio)}

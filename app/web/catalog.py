"""The model catalog: the /models page and GET /api/models, one row builder for both."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from app.catalog import ModelSpec
from app.catalog.picker import PickerData, picker_for
from app.web.services import Services, ServicesDep

router = APIRouter()


# ---- JSON shape ------------------------------------------------------------------------------

class ModelOut(BaseModel):
    id: str
    name: str
    provider: str
    family: str = ""
    status: str = Field(description="live | unverified (the id or route is not confirmed: may answer 404) | retired")
    available: bool = Field(description="Its provider's keys are set and it is not retired (an unverified model can be available).")
    missing_settings: list[str]
    modes: list[str]
    durations: list[float]
    duration_range: list[float] | None = None
    aspect_ratios: list[str]
    resolutions: list[str]
    audio: str = Field(description="none | optional | always")
    negative_prompt: bool | None = None
    seed: bool | None = None
    price_per_second: float | None = None
    price_per_second_audio: float | None = None
    price_per_second_by_resolution: dict[str, float] = {}
    price_source: str | None = None
    price_date: str | None = None
    price_unverified: bool = False
    retired_on: str | None = None
    retired_reason: str | None = None
    latency_s: float | None = None


@dataclass(frozen=True)
class CatalogView:
    """What the catalog pages and GET /api/models show, prepared once per catalog and set of
    provider keys, not on every request: the rows, and the JSON answer's bytes."""

    rows: list[dict]
    json: bytes
    specs: tuple = ()     # held, so the ids in the key stay theirs


_VIEWS: OrderedDict[tuple, CatalogView] = OrderedDict()


def catalog_view(svc: Services) -> CatalogView:
    """The prepared view of this catalog; made again when the catalog object is another one
    (a reload) or a provider's keys changed (which providers are available is part of it)."""
    specs = tuple(svc.catalog)   # entries replaced in place (a test, a reload) make another key
    names = sorted({m.provider for m in specs})
    key = (id(svc.catalog), id(svc.providers), tuple(map(id, specs)),
           tuple(svc.providers.available(n) for n in names))
    view = _VIEWS.get(key)
    if view is None:
        rows = _rows(svc)
        body = json.dumps(jsonable_encoder([ModelOut(**model_json(r)).model_dump() for r in rows]),
                          ensure_ascii=False, separators=(",", ":")).encode()
        view = _VIEWS[key] = CatalogView(rows, body, specs)
        while len(_VIEWS) > 8:
            _VIEWS.popitem(last=False)
    return view


def catalog_rows(svc: Services) -> list[dict]:
    """Every catalog model with whether it can be used here (its adapter's settings are set)."""
    return catalog_view(svc).rows


def _rows(svc: Services) -> list[dict]:
    rows = []
    for m in svc.catalog:
        p = svc.providers.get(m.provider)
        rows.append({"spec": m, "available": bool(m.selectable and p and p.available()),
                     "missing": p.missing_keys() if p else [], "adapter": p})
    return rows


def picker_data(svc: Services, aspect_order: tuple[str, ...], resolution_order: tuple[str, ...]) -> PickerData:
    """The new-comparison picker for this app's catalog and keys, built once (app/catalog/picker.py)."""
    def availability(m: ModelSpec) -> tuple[bool, list[str]]:
        p = svc.providers.get(m.provider)
        return bool(m.selectable and p and p.available()), (p.missing_keys() if p else [])

    return picker_for(svc.catalog, svc.providers, availability,
                      {"aspect_order": aspect_order, "resolution_order": resolution_order})


def model_json(row: dict) -> dict:
    m = row["spec"]
    return {
        "id": m.id, "name": m.name, "provider": m.provider, "family": m.family, "status": m.status,
        "available": row["available"], "missing_settings": row["missing"], "modes": list(m.modes),
        "durations": list(m.durations), "duration_range": list(m.duration_range) if m.duration_range else None,
        "aspect_ratios": list(m.aspect_ratios), "resolutions": list(m.resolutions), "audio": m.audio,
        "negative_prompt": m.negative_prompt, "seed": m.seed, "price_per_second": m.price_per_second,
        "price_per_second_audio": m.price_per_second_audio,
        "price_per_second_by_resolution": dict(m.price_per_second_by_resolution), "price_source": m.price_source,
        "price_date": m.price_date, "price_unverified": m.price_unverified, "retired_on": m.retired_on or None, "retired_reason": m.retired_reason or None,
        "latency_s": m.latency_s,
    }


@router.get("/models", response_class=HTMLResponse, include_in_schema=False)
async def models_page(request: Request, svc: ServicesDep):
    by_provider: dict[str, list[dict]] = {}
    for r in catalog_rows(svc):
        by_provider.setdefault(r["spec"].provider, []).append(r)
    return svc.render(request, "models.html", {"by_provider": by_provider})


@router.get("/api/models", tags=["models"], summary="The model catalog with availability",
            response_model=list[ModelOut])
async def api_models(svc: ServicesDep) -> Response:
    return Response(catalog_view(svc).json, media_type="application/json")

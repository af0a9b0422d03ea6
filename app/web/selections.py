"""Saved selections of the new-comparison form ("my usual four") for a signed-in user. The page
side is the form itself: static/picker.js calls these routes (as the form's estimate calls
/api/estimate); logic in app.selections."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app import selections
from app.web.identity import ActorDep, require_user
from app.web.schemas import SelectionIn, SelectionOut, errors
from app.web.services import ServicesDep, SessionDep

router = APIRouter()


def selection_json(row) -> dict:
    return {"id": row.id, "name": row.name, "models": list(row.models)}


@router.get("/api/selections", tags=["selections"], summary="Your saved selections of models",
            response_model=list[SelectionOut], responses=errors(401))
async def api_selections(request: Request, s: SessionDep, actor: ActorDep) -> list[dict]:
    return [selection_json(x) for x in await selections.list_selections(s, require_user(request))]


@router.post("/api/selections", tags=["selections"], status_code=201, response_model=SelectionOut,
             summary="Save a selection of models under a name (the same name replaces it)", responses=errors(401, 422))
async def api_save_selection(body: SelectionIn, request: Request, svc: ServicesDep, s: SessionDep,
                             actor: ActorDep) -> dict:
    row = await selections.save_selection(s, require_user(request), body.name, body.models, svc.catalog)
    return selection_json(row)


@router.delete("/api/selections/{selection_id}", tags=["selections"], status_code=204,
               summary="Forget a saved selection", responses=errors(401, 404))
async def api_delete_selection(selection_id: str, request: Request, s: SessionDep, actor: ActorDep) -> None:
    await selections.delete_selection(s, require_user(request), selection_id)

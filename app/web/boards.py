"""Board routes: create a board and change its settings (blind or open voting, criteria), as
pages and as JSON. The logic lives in app.boards."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.boards import CRITERIA, board_by_slug, create_board, update_board, visible_boards
from app.models import Board
from app.web.deps import session

router = APIRouter()


def board_json(b: Board) -> dict:
    return {"id": b.id, "slug": b.slug, "name": b.name, "description": b.description, "visibility": b.visibility,
            "blind": b.blind, "criteria": list(b.criteria or ["overall"]), "archived": b.archived_at is not None,
            "created_at": b.created_at.isoformat()}


class BoardIn(BaseModel):
    name: str = Field(description="Display name (1–200 characters).")
    slug: str | None = Field(None, description="URL name; default: made from the name.")
    description: str = ""
    blind: bool = Field(True, description="Blind voting: takes shown as A, B, C … in a per-voter shuffled "
                                          "order, names revealed after the vote. False: open (named) voting.")
    criteria: list[str] = Field(["overall"], description=f"What the board asks about; known: {', '.join(CRITERIA)}. "
                                                         "Overall is always asked.")
    visibility: str = Field("private", description="private | link | public")


class BoardPatch(BaseModel):
    name: str | None = None
    description: str | None = None
    blind: bool | None = None
    criteria: list[str] | None = None


@router.get("/api/boards", tags=["api"], summary="Boards you can see")
async def api_boards(s: AsyncSession = Depends(session)) -> list[dict]:
    return [board_json(b) for b in await visible_boards(s)]


@router.post("/api/boards", tags=["api"], status_code=201, summary="Create a board (blind by default)")
async def api_create_board(body: BoardIn, s: AsyncSession = Depends(session)) -> dict:
    return board_json(await create_board(s, **body.model_dump()))


@router.get("/api/boards/{slug}", tags=["api"], summary="A board and its settings")
async def api_board(slug: str, s: AsyncSession = Depends(session)) -> dict:
    return board_json(await board_by_slug(s, slug))


@router.patch("/api/boards/{slug}", tags=["api"], summary="Change a board's settings")
async def api_update_board(slug: str, body: BoardPatch, s: AsyncSession = Depends(session)) -> dict:
    board = await board_by_slug(s, slug)
    return board_json(await update_board(s, board, **body.model_dump()))


@router.post("/boards", include_in_schema=False)
async def create_board_form(request: Request, s: AsyncSession = Depends(session)):
    form = await request.form()
    board = await create_board(
        s, name=form.get("name", ""), slug=form.get("slug") or None, description=form.get("description", ""),
        blind=form.get("blind") == "on", criteria=form.getlist("criteria") or ["overall"])
    return RedirectResponse(f"/b/{board.slug}", status_code=303)


@router.post("/b/{slug}/settings", include_in_schema=False)
async def board_settings_form(slug: str, request: Request, s: AsyncSession = Depends(session)):
    form = await request.form()
    board = await board_by_slug(s, slug)
    await update_board(s, board, blind=form.get("blind") == "on", criteria=form.getlist("criteria") or ["overall"])
    return RedirectResponse(f"/b/{board.slug}", status_code=303)

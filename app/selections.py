"""Saved selections: a signed-in user's named sets of models for the new-comparison form.

Stored on the server so "my usual four" follows the account to any browser; an anonymous
visitor's selections stay in that browser's localStorage (static/picker.js), since there is no
account to keep them under. Saving a name again replaces its models.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import Catalog, unknown_model
from app.comparisons import MAX_MODELS
from app.errors import InputError, NotFound
from app.models import SavedSelection, User

MAX_NAME = 40
MAX_SELECTIONS = 30


async def list_selections(s: AsyncSession, user: User) -> list[SavedSelection]:
    return list((await s.execute(select(SavedSelection).where(SavedSelection.user_id == user.id)
                                 .order_by(SavedSelection.name))).scalars())


def _checked(name: str, models: list[str], catalog: Catalog) -> tuple[str, list[str]]:
    """The name and models as stored; each problem named, nothing cut."""
    errors = []
    name = (name or "").strip()
    if not name:
        errors.append("the selection needs a name")
    elif len(name) > MAX_NAME:
        errors.append(f"the selection's name is {len(name)} characters; the limit is {MAX_NAME}")
    if not models:
        errors.append("choose at least one model to save")
    if len(models) > MAX_MODELS:
        errors.append(f"a selection holds at most {MAX_MODELS} models (the grid shows up to {MAX_MODELS})")
    if len(set(models)) != len(models):
        errors.append("a model is listed twice")
    errors += [unknown_model(m) for m in models if catalog.get(m) is None]
    if errors:
        raise InputError(errors[0], errors)
    return name, list(models)


async def save_selection(s: AsyncSession, user: User, name: str, models: list[str],
                         catalog: Catalog) -> SavedSelection:
    """Make or replace (same name) one of the user's selections."""
    name, models = _checked(name, models, catalog)
    mine = await list_selections(s, user)
    row = next((x for x in mine if x.name == name), None)
    if row is None:
        if len(mine) >= MAX_SELECTIONS:
            raise InputError(f"you have {MAX_SELECTIONS} saved selections, the most kept; forget one first")
        row = SavedSelection(user_id=user.id, name=name, models=models)
        s.add(row)
    else:
        row.models = models
    await s.commit()
    return row


async def delete_selection(s: AsyncSession, user: User, selection_id: str) -> None:
    row = await s.get(SavedSelection, selection_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"no saved selection {selection_id!r}")
    await s.delete(row)
    await s.commit()
